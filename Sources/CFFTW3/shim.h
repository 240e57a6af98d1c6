#ifndef CFFTW3_SHIM_H
#define CFFTW3_SHIM_H
#include <fftw3.h>

/* FFTW flags are macros of shifted constants; exposed as functions so Swift sees them typed. */
static inline unsigned cfftw_estimate(void) { return FFTW_ESTIMATE; }
static inline unsigned cfftw_measure(void) { return FFTW_MEASURE; }
static inline unsigned cfftw_preserve_input(void) { return FFTW_PRESERVE_INPUT; }
static inline unsigned cfftw_destroy_input(void) { return FFTW_DESTROY_INPUT; }
static inline int cfftw_forward(void) { return FFTW_FORWARD; }
static inline int cfftw_backward(void) { return FFTW_BACKWARD; }
static inline const char *cfftw_version(void) { return fftw_version; }
#endif

#ifndef CTIFF_SHIM_H
#define CTIFF_SHIM_H
#include <tiffio.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* TIFFGetField/TIFFSetField are C-variadic, which Swift cannot call: typed wrappers. */
static inline int ctiff_get_u16(TIFF *t, uint32_t tag, uint16_t *v) { return TIFFGetField(t, tag, v); }
static inline int ctiff_get_u32(TIFF *t, uint32_t tag, uint32_t *v) { return TIFFGetField(t, tag, v); }
static inline int ctiff_get_float(TIFF *t, uint32_t tag, float *v) { return TIFFGetField(t, tag, v); }
static inline int ctiff_get_string(TIFF *t, uint32_t tag, const char **v) { return TIFFGetField(t, tag, v); }
static inline int ctiff_get_u16_default(TIFF *t, uint32_t tag, uint16_t *v) { return TIFFGetFieldDefaulted(t, tag, v); }
static inline int ctiff_set_u16(TIFF *t, uint32_t tag, uint16_t v) { return TIFFSetField(t, tag, (int)v); }
static inline int ctiff_set_u32(TIFF *t, uint32_t tag, uint32_t v) { return TIFFSetField(t, tag, v); }
static inline int ctiff_set_float(TIFF *t, uint32_t tag, float v) { return TIFFSetField(t, tag, (double)v); }
static inline int ctiff_set_string(TIFF *t, uint32_t tag, const char *v) { return TIFFSetField(t, tag, v); }

/* Strip offsets and byte counts of the current directory (arrays owned by libtiff). */
static inline int ctiff_get_strip_offsets(TIFF *t, uint64_t **v) { return TIFFGetField(t, TIFFTAG_STRIPOFFSETS, v); }
static inline int ctiff_get_strip_bytecounts(TIFF *t, uint64_t **v) { return TIFFGetField(t, TIFFTAG_STRIPBYTECOUNTS, v); }

/* libtiff reports problems through global handlers that print to stderr. Replace them with
   handlers that keep the last message per thread, so Swift can put it into its error. */
static inline char *ctiff_error_buffer(void) {
    static __thread char buffer[512];
    return buffer;
}
static inline void ctiff_error_handler(const char *module, const char *fmt, va_list ap) {
    char message[400];
    vsnprintf(message, sizeof message, fmt, ap);
    snprintf(ctiff_error_buffer(), 512, "%s%s%s",
             module ? module : "", module ? ": " : "", message);
}
static inline void ctiff_warning_handler(const char *module, const char *fmt, va_list ap) {
    (void)module; (void)fmt; (void)ap;
}
static inline void ctiff_install_handlers(void) {
    TIFFSetErrorHandler(ctiff_error_handler);
    TIFFSetWarningHandler(ctiff_warning_handler);
}
static inline const char *ctiff_last_error(void) { return ctiff_error_buffer(); }
static inline void ctiff_clear_error(void) { ctiff_error_buffer()[0] = 0; }
#endif

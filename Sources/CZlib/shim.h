#ifndef CZLIB_SHIM_H
#define CZLIB_SHIM_H
#include <zlib.h>
/* inflateInit is a macro: exposed as a function. */
static inline int czlib_inflate_init(z_stream *stream) { return inflateInit(stream); }
/* gzip (or zlib) streams: window bits 15 + 32 detect the header. */
static inline int czlib_inflate_init_auto(z_stream *stream) { return inflateInit2(stream, 15 + 32); }
#endif

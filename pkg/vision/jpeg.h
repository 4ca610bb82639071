#ifndef FACECTL_JPEG_H
#define FACECTL_JPEG_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
/* Decodes a JPEG at 1/denom scale into rows×cols BGR pixels at out (rows step bytes apart).
   Returns 1, or 0 when it is not a 1- or 3-component JPEG of that size or cannot be decoded. */
int facectl_jpeg_bgr(const unsigned char* data, unsigned long len, int denom, unsigned char* out,
                     int rows, int cols, size_t step);
#ifdef __cplusplus
}
#endif
#endif

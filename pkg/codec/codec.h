// codec.h: the C side of package codec. Every function reports failure by returning non-zero
// and writing a message into err (FC_ERRLEN bytes); none of them exits, prints or aborts.
#ifndef FACECTL_CODEC_H
#define FACECTL_CODEC_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FC_ERRLEN 256
#define FC_8UC1 0
#define FC_8UC3 16

// fc_mat_ensure makes the cv::Mat at mat a rows x cols continuous Mat of type, reusing its
// allocation when that is large enough and not shared, and returns its data and row step.
int fc_mat_ensure(void *mat, int rows, int cols, int type, unsigned char **data, size_t *step);

// fc_buf is an encoder's result: buf (malloc'd, the caller frees it) and len on success, or
// err (malloc'd) on failure.
typedef struct {
    unsigned char *buf;
    size_t len;
    char *err;
} fc_buf;

// The decoders return NULL on success and a malloc'd message on failure.
char *fc_jpeg_decode(const unsigned char *src, size_t n, int scale, void *mat);
char *fc_png_decode(const unsigned char *src, size_t n, void *mat);
char *fc_webp_decode(const unsigned char *src, size_t n, void *mat);

fc_buf fc_jpeg_encode(const unsigned char *pix, size_t step, int width, int height, int channels, int quality);
fc_buf fc_png_encode(const unsigned char *pix, size_t step, int width, int height, int channels, int level);

// fc_mat_pixels returns an 8-bit Mat's data, row step, size and channel count, or -1 when the
// Mat is not 2-D 8-bit.
int fc_mat_pixels(void *mat, unsigned char **data, size_t *step, int *rows, int *cols, int *channels);

// fc_errdup copies a message for the Go side, which releases it with fc_errfree. If memory is
// short it returns a static message that fc_errfree leaves alone.
char *fc_errdup(const char *msg);
void fc_errfree(char *msg);

#ifdef __cplusplus
}
#endif

#endif

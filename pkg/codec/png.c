// PNG through libpng, with the transformations OpenCV 4.6's imgcodecs applies for IMREAD_COLOR
// and the encoder settings of its PNG writer, so the pixels and bytes are the same.
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <zlib.h>

#include "codec.h"

struct reader {
    const unsigned char *data;
    size_t n, pos;
};

// fc_png_error records libpng's message and returns to the setjmp point.
static void fc_png_error(png_structp png, png_const_charp msg) {
    char *err = (char *)png_get_error_ptr(png);
    snprintf(err, FC_ERRLEN, "%s", msg);
    png_longjmp(png, 1);
}

// fc_png_warning drops warnings (libpng recovers from what they report, as with imgcodecs).
static void fc_png_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void read_mem(png_structp png, png_bytep out, png_size_t len) {
    struct reader *r = (struct reader *)png_get_io_ptr(png);
    if (len > r->n - r->pos)
        png_error(png, "PNG data is truncated");
    memcpy(out, r->data + r->pos, len);
    r->pos += len;
}

static int decode(png_structp png, png_infop info, struct reader *rd, void *mat, png_bytep **rows, char *err) {
    if (setjmp(png_jmpbuf(png)))
        return -1;
    png_set_read_fn(png, rd, read_mem);
    // facectl needs no text, colour profile, suggested palette or EXIF (like imgcodecs, it
    // ignores a PNG's orientation): skipped, a file of compressed text costs its checksums,
    // not gigabytes of inflation in png_read_info. The pixels do not depend on these chunks.
    static const png_byte skipped[] = "iCCP\0iTXt\0tEXt\0zTXt\0sPLT\0eXIf\0";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, skipped, (int)(sizeof skipped / 5));
    png_read_info(png, info);
    png_uint_32 width, height;
    int depth, color;
    png_get_IHDR(png, info, &width, &height, &depth, &color, NULL, NULL, NULL);
    // imgcodecs' PngDecoder::readData for an 8-bit 3-channel destination.
    if (depth == 16)
        png_set_strip_16(png);
    png_set_strip_alpha(png);
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if ((color & PNG_COLOR_MASK_COLOR) == 0 && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (color & PNG_COLOR_MASK_COLOR)
        png_set_bgr(png);
    else
        png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (png_size_t)width * 3) {
        snprintf(err, FC_ERRLEN, "unexpected PNG layout (%lu bytes a row for width %lu)",
                 (unsigned long)png_get_rowbytes(png, info), (unsigned long)width);
        return -1;
    }
    unsigned char *out;
    size_t step;
    if (fc_mat_ensure(mat, (int)height, (int)width, FC_8UC3, &out, &step) != 0) {
        snprintf(err, FC_ERRLEN, "cannot allocate a %lux%lu image", (unsigned long)width, (unsigned long)height);
        return -1;
    }
    *rows = malloc(sizeof(png_bytep) * height);
    if (*rows == NULL) {
        snprintf(err, FC_ERRLEN, "out of memory");
        return -1;
    }
    for (png_uint_32 y = 0; y < height; y++)
        (*rows)[y] = out + (size_t)y * step;
    png_read_image(png, *rows);
    // imgcodecs reads to IEND; facectl does not need what follows the image data, and a file
    // whose trailer is cut short still has all its pixels.
    return 0;
}

char *fc_png_decode(const unsigned char *data, size_t n, void *mat) {
    char err[FC_ERRLEN];
    err[0] = 0;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, err, fc_png_error, fc_png_warning);
    if (png == NULL)
        return fc_errdup("cannot create a PNG reader");
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        return fc_errdup("cannot create a PNG reader");
    }
    struct reader rd = {data, n, 0};
    png_bytep *rows = NULL;
    int rc = decode(png, info, &rd, mat, &rows, err);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return rc ? fc_errdup(err) : NULL;
}

struct writer {
    unsigned char *buf;
    size_t len, cap;
};

static void write_mem(png_structp png, png_bytep in, png_size_t len) {
    struct writer *w = (struct writer *)png_get_io_ptr(png);
    if (w->buf == NULL || len > w->cap - w->len) {
        size_t cap = w->cap;
        while (len > cap - w->len)
            cap *= 2;
        unsigned char *grown = realloc(w->buf, cap);
        if (grown == NULL)
            png_error(png, "out of memory");
        w->buf = grown;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, in, len);
    w->len += len;
}

static void flush_mem(png_structp png) { (void)png; }

static int encode(png_structp png, png_infop info, struct writer *w, const unsigned char *pix, size_t step,
                  int width, int height, int channels, int level, png_bytep **rows) {
    if (setjmp(png_jmpbuf(png)))
        return -1;
    png_set_write_fn(png, w, write_mem, flush_mem);
    // imgcodecs with IMWRITE_PNG_COMPRESSION: that level and Z_DEFAULT_STRATEGY.
    png_set_compression_level(png, level);
    png_set_compression_strategy(png, Z_DEFAULT_STRATEGY);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_set_bgr(png);
    *rows = malloc(sizeof(png_bytep) * (size_t)height);
    if (*rows == NULL)
        png_error(png, "out of memory");
    for (int y = 0; y < height; y++)
        (*rows)[y] = (png_bytep)(pix + (size_t)y * step);
    png_write_image(png, *rows);
    png_write_end(png, info);
    return 0;
}

fc_buf fc_png_encode(const unsigned char *pix, size_t step, int width, int height, int channels, int level) {
    char err[FC_ERRLEN];
    fc_buf res = {NULL, 0, NULL};
    err[0] = 0;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, err, fc_png_error, fc_png_warning);
    if (png == NULL) {
        res.err = fc_errdup("cannot create a PNG writer");
        return res;
    }
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_write_struct(&png, NULL);
        res.err = fc_errdup("cannot create a PNG writer");
        return res;
    }
    // Reserved up front at half the raw image, as for JPEG (see fc_dest in jpeg.c); PNGs of
    // photos can be larger, and then it doubles.
    struct writer w = {NULL, 0, (size_t)width * (size_t)height * (size_t)channels / 2 + (1 << 16)};
    png_bytep *rows = NULL;
    int rc = encode(png, info, &w, pix, step, width, height, channels, level, &rows);
    free(rows);
    png_destroy_write_struct(&png, &info);
    if (rc != 0) {
        free(w.buf);
        res.err = fc_errdup(err);
        return res;
    }
    res.buf = w.buf;
    res.len = w.len;
    return res;
}

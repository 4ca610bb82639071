// JPEG through libjpeg-turbo, set up as OpenCV 4.6's imgcodecs does so the pixels are the same.
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "codec.h"

// fc_jerr turns libjpeg's fatal errors into a longjmp with the message kept, and keeps its
// warnings (corrupt-data notices libjpeg recovers from, as imgcodecs does) off stderr.
struct fc_jerr {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char *msg;
};

static void fc_jpeg_error_exit(j_common_ptr c) {
    struct fc_jerr *e = (struct fc_jerr *)c->err;
    char buf[JMSG_LENGTH_MAX];
    (*c->err->format_message)(c, buf);
    snprintf(e->msg, FC_ERRLEN, "%s", buf);
    longjmp(e->jb, 1);
}

static void fc_jpeg_output_message(j_common_ptr c) { (void)c; }

// The memory source ends the decode with an error where the data ends: libjpeg's own
// jpeg_mem_src would instead pad a truncated file with grey and call it a success.
static void src_init(j_decompress_ptr c) { (void)c; }
static void src_term(j_decompress_ptr c) { (void)c; }

static boolean src_fill(j_decompress_ptr c) {
    ERREXIT(c, JERR_INPUT_EOF);
    return FALSE;
}

static void src_skip(j_decompress_ptr c, long n) {
    if (n <= 0)
        return;
    if ((size_t)n > c->src->bytes_in_buffer)
        ERREXIT(c, JERR_INPUT_EOF);
    c->src->next_input_byte += n;
    c->src->bytes_in_buffer -= (size_t)n;
}

// FC_JPEG_MAX_SCANS bounds the scans of a progressive JPEG, as libjpeg-turbo's TurboJPEG scan
// limit (TJPARAM_SCANLIMIT) does: each scan is a pass over the whole coefficient buffer, so a
// small file of thousands of (repeated or empty) scans costs minutes of CPU. Real encoders write
// about 10; libjpeg-turbo's own tools use 500.
#define FC_JPEG_MAX_SCANS 500

// scan_limit is the progress monitor, which libjpeg calls while it reads the scans.
static void scan_limit(j_common_ptr c) {
    j_decompress_ptr d = (j_decompress_ptr)c;
    if (d->input_scan_number > FC_JPEG_MAX_SCANS) {
        struct fc_jerr *e = (struct fc_jerr *)c->err;
        snprintf(e->msg, FC_ERRLEN, "progressive JPEG has more than %d scans", FC_JPEG_MAX_SCANS);
        longjmp(e->jb, 1);
    }
}

// OpenCV's CMYK to BGR (icvCvt_CMYK2BGR_8u_C4C3R), for Adobe CMYK and YCCK files.
static void cmyk_to_bgr(const JSAMPLE *cmyk, unsigned char *bgr, JDIMENSION width) {
    for (JDIMENSION i = 0; i < width; i++, bgr += 3, cmyk += 4) {
        int c = cmyk[0], m = cmyk[1], y = cmyk[2], k = cmyk[3];
        c = k - ((255 - c) * k >> 8);
        m = k - ((255 - m) * k >> 8);
        y = k - ((255 - y) * k >> 8);
        bgr[2] = (unsigned char)c;
        bgr[1] = (unsigned char)m;
        bgr[0] = (unsigned char)y;
    }
}

// decode does the work inside one setjmp frame; fc_jpeg_decode owns the structures so that
// they are destroyed however decode ends.
static int decode(struct jpeg_decompress_struct *cinfo, struct fc_jerr *jerr, struct jpeg_source_mgr *src,
                  const unsigned char *data, size_t n, int scale, void *mat, char *err) {
    struct jpeg_progress_mgr progress;
    if (setjmp(jerr->jb))
        return -1;
    jpeg_create_decompress(cinfo);
    memset(&progress, 0, sizeof progress);
    progress.progress_monitor = scan_limit;
    cinfo->progress = &progress;
    src->init_source = src_init;
    src->fill_input_buffer = src_fill;
    src->skip_input_data = src_skip;
    src->resync_to_restart = jpeg_resync_to_restart;
    src->term_source = src_term;
    src->next_input_byte = data;
    src->bytes_in_buffer = n;
    cinfo->src = src;

    jpeg_read_header(cinfo, TRUE);
    cinfo->scale_num = 1;
    cinfo->scale_denom = (unsigned int)scale;
    int cmyk = cinfo->num_components == 4;
    cinfo->out_color_space = cmyk ? JCS_CMYK : JCS_EXT_BGR;
    jpeg_calc_output_dimensions(cinfo);

    unsigned char *out;
    size_t step;
    if (fc_mat_ensure(mat, (int)cinfo->output_height, (int)cinfo->output_width, FC_8UC3, &out, &step) != 0) {
        snprintf(err, FC_ERRLEN, "cannot allocate a %ux%u image", cinfo->output_width, cinfo->output_height);
        return -1;
    }
    jpeg_start_decompress(cinfo);
    if (cmyk) {
        JSAMPARRAY row = (*cinfo->mem->alloc_sarray)((j_common_ptr)cinfo, JPOOL_IMAGE, cinfo->output_width * 4, 1);
        while (cinfo->output_scanline < cinfo->output_height) {
            unsigned char *dst = out + (size_t)cinfo->output_scanline * step;
            jpeg_read_scanlines(cinfo, row, 1);
            cmyk_to_bgr(row[0], dst, cinfo->output_width);
        }
    } else {
        JSAMPROW rows[16];
        while (cinfo->output_scanline < cinfo->output_height) {
            JDIMENSION first = cinfo->output_scanline, count = cinfo->output_height - first;
            if (count > 16)
                count = 16;
            for (JDIMENSION i = 0; i < count; i++)
                rows[i] = out + (size_t)(first + i) * step;
            jpeg_read_scanlines(cinfo, rows, count);
        }
    }
    // Every row is decoded: what follows the last scan (normally just EOI) is not read, so a
    // file that lacks its EOI still decodes, as with imgcodecs.
    jpeg_abort_decompress(cinfo);
    return 0;
}

char *fc_jpeg_decode(const unsigned char *data, size_t n, int scale, void *mat) {
    char err[FC_ERRLEN];
    struct jpeg_decompress_struct cinfo;
    struct fc_jerr jerr;
    struct jpeg_source_mgr src;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = fc_jpeg_error_exit;
    jerr.pub.output_message = fc_jpeg_output_message;
    jerr.msg = err;
    err[0] = 0;
    int rc = decode(&cinfo, &jerr, &src, data, n, scale, mat, err);
    jpeg_destroy_decompress(&cinfo);
    return rc ? fc_errdup(err) : NULL;
}

// fc_dest collects the compressed bytes in one buffer that the caller owns, reserved up front at
// half the raw image (more than a JPEG of a photo needs): one allocation, served by mmap when
// large, whose untouched pages never become resident. It doubles if that is not enough.
struct fc_dest {
    struct jpeg_destination_mgr pub;
    unsigned char *buf;
    size_t cap, len;
};

static void dest_init(j_compress_ptr c) {
    struct fc_dest *d = (struct fc_dest *)c->dest;
    d->buf = malloc(d->cap);
    if (d->buf == NULL)
        ERREXIT1(c, JERR_OUT_OF_MEMORY, 0);
    d->pub.next_output_byte = d->buf;
    d->pub.free_in_buffer = d->cap;
}

static boolean dest_empty(j_compress_ptr c) {
    struct fc_dest *d = (struct fc_dest *)c->dest;
    unsigned char *grown = realloc(d->buf, d->cap * 2);
    if (grown == NULL)
        ERREXIT1(c, JERR_OUT_OF_MEMORY, 1);
    d->buf = grown;
    d->pub.next_output_byte = grown + d->cap;
    d->pub.free_in_buffer = d->cap;
    d->cap *= 2;
    return TRUE;
}

static void dest_term(j_compress_ptr c) {
    struct fc_dest *d = (struct fc_dest *)c->dest;
    d->len = d->cap - d->pub.free_in_buffer;
}

static int encode(struct jpeg_compress_struct *cinfo, struct fc_jerr *jerr, struct fc_dest *dest,
                  const unsigned char *pix, size_t step, int width, int height, int channels, int quality) {
    if (setjmp(jerr->jb))
        return -1;
    jpeg_create_compress(cinfo);
    dest->pub.init_destination = dest_init;
    dest->pub.empty_output_buffer = dest_empty;
    dest->pub.term_destination = dest_term;
    dest->cap = (size_t)width * (size_t)height * (size_t)channels / 2 + (1 << 16);
    cinfo->dest = &dest->pub;
    cinfo->image_width = (JDIMENSION)width;
    cinfo->image_height = (JDIMENSION)height;
    cinfo->input_components = channels;
    cinfo->in_color_space = channels == 3 ? JCS_EXT_BGR : JCS_GRAYSCALE;
    // As imgcodecs: defaults, no restart interval, quality limited to baseline tables.
    jpeg_set_defaults(cinfo);
    cinfo->restart_interval = 0;
    jpeg_set_quality(cinfo, quality, TRUE);
    jpeg_start_compress(cinfo, TRUE);
    while (cinfo->next_scanline < cinfo->image_height) {
        JSAMPROW row = (JSAMPROW)(pix + (size_t)cinfo->next_scanline * step);
        jpeg_write_scanlines(cinfo, &row, 1);
    }
    jpeg_finish_compress(cinfo);
    return 0;
}

fc_buf fc_jpeg_encode(const unsigned char *pix, size_t step, int width, int height, int channels, int quality) {
    char err[FC_ERRLEN];
    fc_buf res = {NULL, 0, NULL};
    struct jpeg_compress_struct cinfo;
    struct fc_jerr jerr;
    struct fc_dest dest;
    memset(&cinfo, 0, sizeof cinfo);
    memset(&dest, 0, sizeof dest);
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = fc_jpeg_error_exit;
    jerr.pub.output_message = fc_jpeg_output_message;
    jerr.msg = err;
    err[0] = 0;
    int rc = encode(&cinfo, &jerr, &dest, pix, step, width, height, channels, quality);
    jpeg_destroy_compress(&cinfo);
    if (rc != 0) {
        free(dest.buf);
        res.err = fc_errdup(err);
        return res;
    }
    res.buf = dest.buf;
    res.len = dest.len;
    return res;
}

// WebP through libwebp, decoded straight to BGR as OpenCV 4.6's imgcodecs does for IMREAD_COLOR
// (its BGRA decode followed by dropping alpha gives the same colour bytes).
#include <stdio.h>

#include <webp/decode.h>

#include "codec.h"

static const char *status_text(VP8StatusCode s) {
    switch (s) {
    case VP8_STATUS_OUT_OF_MEMORY:
        return "out of memory";
    case VP8_STATUS_INVALID_PARAM:
        return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR:
        return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE:
        return "unsupported feature (animated WebP?)";
    case VP8_STATUS_SUSPENDED:
        return "suspended";
    case VP8_STATUS_USER_ABORT:
        return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA:
        return "WebP data is truncated";
    default:
        return "unknown error";
    }
}

char *fc_webp_decode(const unsigned char *data, size_t n, void *mat) {
    char err[FC_ERRLEN];
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config))
        return fc_errdup("libwebp version mismatch");
    VP8StatusCode s = WebPGetFeatures(data, n, &config.input);
    if (s != VP8_STATUS_OK) {
        return fc_errdup(status_text(s));
    }
    if (config.input.has_animation) {
        return fc_errdup("animated WebP is not supported");
    }
    unsigned char *out;
    size_t step;
    int w = config.input.width, h = config.input.height;
    if (fc_mat_ensure(mat, h, w, FC_8UC3, &out, &step) != 0) {
        snprintf(err, FC_ERRLEN, "cannot allocate a %dx%d image", w, h);
        return fc_errdup(err);
    }
    config.output.colorspace = MODE_BGR;
    config.output.is_external_memory = 1;
    config.output.u.RGBA.rgba = out;
    config.output.u.RGBA.stride = (int)step;
    config.output.u.RGBA.size = step * (size_t)h;
    s = WebPDecode(data, n, &config);
    WebPFreeDecBuffer(&config.output); // frees nothing it does not own
    if (s != VP8_STATUS_OK) {
        return fc_errdup(status_text(s));
    }
    return NULL;
}

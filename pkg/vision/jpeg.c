// JPEG decoding straight to BGR. OpenCV 4.6 has libjpeg produce RGB and swaps every pixel in a
// scalar loop afterwards (7 % of a small photo's detection time); libjpeg-turbo writes BGR
// itself (JCS_EXT_BGR), with the same pixels.
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <jpeglib.h>
#include "jpeg.h"

struct facectl_jpeg_error {
	struct jpeg_error_mgr mgr;
	jmp_buf jump;
};

static void facectl_jpeg_fail(j_common_ptr c) {
	longjmp(((struct facectl_jpeg_error*)c->err)->jump, 1);
}

// Warnings (a truncated scan, say) are not fatal, as in OpenCV: stay quiet and go on.
static void facectl_jpeg_quiet(j_common_ptr c) { (void)c; }

int facectl_jpeg_bgr(const unsigned char* data, unsigned long len, int denom, unsigned char* out,
                     int rows, int cols, size_t step) {
	struct jpeg_decompress_struct cinfo;
	struct facectl_jpeg_error err;
	int ok = 0;
	cinfo.err = jpeg_std_error(&err.mgr);
	err.mgr.error_exit = facectl_jpeg_fail;
	err.mgr.output_message = facectl_jpeg_quiet;
	if (setjmp(err.jump)) {
		jpeg_destroy_decompress(&cinfo);
		return 0;
	}
	jpeg_create_decompress(&cinfo);
	jpeg_mem_src(&cinfo, data, len);
	jpeg_read_header(&cinfo, TRUE);
	// CMYK and YCCK need a conversion libjpeg does not make: OpenCV's path handles them.
	if (cinfo.num_components == 1 || cinfo.num_components == 3) {
		cinfo.scale_num = 1;
		cinfo.scale_denom = (unsigned int)denom;
		cinfo.out_color_space = JCS_EXT_BGR;
		jpeg_calc_output_dimensions(&cinfo);
		if ((int)cinfo.output_width == cols && (int)cinfo.output_height == rows &&
		    cinfo.output_components == 3) {
			jpeg_start_decompress(&cinfo);
			while (cinfo.output_scanline < cinfo.output_height) {
				JSAMPROW row = out + (size_t)cinfo.output_scanline * step;
				jpeg_read_scanlines(&cinfo, &row, 1);
			}
			jpeg_finish_decompress(&cinfo);
			ok = 1;
		}
	}
	jpeg_destroy_decompress(&cinfo);
	return ok;
}

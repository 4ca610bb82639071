#ifndef FACECTL_ENCODE_H
#define FACECTL_ENCODE_H
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
/* An encoded image: data (len bytes) and the buffer to release with facectl_encoded_free. */
typedef struct {
	const unsigned char* data;
	size_t len;
	void* owner;
} facectl_encoded;
/* img is a cv::Mat*. Returns 1, or 0 when OpenCV could not encode. */
int facectl_encode(const void* img, const char* ext, const int* params, int nparams, facectl_encoded* out);
void facectl_encoded_free(facectl_encoded* e);
#ifdef __cplusplus
}
#endif
#endif

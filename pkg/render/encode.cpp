// Encoding into a buffer reserved up front. cv::imencode appends to its vector as the encoder
// fills 4 KiB blocks, so a multi-megabyte output reallocates and copies about a dozen times,
// leaving freed blocks of every size up to the output's in malloc's arenas. Reserving half the
// raw image (more than any JPEG or PNG of a photo at facectl's settings needs) makes it one
// allocation, served by mmap when large and returned whole when freed; pages never written are
// never touched.
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <vector>
#include "encode.h"

int facectl_encode(const void* img, const char* ext, const int* params, int nparams, facectl_encoded* out) {
	std::vector<uchar>* buf = nullptr;
	try {
		const cv::Mat* m = static_cast<const cv::Mat*>(img);
		buf = new std::vector<uchar>();
		buf->reserve(m->total() * m->elemSize() / 2 + (1 << 16));
		std::vector<int> p(params, params + nparams);
		if (!cv::imencode(ext, *m, *buf, p)) {
			delete buf;
			return 0;
		}
		out->data = buf->data();
		out->len = buf->size();
		out->owner = buf;
		return 1;
	} catch (...) {
		delete buf;
		return 0;
	}
}

void facectl_encoded_free(facectl_encoded* e) {
	delete static_cast<std::vector<uchar>*>(e->owner);
	e->owner = nullptr;
}

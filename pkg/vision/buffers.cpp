// Reusable native buffers for the workers: views into a growing byte buffer, and writing YuNet's
// input blob without blobFromImage's temporaries. Every function
// catches OpenCV's exceptions: none may cross into Go.
#include <opencv2/core.hpp>
#include "buffers.h"

// Buffers are cv::Mats owned by the Go side's buffer type, outside gocv's Mat profile: they
// live as long as their worker, while every gocv Mat is closed before its request ends.
void* facectl_buffer_new(void) {
	try {
		return new cv::Mat();
	} catch (...) {
		return nullptr;
	}
}

void facectl_buffer_free(void* buf) { delete static_cast<cv::Mat*>(buf); }

long long facectl_buffer_bytes(const void* buf) {
	const cv::Mat* b = static_cast<const cv::Mat*>(buf);
	return (long long)(b->total() * b->elemSize());
}

// facectl_view points *dst at the first bytes of *buf, shaped as sizes[0..ndims) of type,
// growing *buf (never shrinking it) when it is too small. *dst does not own the memory: it is
// valid until *buf grows or is closed. Returns 1 when *buf grew, -1 on error.
int facectl_view(void* buf, void* dst, int ndims, const int* sizes, int type) {
	try {
		cv::Mat* b = static_cast<cv::Mat*>(buf);
		cv::Mat* d = static_cast<cv::Mat*>(dst);
		size_t need = CV_ELEM_SIZE(type);
		for (int i = 0; i < ndims; i++) need *= (size_t)sizes[i];
		int grew = 0;
		if (b->empty() || b->total() < need) {
			d->release();
			b->release();
			b->create(1, (int)need, CV_8U);
			grew = 1;
		}
		*d = cv::Mat(ndims, sizes, type, b->data);
		return grew;
	} catch (...) {
		return -1;
	}
}

// facectl_aliases reports whether m's pixels lie in buf's memory.
int facectl_aliases(const void* buf, const void* m) {
	const cv::Mat* b = static_cast<const cv::Mat*>(buf);
	const cv::Mat* x = static_cast<const cv::Mat*>(m);
	return !b->empty() && x->data >= b->data && x->data < b->data + b->total();
}

// facectl_blob writes img (8UC3, at most H×W) into blob (1×3×H×W, CV_32F) as planar channels,
// as blobFromImage(img, 1, Size(W, H)) of img zero-padded at the bottom and right would, in one
// split and one conversion per channel. planes (3·rows × cols, CV_8U) holds the split channels.
// Returns 1, or 0 when the shapes do not fit.
int facectl_blob(const void* img, void* planes, void* blob) {
	try {
		const cv::Mat* src = static_cast<const cv::Mat*>(img);
		cv::Mat* p = static_cast<cv::Mat*>(planes);
		cv::Mat* b = static_cast<cv::Mat*>(blob);
		int h = src->rows, w = src->cols;
		if (src->type() != CV_8UC3 || b->dims != 4 || b->type() != CV_32F || b->size[0] != 1 ||
		    b->size[1] != 3 || b->size[2] < h || b->size[3] < w || p->type() != CV_8U ||
		    p->rows != 3 * h || p->cols != w || !p->isContinuous()) {
			return 0;
		}
		int ph = b->size[2], pw = b->size[3];
		cv::Mat ch[3];
		for (int c = 0; c < 3; c++) ch[c] = p->rowRange(c * h, (c + 1) * h);
		cv::split(*src, ch);
		for (int c = 0; c < 3; c++) {
			cv::Mat plane(ph, pw, CV_32F, b->ptr<float>(0, c));
			if (pw > w) plane(cv::Rect(w, 0, pw - w, h)).setTo(0);
			if (ph > h) plane.rowRange(h, ph).setTo(0);
			cv::Mat roi = plane(cv::Rect(0, 0, w, h));
			ch[c].convertTo(roi, CV_32F);
		}
		return 1;
	} catch (...) {
		return 0;
	}
}

// The one piece of C++ in package codec: sizing a caller's cv::Mat for a decode.
#include <opencv2/core.hpp>

#include "codec.h"

extern "C" int fc_mat_ensure(void *mat, int rows, int cols, int type, unsigned char **data, size_t *step) {
    try {
        cv::Mat &dst = *static_cast<cv::Mat *>(mat);
        if (!(dst.dims == 2 && dst.rows == rows && dst.cols == cols && dst.type() == type && dst.isContinuous())) {
            size_t need = (size_t)rows * (size_t)cols * CV_ELEM_SIZE(type);
            bool reusable = dst.u != nullptr && dst.u->refcount == 1 && dst.u->urefcount == 0 &&
                            dst.dims <= 2 && dst.data == dst.datastart &&
                            (size_t)(dst.datalimit - dst.datastart) >= need && need > 0;
            if (reusable) {
                // A header of the new shape over the same allocation. datalimit keeps the
                // allocation's full size, so a later, larger image can reuse it too.
                cv::Mat view(rows, cols, type, const_cast<uchar *>(dst.datastart));
                view.u = dst.u;
                view.allocator = dst.allocator;
                CV_XADD(&dst.u->refcount, 1);
                view.datalimit = dst.datalimit;
                dst = view;
            } else {
                dst.release(); // free the old buffer before allocating the new one
                dst.create(rows, cols, type);
            }
        }
        *data = dst.data;
        *step = dst.step[0];
        return 0;
    } catch (...) {
        return -1;
    }
}

extern "C" int fc_mat_pixels(void *mat, unsigned char **data, size_t *step, int *rows, int *cols, int *channels) {
    const cv::Mat &m = *static_cast<cv::Mat *>(mat);
    if (m.dims != 2 || m.depth() != CV_8U || m.data == nullptr)
        return -1;
    *data = m.data;
    *step = m.step[0];
    *rows = m.rows;
    *cols = m.cols;
    *channels = m.channels();
    return 0;
}

#ifndef FACECTL_BUFFERS_H
#define FACECTL_BUFFERS_H
#ifdef __cplusplus
extern "C" {
#endif
/* Every void* here is a cv::Mat* (a gocv Mat's Ptr). */
int facectl_view(void* buf, void* dst, int ndims, const int* sizes, int type);
int facectl_aliases(const void* buf, const void* m);
int facectl_blob(const void* img, void* planes, void* blob);
#ifdef __cplusplus
}
#endif
#endif

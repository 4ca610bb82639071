#ifndef FACECTL_BUFFERS_H
#define FACECTL_BUFFERS_H
#ifdef __cplusplus
extern "C" {
#endif
/* Every void* here is a cv::Mat* (a gocv Mat's Ptr, or a buffer from facectl_buffer_new). */
void* facectl_buffer_new(void);
void facectl_buffer_free(void* buf);
long long facectl_buffer_bytes(const void* buf);
int facectl_view(void* buf, void* dst, int ndims, const int* sizes, int type);
int facectl_aliases(const void* buf, const void* m);
int facectl_blob(const void* img, void* planes, void* blob);
#ifdef __cplusplus
}
#endif
#endif

#ifndef FACECTL_THREADS_H
#define FACECTL_THREADS_H
#ifdef __cplusplus
extern "C" {
#endif
void facectl_set_num_threads(int n);
int facectl_get_num_threads(void);
#ifdef __cplusplus
}
#endif
#endif

#include <opencv2/core.hpp>
#include "threads.h"

void facectl_set_num_threads(int n) { cv::setNumThreads(n); }
int facectl_get_num_threads(void) { return cv::getNumThreads(); }

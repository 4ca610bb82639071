//go:build cgo

package vision

/*
#cgo pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
#include "threads.h"
*/
import "C"

// setOpenCVThreads sets the size of OpenCV's own thread pool, which every detector in the process
// shares. gocv v0.31.0 does not expose cv::setNumThreads.
func setOpenCVThreads(n int) { C.facectl_set_num_threads(C.int(n)) }

// openCVThreads reports the size of OpenCV's thread pool.
func openCVThreads() int { return int(C.facectl_get_num_threads()) }

//go:build cgo

package vision

/*
#include <malloc.h>

static void facectl_tune_malloc(int arenas, int mmap_threshold) {
	if (arenas > 0) mallopt(M_ARENA_MAX, arenas);
	if (mmap_threshold > 0) mallopt(M_MMAP_THRESHOLD, mmap_threshold);
}
*/
import "C"

import "os"

// TuneAllocator bounds native memory of a long-running process that decodes many images on
// several threads: glibc's malloc otherwise keeps up to 8 arenas per core and, with its dynamic
// mmap threshold, keeps freed multi-megabyte image buffers on the heap, so RSS grows. It sets two
// arenas and serves buffers of 1 MiB and more from mmap, so that they return to the system when
// freed; the environment variables MALLOC_ARENA_MAX and MALLOC_MMAP_THRESHOLD_, when set, win.
// What it saves is measured in BENCHMARKS.md.
func TuneAllocator() {
	arenas, threshold := 2, 1<<20
	if os.Getenv("MALLOC_ARENA_MAX") != "" {
		arenas = 0
	}
	if os.Getenv("MALLOC_MMAP_THRESHOLD_") != "" {
		threshold = 0
	}
	C.facectl_tune_malloc(C.int(arenas), C.int(threshold))
}

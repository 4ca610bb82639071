//go:build cgo

package vision

/*
#cgo pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
#include <stdlib.h>
#include "buffers.h"
*/
import "C"

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"gocv.io/x/gocv"
)

// buffer is native memory a worker reuses across requests: views are Mats over its first bytes.
// It grows to the largest view asked of it up to keep bytes and never shrinks; a larger view gets
// its own memory, freed when the view is closed, so that one huge image does not stay resident.
// One view of a buffer is alive at a time: a view is valid until the next view of the same
// buffer. The buffer itself is not a gocv Mat, so gocv's Mat profile (the leak tests) counts
// only what requests create; liveBuffers counts buffers instead. Not safe for concurrent use.
type buffer struct {
	m    unsafe.Pointer // a cv::Mat, from facectl_buffer_new
	keep int
	// grown counts how often the memory was (re)allocated, for tests.
	grown int
}

// liveBuffers is the number of buffers created and not yet closed, for leak tests.
var liveBuffers atomic.Int64

func newBuffer(keep int) *buffer {
	m := C.facectl_buffer_new()
	if m == nil {
		panic("vision: out of memory allocating a buffer header")
	}
	liveBuffers.Add(1)
	return &buffer{m: m, keep: keep}
}

// close frees b's memory; closing twice is harmless.
func (b *buffer) close() error {
	if b.m != nil {
		C.facectl_buffer_free(b.m)
		b.m = nil
		liveBuffers.Add(-1)
	}
	return nil
}

// view returns a Mat of the given sizes (rows, cols or n, c, h, w) and type over b's memory, or
// over its own memory when it needs more than b keeps. The caller closes it.
func (b *buffer) view(mt gocv.MatType, sizes ...int) (gocv.Mat, error) {
	need := elemSize(mt)
	for _, s := range sizes {
		need *= s
	}
	if need > b.keep {
		return gocv.NewMatWithSizes(sizes, mt), nil
	}
	v := gocv.NewMat()
	cs := make([]C.int, len(sizes))
	for i, s := range sizes {
		cs[i] = C.int(s)
	}
	switch C.facectl_view(b.m, matPtr(v), C.int(len(sizes)), &cs[0], C.int(mt)) {
	case 1:
		b.grown++
	case -1:
		v.Close()
		return gocv.Mat{}, fmt.Errorf("allocating a %v buffer of %d bytes failed", sizes, need)
	}
	return v, nil
}

// holds reports whether m's pixels are in b's memory.
func (b *buffer) holds(m gocv.Mat) bool { return C.facectl_aliases(b.m, matPtr(m)) != 0 }

// bytes is the memory b holds now.
func (b *buffer) bytes() int { return int(C.facectl_buffer_bytes(b.m)) }

func elemSize(mt gocv.MatType) int {
	depth := [...]int{1, 1, 2, 2, 4, 4, 8, 2}[mt&7]
	return depth * (int(mt>>3) + 1)
}

// matPtr is the cv::Mat behind a gocv Mat, for the helpers in buffers.cpp.
func matPtr(m gocv.Mat) unsafe.Pointer { return unsafe.Pointer(m.Ptr()) }

// fillBlob writes img (8-bit BGR, at most blob's height and width) into blob (1×3×H×W float32)
// as gocv.BlobFromImage of img zero-padded to H×W would, through planes (3·rows × cols, 8-bit)
// and without allocating.
func fillBlob(img, planes, blob gocv.Mat) error {
	if C.facectl_blob(matPtr(img), matPtr(planes), matPtr(blob)) != 1 {
		return fmt.Errorf("a %dx%d image does not fit the network input blob", img.Cols(), img.Rows())
	}
	return nil
}

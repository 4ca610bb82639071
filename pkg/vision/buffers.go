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
	"unsafe"

	"gocv.io/x/gocv"
)

// buffer is native memory a worker reuses across requests: views are Mats over its first bytes.
// It grows to the largest view asked of it up to keep bytes and never shrinks; a larger view gets
// its own memory, freed when the view is closed, so that one huge image does not stay resident.
// One view of a buffer is alive at a time: a view is valid until the next view of the same
// buffer. Not safe for concurrent use.
type buffer struct {
	m    gocv.Mat
	keep int
	// grown counts how often the memory was (re)allocated, for tests.
	grown int
}

func newBuffer(keep int) *buffer { return &buffer{m: gocv.NewMat(), keep: keep} }

func (b *buffer) close() error { return b.m.Close() }

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
	switch C.facectl_view(matPtr(b.m), matPtr(v), C.int(len(sizes)), &cs[0], C.int(mt)) {
	case 1:
		b.grown++
	case -1:
		v.Close()
		return gocv.Mat{}, fmt.Errorf("allocating a %v buffer of %d bytes failed", sizes, need)
	}
	return v, nil
}

// holds reports whether m's pixels are in b's memory.
func (b *buffer) holds(m gocv.Mat) bool { return C.facectl_aliases(matPtr(b.m), matPtr(m)) != 0 }

// bytes is the memory b holds now.
func (b *buffer) bytes() int { return b.m.Total() * b.m.ElemSize() }

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

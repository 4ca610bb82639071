package render

/*
#cgo pkg-config: opencv4
#cgo CXXFLAGS: --std=c++11
#include <stdlib.h>
#include "encode.h"
*/
import "C"

import (
	"errors"
	"unsafe"

	"gocv.io/x/gocv"
)

// encode encodes img with OpenCV into a Go slice, through one native buffer reserved up front
// (see encode.cpp) instead of gocv.IMEncodeWithParams's growing one.
func encode(ext gocv.FileExt, img gocv.Mat, params []int) ([]byte, error) {
	cext := C.CString(string(ext))
	defer C.free(unsafe.Pointer(cext))
	cparams := make([]C.int, len(params)+1)
	for i, p := range params {
		cparams[i] = C.int(p)
	}
	var out C.facectl_encoded
	if C.facectl_encode(unsafe.Pointer(img.Ptr()), cext, &cparams[0], C.int(len(params)), &out) != 1 {
		return nil, errors.New("OpenCV could not encode the image")
	}
	defer C.facectl_encoded_free(&out)
	return C.GoBytes(unsafe.Pointer(out.data), C.int(out.len)), nil
}

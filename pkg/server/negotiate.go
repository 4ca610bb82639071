package server

import (
	"mime"
	"strconv"
	"strings"

	"github.com/facectl/facectl/pkg/imagecheck"
)

// negotiateImage picks the response type from Accept. It returns the image format and
// whether an image (rather than JSON) is preferred; image endpoints pass imageOnly.
func negotiateImage(accept string, imageOnly bool) (imagecheck.Format, bool) {
	best, bestQ := "", 0.0
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		switch mt {
		case "image/jpeg", "image/png", "application/json":
		case "image/*":
			mt = "image/jpeg"
		default:
			continue
		}
		if q > bestQ {
			best, bestQ = mt, q
		}
	}
	switch best {
	case "image/png":
		return imagecheck.PNG, true
	case "image/jpeg":
		return imagecheck.JPEG, true
	}
	return imagecheck.JPEG, imageOnly
}

func extension(f imagecheck.Format) string {
	if f == imagecheck.PNG {
		return "png"
	}
	return "jpg"
}

package face

import "github.com/facectl/facectl/pkg/imagecheck"

// RenderMode is what rendering does to the detected faces of an image. The rendering itself is
// pkg/render's (OpenCV); the mode and options live here so that callers such as the HTTP server
// build without cgo.
type RenderMode string

// Render modes.
const (
	Annotate RenderMode = "annotate"
	Blur     RenderMode = "blur"
	Pixelate RenderMode = "pixelate"
)

// RenderModes lists every RenderMode.
var RenderModes = []RenderMode{Annotate, Blur, Pixelate}

// RenderOptions says how to render the faces onto an image and encode it.
type RenderOptions struct {
	Mode RenderMode
	// Format is imagecheck.JPEG or imagecheck.PNG (WebP and BMP inputs are written as JPEG by callers).
	Format imagecheck.Format
	// Quality is the JPEG quality, 1..100; 0 means 90.
	Quality int
}

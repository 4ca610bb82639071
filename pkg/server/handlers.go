package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/facectl/facectl/pkg/face"
	"github.com/facectl/facectl/pkg/imagecheck"
)

// healthz is liveness: the process serves HTTP. It never touches the detection queue.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz is readiness: the engines are loaded (New succeeded) and the server is not
// draining. Load balancers stop sending traffic when it fails.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	if s.draining.Load() {
		// Expected on every probe during a deploy: Serve logs the drain once, at INFO.
		s.writeErrorResponse(w, r, jsonErrors, errorf(http.StatusServiceUnavailable, "draining", "the server is shutting down"))
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "detectors": sortedKeys(s.allowed)})
	return nil
}

// DetectResponse is the JSON body of POST /api/v1/detect; faces are the same objects that
// `facectl detect` prints.
type DetectResponse struct {
	Width     int         `json:"width"`
	Height    int         `json:"height"`
	Detector  string      `json:"detector"`
	ElapsedMS float64     `json:"elapsed_ms"`
	Faces     []face.Face `json:"faces"`
	// Image is the annotated image, present with annotate=true.
	Image *EncodedImage `json:"image,omitempty"`
}

// EncodedImage is an image inside a JSON response; Data is base64 in JSON.
type EncodedImage struct {
	ContentType string `json:"content_type"`
	Data        []byte `json:"data"`
}

func newDetectResponse(d face.Detection) DetectResponse {
	faces := make([]face.Face, len(d.Faces))
	for i, f := range d.Faces {
		if f.Landmarks == nil {
			f.Landmarks = []face.Point{}
		}
		faces[i] = f
	}
	return DetectResponse{Width: d.Width, Height: d.Height, Detector: d.Detector, ElapsedMS: d.ElapsedMS(), Faces: faces}
}

// detect is POST /api/v1/detect.
func (s *Server) detect(w http.ResponseWriter, r *http.Request, in intake) error {
	o, err := s.parseOptions(r, false)
	if err != nil {
		return err
	}
	format, wantImage := negotiateImage(r.Header.Get("Accept"), false)
	var rendered imagecheck.Format
	if wantImage || o.annotate {
		rendered = format
	}
	j, err := in.admit(w, r, o.engine, rendered)
	if err != nil {
		return err
	}
	var ro *face.RenderOptions
	if wantImage || o.annotate {
		ro = &face.RenderOptions{Mode: face.Annotate, Format: format, Quality: s.cfg.JPEGQuality}
	}
	img, det, err := s.run(j.ctx, o, j.data, ro)
	j.end()
	if err != nil {
		return err
	}
	if wantImage {
		return s.writeImage(w, r, in.start, img, format, det, "annotated")
	}
	resp := newDetectResponse(det)
	if o.annotate {
		resp.Image = &EncodedImage{ContentType: format.MIME(), Data: img}
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return fmt.Errorf("encoding the detection: %w", err)
	}
	return s.respond(w, r, in.start, append(b, '\n'), func(h http.Header) {
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		detectionHeaders(h, det)
	})
}

// blur is POST /api/v1/blur: the photo with every reported face blurred (or pixelated).
func (s *Server) blur(w http.ResponseWriter, r *http.Request, in intake) error {
	o, err := s.parseOptions(r, true)
	if err != nil {
		return err
	}
	if o.annotate {
		return errorf(http.StatusBadRequest, "invalid_parameter", "annotate applies to /api/v1/detect only")
	}
	format, _ := negotiateImage(r.Header.Get("Accept"), true)
	j, err := in.admit(w, r, o.engine, format)
	if err != nil {
		return err
	}
	img, det, err := s.run(j.ctx, o, j.data, &face.RenderOptions{Mode: o.mode, Format: format, Quality: s.cfg.JPEGQuality})
	j.end()
	if err != nil {
		return err
	}
	return s.writeImage(w, r, in.start, img, format, det, string(o.mode))
}

// run does the engine work for one admitted request and records its metrics.
func (s *Server) run(ctx context.Context, o options, data []byte, ro *face.RenderOptions) ([]byte, face.Detection, error) {
	start := time.Now()
	var (
		img []byte
		det face.Detection
		err error
		op  = "detect"
	)
	if ro != nil {
		op = string(ro.Mode)
		img, det, err = o.engine.Render(ctx, data, o.filter, *ro)
	} else {
		det, err = o.engine.Detect(ctx, data, o.filter)
	}
	if err != nil {
		return nil, det, err
	}
	if det.Detector == "" {
		det.Detector = o.engine.Name()
	}
	s.m.detection.WithLabelValues(det.Detector, op).Observe(time.Since(start).Seconds())
	s.m.faces.WithLabelValues(det.Detector).Add(float64(len(det.Faces)))
	s.m.facesPerImg.Observe(float64(len(det.Faces)))
	return img, det, nil
}

// writeImage sends the rendered image with the detection's headers.
func (s *Server) writeImage(w http.ResponseWriter, r *http.Request, start time.Time, img []byte, format imagecheck.Format, det face.Detection, name string) error {
	return s.respond(w, r, start, img, func(h http.Header) {
		h.Set("Content-Type", format.MIME())
		h.Set("Content-Disposition", fmt.Sprintf(`inline; filename="%s.%s"`, name, extension(format)))
		h.Set("Cache-Control", "no-store")
		detectionHeaders(h, det)
	})
}

// detectionHeaders sum up the detection on every successful detect and blur answer.
func detectionHeaders(h http.Header, det face.Detection) {
	h.Set("X-Face-Count", strconv.Itoa(len(det.Faces)))
	h.Set("X-Detector", det.Detector)
	h.Set("X-Elapsed-Ms", strconv.FormatFloat(det.ElapsedMS(), 'f', 1, 64))
}

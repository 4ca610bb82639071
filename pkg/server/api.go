package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/facectl/facectl/pkg/face"
	"github.com/facectl/facectl/pkg/imagecheck"
)

// routes registers every endpoint. Detection routes need an API key when keys are set;
// health, readiness, metrics, the page and its assets never do.
func (s *Server) routes() {
	mux := http.NewServeMux()
	api := func(h handlerFunc) http.Handler { return s.requireKey(s.handle(h)) }
	mux.Handle("POST /api/v1/detect", api(s.detect))
	mux.Handle("POST /api/v1/blur", api(s.blur))
	mux.Handle("POST /upload", api(s.upload))
	mux.Handle("GET /api/v1/openapi.json", s.handle(s.openapi))
	mux.Handle("GET /{$}", s.handle(s.index))
	mux.Handle("GET /static/{file}", s.handle(s.static))
	mux.Handle("GET /favicon.ico", s.handle(s.static))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.cfg.MetricsAddr == "" {
		mux.Handle("GET /metrics", s.promHandler())
	}
	s.mux = mux
	s.handler = s.wrap(mux)
}

// healthz is liveness: the process serves HTTP. It never touches the detection queue.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz is readiness: the engines are loaded (New succeeded) and the server is not
// draining. Load balancers stop sending traffic when it fails.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if s.draining.Load() {
		// Expected on every probe during a deploy: Serve logs the drain once, at INFO.
		s.writeErrorResponse(w, r, errorf(http.StatusServiceUnavailable, "draining", "the server is shutting down"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "detectors": sortedKeys(s.allowed)})
}

// options are the query parameters of the detection endpoints.
type options struct {
	filter   face.Filter
	engine   Engine
	annotate bool
	mode     face.RenderMode
}

// parseOptions reads and checks the query parameters; unknown parameters are an error so
// that typos do not silently change nothing.
func (s *Server) parseOptions(r *http.Request, blur bool) (options, error) {
	// url.Query drops what it cannot parse (a ";" separator, a bad escape) without a word,
	// which would silently lose parameters.
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return options{}, errorf(http.StatusBadRequest, "invalid_parameter",
			"the query is malformed (separate parameters with \"&\", not \";\", and escape special characters): %s", truncate(err.Error(), 80))
	}
	o := options{engine: s.engines[s.detector], mode: face.Annotate}
	if blur {
		o.mode = face.Blur
	}
	var errs []string
	unknown := 0
	for key, vals := range q {
		if len(vals) > 1 {
			// Checking only one of them would let the others pass unchecked.
			errs = append(errs, fmt.Sprintf("parameter %q is given %d times", truncate(key, 32), len(vals)))
			continue
		}
		v := vals[0]
		switch key {
		case "min_confidence":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 || f != f {
				errs = append(errs, "min_confidence must be a number from 0 to 1")
			}
			o.filter.MinConfidence = f
		case "max_faces":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 10000 {
				errs = append(errs, "max_faces must be a whole number from 0 (no limit) to 10000")
			}
			o.filter.MaxFaces = n
		case "biggest", "best", "annotate":
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, key+" must be true or false")
			}
			switch key {
			case "biggest":
				o.filter.Biggest = b
			case "best":
				o.filter.Best = b
			case "annotate":
				o.annotate = b
			}
		case "detector":
			if !s.allowed[v] {
				errs = append(errs, fmt.Sprintf("detector %q is not available here (available: %s)", truncate(v, 32), strings.Join(sortedKeys(s.allowed), ", ")))
			} else {
				o.engine = s.engines[v]
			}
		case "mode":
			if !blur {
				errs = append(errs, "mode applies to /api/v1/blur only")
			}
			switch face.RenderMode(v) {
			case face.Blur, face.Pixelate:
				o.mode = face.RenderMode(v)
			default:
				errs = append(errs, "mode must be blur or pixelate")
			}
		default:
			if unknown++; unknown <= maxNamedParams {
				errs = append(errs, fmt.Sprintf("unknown parameter %q", truncate(key, 32)))
			}
		}
	}
	if unknown > maxNamedParams {
		errs = append(errs, fmt.Sprintf("and %d more unknown parameters", unknown-maxNamedParams))
	}
	if len(errs) > maxNamedParams+1 {
		// A long query must not make the answer and its log line long too.
		errs = append(errs[:maxNamedParams], fmt.Sprintf("and %d more problems", len(errs)-maxNamedParams))
	}
	if len(errs) > 0 {
		return o, errorf(http.StatusBadRequest, "invalid_parameter", "%s", strings.Join(errs, "; "))
	}
	return o, nil
}

// maxNamedParams is how many bad parameters a 400 names; the rest are counted.
const maxNamedParams = 5

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// checkRequest refuses, before admission, bodies that are too large by their declared
// length and content types that cannot carry an image.
func (s *Server) checkRequest(r *http.Request) (multipart bool, err error) {
	limit := s.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		return false, errorf(http.StatusRequestEntityTooLarge, "too_large",
			"the request body is %s, over the %s limit", humanBytes(r.ContentLength), humanBytes(limit))
	}
	ct := r.Header.Get("Content-Type")
	mt, _, perr := mime.ParseMediaType(ct)
	switch {
	case ct == "" || perr != nil:
		return false, errorf(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"send the image as the multipart/form-data field \"image\" or as the request body with an image content type")
	case mt == "multipart/form-data":
		return true, nil
	case strings.HasPrefix(mt, "image/") || mt == "application/octet-stream":
		return false, nil
	}
	return false, errorf(http.StatusUnsupportedMediaType, "unsupported_media_type",
		"content type %q is not accepted: send multipart/form-data or an image content type", truncate(mt, 64))
}

// readImage reads the uploaded image from body, either as the multipart field `image` or as
// the raw body, within the body and part limits, and checks its magic bytes so that
// non-images are refused before they take a worker.
func (s *Server) readImage(w http.ResponseWriter, r *http.Request, body io.ReadCloser, multipart bool) ([]byte, error) {
	tb := &trackedBody{ReadCloser: body}
	r.Body = http.MaxBytesReader(w, tb, s.cfg.MaxBodyBytes)
	var data []byte
	var err error
	if multipart {
		data, err = s.readMultipart(r, tb)
	} else {
		data, err = readBody(r.Body, r.ContentLength)
	}
	if err != nil {
		return nil, err
	}
	if _, err := imagecheck.Sniff(data); err != nil {
		return nil, err
	}
	return data, nil
}

// readBody reads a whole body, sized up front when the length is known.
func readBody(body io.Reader, length int64) ([]byte, error) {
	var buf []byte
	if length > 0 {
		buf = make([]byte, 0, length+1)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, readError(err)
		}
	}
}

// readError turns a body read failure into a client error. A body that ends early or a
// connection that breaks mid-upload means the client left: 499, which nobody hears.
func readError(err error) error {
	var mbe *http.MaxBytesError
	var he *Error
	switch {
	case errors.As(err, &he):
		return he
	case errors.As(err, &mbe), isTimeout(err):
		return asHTTPError(err)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, context.Canceled), errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed):
		return &Error{Status: statusClientClosed, Code: "client_closed_request", Message: "the client went away during the upload", Err: err}
	}
	return &Error{Status: http.StatusBadRequest, Code: "bad_body", Message: "the request body could not be read", Err: err}
}

// trackedBody tells whether the body ended where the client said it would: a multipart body
// whose parser hits the end early is then malformed (400), not a client that went away (499).
type trackedBody struct {
	io.ReadCloser
	ended bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.ended = true
	}
	return n, err
}

// readMultipart streams the parts (never spooling to disk as ParseMultipartForm would),
// counts them against MaxParts and keeps the one named "image".
func (s *Server) readMultipart(r *http.Request, body *trackedBody) ([]byte, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Code: "bad_multipart", Message: "the multipart body is malformed", Err: err}
	}
	var data []byte
	found := false
	for parts := 0; ; parts++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) || isTimeout(err) {
				return nil, readError(err)
			}
			return nil, &Error{Status: http.StatusBadRequest, Code: "bad_multipart", Message: "the multipart body is malformed", Err: err}
		}
		if parts >= s.cfg.MaxParts {
			p.Close()
			return nil, errorf(http.StatusBadRequest, "too_many_parts", "the form has more than %d parts", s.cfg.MaxParts)
		}
		if p.FormName() != "image" {
			_, err = io.Copy(io.Discard, p)
		} else if found {
			err = errorf(http.StatusBadRequest, "bad_multipart", "send one image per request")
		} else {
			found = true
			data, err = readBody(p, r.ContentLength) // the part is a little smaller than the body

		}
		p.Close()
		if err != nil {
			if body.ended && errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, &Error{Status: http.StatusBadRequest, Code: "bad_multipart",
					Message: "the multipart body ends before its closing boundary", Err: err}
			}
			if he := (*Error)(nil); errors.As(err, &he) {
				return nil, err
			}
			return nil, readError(err)
		}
	}
	if !found {
		return nil, errorf(http.StatusBadRequest, "missing_image", "the form has no field named \"image\"")
	}
	return data, nil
}

// job is an admitted request with its image, holding a detection worker.
type job struct {
	ctx    context.Context
	cancel context.CancelFunc
	t      *ticket
	data   []byte
}

// end releases what the engine needed (worker, upload and decode memory, the place among
// the admitted requests) as soon as the result is encoded: sending it is bounded apart (see
// respond), so a client that reads slowly holds none of them.
func (j *job) end() {
	j.data = nil
	j.t.done()
	j.cancel()
}

// begin admits a detection request and reads its image. Refusals that cost nothing come
// first (declared size, content type). Then the first bytes of the body must arrive: until
// they have, the request holds nothing but a small buffer, so slow clients cannot use up the
// queue or the memory. Then it takes its place (429 when the queue is full), reserves upload
// memory for the body (waiting, with the body still in the socket, when it does not fit),
// reads the rest under the upload rate limits, reserves decode memory as the image header
// says for engine e (render is the format of the rendered result, "" for detection only),
// and finally waits for a worker. On success the caller must call end.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, e Engine, render imagecheck.Format) (*job, error) {
	multipart, err := s.checkRequest(r)
	if err != nil {
		return nil, err
	}
	up := s.newUploadReader(w, r)
	head, done, err := up.readHead(r.ContentLength)
	if err != nil {
		return nil, err
	}
	if err := s.checkFormKey(r, head); err != nil {
		return nil, err
	}
	t, err := s.adm.enter()
	if err != nil {
		return nil, s.retryable(err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	j := &job{ctx: ctx, cancel: cancel, t: t}
	size := r.ContentLength
	switch {
	case done:
		size = int64(len(head))
	case size < 0:
		size = s.cfg.MaxBodyBytes
	}
	before := t.waited
	err = t.reserve(ctx, size)
	up.pause(t.waited - before)
	if err != nil {
		j.end()
		return nil, s.retryable(err)
	}
	if j.data, err = s.readImage(w, r, up.rest(head, done), multipart); err != nil {
		j.end()
		return nil, err
	}
	if err := s.reserveDecode(ctx, t, e, j.data, render); err != nil {
		j.end()
		return nil, s.retryable(err)
	}
	if err := t.work(ctx); err != nil {
		j.end()
		return nil, s.retryable(err)
	}
	return j, nil
}

// retryable adds Retry-After to overload answers.
func (s *Server) retryable(err error) error {
	he := asHTTPError(err)
	if he.Status == http.StatusTooManyRequests || he.Status == http.StatusServiceUnavailable {
		he.RetryAfter = s.adm.retryAfter()
	}
	return he
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
func (s *Server) detect(w http.ResponseWriter, r *http.Request) error {
	o, err := s.parseOptions(r, false)
	if err != nil {
		return err
	}
	format, wantImage := negotiateImage(r.Header.Get("Accept"), false)
	var rendered imagecheck.Format
	if wantImage || o.annotate {
		rendered = format
	}
	j, err := s.begin(w, r, o.engine, rendered)
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
		return s.writeImage(w, r, img, format, det, "annotated")
	}
	resp := newDetectResponse(det)
	if o.annotate {
		resp.Image = &EncodedImage{ContentType: format.MIME(), Data: img}
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return fmt.Errorf("encoding the detection: %w", err)
	}
	return s.respond(w, r, append(b, '\n'), func(h http.Header) {
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		detectionHeaders(h, det)
	})
}

// blur is POST /api/v1/blur: the photo with every reported face blurred (or pixelated).
func (s *Server) blur(w http.ResponseWriter, r *http.Request) error {
	o, err := s.parseOptions(r, true)
	if err != nil {
		return err
	}
	if o.annotate {
		return errorf(http.StatusBadRequest, "invalid_parameter", "annotate applies to /api/v1/detect only")
	}
	format, _ := negotiateImage(r.Header.Get("Accept"), true)
	j, err := s.begin(w, r, o.engine, format)
	if err != nil {
		return err
	}
	img, det, err := s.run(j.ctx, o, j.data, &face.RenderOptions{Mode: o.mode, Format: format, Quality: s.cfg.JPEGQuality})
	j.end()
	if err != nil {
		return err
	}
	return s.writeImage(w, r, img, format, det, string(o.mode))
}

func (s *Server) writeImage(w http.ResponseWriter, r *http.Request, img []byte, format imagecheck.Format, det face.Detection, name string) error {
	return s.respond(w, r, img, func(h http.Header) {
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

// respond sends a 200 with body, holding len(body) of response memory (waiting for it within
// QueueWait, 503 after) until the client has it; headers sets the headers once it fits.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, body []byte, headers func(http.Header)) error {
	release, err := s.adm.reserveResponse(r.Context(), int64(len(body)))
	if err != nil {
		return s.retryable(err)
	}
	defer release()
	h := w.Header()
	headers(h)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	s.download(w, r, body)
	return nil
}

// downloadPiece is how much of a response is written under one write deadline.
const downloadPiece = 32 << 10

// download writes body a piece at a time, each of which the client must take within a second
// plus the time MinDownloadRate allows for it, and all of it by the request's WriteTimeout: a
// client that stops reading is cut within seconds, not waited for (the kernel's socket
// buffers take the first megabytes at once, so only a rate per piece tells). A write error
// means the client went away or stopped reading; the status is already sent, so there is
// nothing left to tell it, and the request is logged as 499 (see recorder.truncated).
func (s *Server) download(w http.ResponseWriter, r *http.Request, body []byte) {
	rc := http.NewResponseController(w)
	limit := time.Now().Add(s.cfg.WriteTimeout)
	if rec, ok := r.Context().Value(keyRecorder).(*recorder); ok && !rec.start.IsZero() {
		limit = rec.start.Add(s.cfg.WriteTimeout)
	}
	sent := 0
	for sent < len(body) {
		n := min(len(body)-sent, downloadPiece)
		if rate := s.cfg.MinDownloadRate; rate > 0 {
			d := time.Now().Add(restGrace + time.Duration(float64(n)/float64(rate)*float64(time.Second)))
			if d.After(limit) {
				d = limit
			}
			_ = rc.SetWriteDeadline(d) // without a deadline (HTTP/2, tests) WriteTimeout still applies
		}
		_, err := w.Write(body[sent : sent+n])
		if err == nil {
			err = rc.Flush() // the piece must reach the socket under its own deadline
		}
		if err != nil {
			s.logger(r.Context()).Info("the client did not take the response", "sent_bytes", sent, "bytes", len(body), "err", err.Error())
			return
		}
		sent += n
	}
}

func extension(f imagecheck.Format) string {
	if f == imagecheck.PNG {
		return "png"
	}
	return "jpg"
}

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

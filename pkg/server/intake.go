package server

import (
	"context"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/facectl/facectl/pkg/imagecheck"
)

// intake takes in the image of one request on a route that takes images: its declared size
// and content type, its API key when it comes in the form, its place among the admitted
// requests, upload memory, the body within the body and part limits and the upload rates, decode
// memory and a worker, all through one entry point, admit. The route's chain makes one per
// request (see handle).
type intake struct {
	s       *Server
	formKey bool      // the route lets the API key come as the form's first field (keyHeaderOrForm)
	start   time.Time // when the request reached its route: the upload and the answer are bounded from it
}

// admit admits a detection request and reads its image. Refusals that cost nothing come
// first (declared size, content type). Then the first bytes of the body must arrive: until
// they have, the request holds nothing but a small buffer, so slow clients cannot use up the
// queue or the memory. Then it takes its place (429 when the queue is full), reserves upload
// memory for the body (waiting, with the body still in the socket, when it does not fit),
// reads the rest under the upload rate limits, reserves decode memory as the image header
// says for engine e (format is the format of the rendered result, "" for detection only),
// and finally waits for a worker. On success the caller must call end.
func (in intake) admit(w http.ResponseWriter, r *http.Request, e Engine, format imagecheck.Format) (*job, error) {
	s := in.s
	multipart, err := in.checkRequest(r)
	if err != nil {
		return nil, err
	}
	up := newUploadReader(w, r, &s.cfg, in.start)
	head, done, err := up.readHead(r.ContentLength)
	if err != nil {
		return nil, err
	}
	if in.formKey && s.keyFromForm(r) {
		if err := s.checkFormKey(r, head); err != nil {
			return nil, err
		}
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
	if j.data, err = in.readImage(w, r, up.rest(head, done), multipart); err != nil {
		j.end()
		return nil, err
	}
	if err := in.reserveDecode(ctx, t, e, j.data, format); err != nil {
		j.end()
		return nil, s.retryable(err)
	}
	if err := t.work(ctx); err != nil {
		j.end()
		return nil, s.retryable(err)
	}
	return j, nil
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

// checkRequest refuses, before admission, bodies that are too large by their declared
// length and content types that cannot carry an image.
func (in intake) checkRequest(r *http.Request) (multipart bool, err error) {
	limit := in.s.cfg.MaxBodyBytes
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
func (in intake) readImage(w http.ResponseWriter, r *http.Request, body io.ReadCloser, multipart bool) ([]byte, error) {
	tb := &trackedBody{ReadCloser: body}
	r.Body = http.MaxBytesReader(w, tb, in.s.cfg.MaxBodyBytes)
	var data []byte
	var err error
	if multipart {
		data, err = in.readMultipart(r, tb)
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
func (in intake) readMultipart(r *http.Request, body *trackedBody) ([]byte, error) {
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
		if parts >= in.s.cfg.MaxParts {
			p.Close()
			return nil, errorf(http.StatusBadRequest, "too_many_parts", "the form has more than %d parts", in.s.cfg.MaxParts)
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

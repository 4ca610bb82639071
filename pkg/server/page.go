package server

import (
	"bytes"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/facectl/facectl/pkg/face"
	"github.com/facectl/facectl/pkg/imageio"
)

// web holds the page, its script and styles, the server-rendered result and error pages
// and the OpenAPI description. Everything the page needs comes from the binary.
//
//go:embed web
var web embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"pct": func(v, total int) string {
		if total <= 0 {
			return "0"
		}
		return strconv.FormatFloat(float64(v)*100/float64(total), 'f', 3, 64)
	},
	"conf": func(c float64) string { return strconv.FormatFloat(c*100, 'f', 0, 64) },
	"inc":  func(i int) int { return i + 1 },
}).ParseFS(web, "web/*.html"))

// pageData is what the page templates see.
type pageData struct {
	AuthRequired bool
	MaxBytes     string
	MaxBytesN    int64
	Detectors    []string
	Default      string
}

// index is GET /, the upload page. It works without JavaScript (the form posts to /upload);
// with it, results are drawn over the photo from the JSON API.
func (s *Server) index(w http.ResponseWriter, r *http.Request) error {
	return s.renderPage(w, http.StatusOK, "index.html", pageData{
		AuthRequired: len(s.keys) > 0,
		MaxBytes:     humanBytes(s.cfg.MaxBodyBytes),
		MaxBytesN:    s.cfg.MaxBodyBytes,
		Detectors:    sortedKeys(s.allowed),
		Default:      s.detector,
	})
}

func (s *Server) renderPage(w http.ResponseWriter, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
	return nil
}

// static serves the page's script and styles from the binary.
func (s *Server) static(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("file")
	if r.URL.Path == "/favicon.ico" {
		name = "favicon.svg"
	}
	if name == "" || strings.Contains(name, "..") || strings.HasSuffix(name, ".html") {
		return errorf(http.StatusNotFound, "not_found", "no such file")
	}
	b, err := fs.ReadFile(web, "web/"+name)
	if err != nil {
		return errorf(http.StatusNotFound, "not_found", "no such file")
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}

// openapi serves the embedded OpenAPI 3 description of the API.
func (s *Server) openapi(w http.ResponseWriter, r *http.Request) error {
	b, err := web.ReadFile("web/openapi.json")
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}

// resultData is what result.html sees.
type resultData struct {
	Image     template.URL
	Count     int
	Width     int
	Height    int
	Detector  string
	ElapsedMS float64
	Faces     []faceView
}

type faceView struct {
	X, Y, W, H int
	Confidence float64
}

// upload is POST /upload, the original app's form route: the annotated photo and the face
// count as an HTML page, so old links and forms keep working without JavaScript.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) error {
	o, err := s.parseOptions(r, false)
	if err != nil {
		return err
	}
	j, err := s.begin(w, r)
	if err != nil {
		return err
	}
	defer j.end()
	img, det, err := s.run(j.ctx, o, j.data, &face.RenderOptions{Mode: face.Annotate, Format: imageio.JPEG, Quality: s.cfg.JPEGQuality})
	if err != nil {
		return err
	}
	rd := resultData{
		Image:     template.URL("data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(img)),
		Count:     len(det.Faces),
		Width:     det.Width,
		Height:    det.Height,
		Detector:  det.Detector,
		ElapsedMS: det.ElapsedMS(),
	}
	for _, f := range det.Faces {
		rd.Faces = append(rd.Faces, faceView{X: f.X, Y: f.Y, W: f.W, H: f.H, Confidence: f.Confidence})
	}
	return s.renderPage(w, http.StatusOK, "result.html", rd)
}

// wantsHTML reports whether an error should be an HTML page: only for the form route
// /upload, and only when the client does not ask for JSON.
func wantsHTML(r *http.Request) bool {
	if r.URL.Path != "/upload" {
		return false
	}
	accept := r.Header.Get("Accept")
	return !strings.Contains(accept, "application/json") || strings.Contains(accept, "text/html")
}

// writeErrorPage writes err as a readable HTML page (for /upload).
func (s *Server) writeErrorPage(w http.ResponseWriter, r *http.Request, he *Error) {
	if err := s.renderPage(w, he.Status, "error.html", map[string]any{
		"Status": he.Status, "Code": he.Code, "Message": he.Message, "RequestID": requestID(r.Context()),
		"Title": http.StatusText(he.Status),
	}); err != nil {
		s.logger(r.Context()).Error("rendering error page", "err", err)
	}
}

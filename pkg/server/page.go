package server

import (
	"bytes"
	"embed"
	"encoding/base64"
	"fmt"
	"html"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/facectl/facectl/pkg/face"
	"github.com/facectl/facectl/pkg/imagecheck"
)

// web holds the page, its script and styles, the server-rendered result and error pages
// and the OpenAPI description. Everything the page needs comes from the binary.
//
//go:embed web
var web embed.FS

// pages are web/'s HTML pages (htmlpage.go), parsed at start-up.
var pages = func() map[string]*htmlPage {
	m := map[string]*htmlPage{}
	for _, name := range []string{"index.html", "result.html", "error.html"} {
		src, err := web.ReadFile("web/" + name)
		if err != nil {
			panic(err)
		}
		p, err := parsePage(name, string(src))
		if err != nil {
			panic(err)
		}
		m[name] = p
	}
	return m
}()

// index is GET /, the upload page. It works without JavaScript (the form posts to /upload);
// with it, results are drawn over the photo from the JSON API.
func (s *Server) index(w http.ResponseWriter, r *http.Request) error {
	detectors := sortedKeys(s.allowed)
	var options strings.Builder
	for _, d := range detectors {
		selected := ""
		if d == s.detector {
			selected = " selected"
		}
		fmt.Fprintf(&options, `<option value="%s"%s>%[1]s</option>`, html.EscapeString(d), selected)
	}
	return s.renderPage(w, http.StatusOK, "index.html", pageValues{
		Text: map[string]string{
			"max_bytes": strconv.FormatInt(s.cfg.MaxBodyBytes, 10),
			"max_human": humanBytes(s.cfg.MaxBodyBytes),
		},
		HTML: map[string]string{"detector_options": options.String()},
		// The key field comes before the photo: without JavaScript the server reads the key
		// from the form's first part.
		Show: map[string]bool{"auth": len(s.keys) > 0, "detectors": len(detectors) > 1},
	})
}

func (s *Server) renderPage(w http.ResponseWriter, status int, name string, v pageValues) error {
	b, err := pageBytes(name, v)
	if err != nil {
		return err
	}
	h := w.Header()
	pageHeaders(h)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}

// pageBytes renders the page name with v.
func pageBytes(name string, v pageValues) ([]byte, error) {
	var buf bytes.Buffer
	page, ok := pages[name]
	if !ok {
		return nil, fmt.Errorf("no page %s", name)
	}
	if err := page.render(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func pageHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
}

// static is GET /static/{file}: the page's script and styles.
func (s *Server) static(w http.ResponseWriter, r *http.Request) error {
	return serveAsset(w, r.PathValue("file"))
}

// favicon is GET /favicon.ico, which browsers ask for by themselves.
func (s *Server) favicon(w http.ResponseWriter, r *http.Request) error {
	return serveAsset(w, "favicon.svg")
}

// serveAsset serves web/'s file name from the binary.
func serveAsset(w http.ResponseWriter, name string) error {
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

// upload is POST /upload, the original app's form route: the annotated photo and the face
// count as an HTML page, so old links and forms keep working without JavaScript.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, in intake) error {
	o, err := s.parseOptions(r, false)
	if err != nil {
		return err
	}
	j, err := in.admit(w, r, o.engine, imagecheck.JPEG)
	if err != nil {
		return err
	}
	img, det, err := s.run(j.ctx, o, j.data, &face.RenderOptions{Mode: face.Annotate, Format: imagecheck.JPEG, Quality: s.cfg.JPEGQuality})
	j.end()
	if err != nil {
		return err
	}
	word := "faces"
	if len(det.Faces) == 1 {
		word = "face"
	}
	var items strings.Builder
	for _, f := range det.Faces {
		fmt.Fprintf(&items, "\n      <li>%s%% confidence, at %d, %d, %d×%d pixels</li>",
			strconv.FormatFloat(f.Confidence*100, 'f', 0, 64), f.X, f.Y, f.W, f.H)
	}
	page, err := pageBytes("result.html", pageValues{
		Text: map[string]string{
			"image":      "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(img),
			"count":      strconv.Itoa(len(det.Faces)),
			"faces_word": word,
			"width":      strconv.Itoa(det.Width),
			"height":     strconv.Itoa(det.Height),
			"detector":   det.Detector,
			"elapsed_ms": strconv.FormatFloat(det.ElapsedMS(), 'f', -1, 64),
		},
		HTML: map[string]string{"face_items": items.String()},
		Show: map[string]bool{"faces": len(det.Faces) > 0},
	})
	if err != nil {
		return err
	}
	return s.respond(w, r, in.start, page, pageHeaders)
}

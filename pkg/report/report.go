// Package report writes detection results in facectl's output formats: a readable text table,
// JSON, JSON Lines, CSV and the WIDER FACE prediction format.
package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/facectl/facectl/pkg/face"
)

// Formats lists the output formats.
var Formats = []string{"text", "json", "jsonl", "csv", "wider"}

// Result is the outcome for one file: a detection, or the error that stopped it, or a skip.
type Result struct {
	File      string
	Detection face.Detection
	Err       error
	// Skipped: the outputs were made from this very input by an earlier run (--skip-existing),
	// so it was not read again; Detection is empty.
	Skipped bool
	// ETag and Size identify the input read (ETag: S3's, or the quoted MD5 of a file).
	ETag string
	Size int64
	// Outputs are the images written for it (paths or s3:// URLs).
	Outputs []string
}

// jsonResult is Result's JSON form, documented in docs/detect.md.
type jsonResult struct {
	File      string      `json:"file"`
	Width     int         `json:"width,omitempty"`
	Height    int         `json:"height,omitempty"`
	Detector  string      `json:"detector,omitempty"`
	ElapsedMS *float64    `json:"elapsed_ms,omitempty"`
	Faces     []face.Face `json:"faces,omitempty"`
	Error     string      `json:"error,omitempty"`
}

// MarshalJSON encodes r as {"file","width","height","detector","elapsed_ms","faces"} or, for a
// failed file, {"file","error"}.
func (r Result) MarshalJSON() ([]byte, error) {
	if r.Skipped {
		return json.Marshal(struct {
			File    string `json:"file"`
			Skipped bool   `json:"skipped"`
		}{r.File, true})
	}
	if r.Err != nil {
		return json.Marshal(jsonResult{File: r.File, Error: r.Err.Error()})
	}
	ms := r.Detection.ElapsedMS()
	faces := r.Detection.Faces
	if faces == nil {
		faces = []face.Face{}
	}
	return json.Marshal(struct {
		File      string      `json:"file"`
		Width     int         `json:"width"`
		Height    int         `json:"height"`
		Detector  string      `json:"detector"`
		ElapsedMS float64     `json:"elapsed_ms"`
		Faces     []face.Face `json:"faces"`
	}{r.File, r.Detection.Width, r.Detection.Height, r.Detection.Detector, ms, faces})
}

// Writer writes results one at a time in a format; Close finishes the output.
type Writer interface {
	Write(Result) error
	Close() error
}

// New returns a Writer for format (one of Formats).
func New(format string, w io.Writer) (Writer, error) {
	switch format {
	case "text":
		return &textWriter{w: w}, nil
	case "json":
		return &jsonWriter{w: w}, nil
	case "jsonl":
		return &jsonlWriter{enc: json.NewEncoder(w)}, nil
	case "csv":
		return newCSVWriter(w), nil
	case "wider":
		return &widerWriter{w: w}, nil
	}
	return nil, fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(Formats, ", "))
}

type jsonWriter struct {
	w     io.Writer
	count int
}

// Write streams the array element by element so a long batch is never held in memory.
func (j *jsonWriter) Write(r Result) error {
	b, err := json.MarshalIndent(r, "  ", "  ")
	if err != nil {
		return err
	}
	sep := "[\n  "
	if j.count > 0 {
		sep = ",\n  "
	}
	j.count++
	_, err = fmt.Fprintf(j.w, "%s%s", sep, b)
	return err
}

func (j *jsonWriter) Close() error {
	end := "\n]\n"
	if j.count == 0 {
		end = "[]\n"
	}
	_, err := io.WriteString(j.w, end)
	return err
}

// Record is Result's form in a results file (--results): the audit record of one input, with
// what identifies the version read and what was written. Documented in the README.
type Record struct {
	File     string      `json:"file"`
	ETag     string      `json:"etag,omitempty"`
	Size     int64       `json:"size,omitempty"`
	Width    int         `json:"width,omitempty"`
	Height   int         `json:"height,omitempty"`
	Detector string      `json:"detector,omitempty"`
	Faces    []face.Face `json:"faces"`
	Outputs  []string    `json:"outputs,omitempty"`
	Skipped  bool        `json:"skipped,omitempty"`
	Error    string      `json:"error,omitempty"`
}

// NewRecord is r as a results-file record; faces is null for a failed or skipped input.
func NewRecord(r Result) Record {
	rec := Record{File: r.File, ETag: r.ETag, Size: r.Size, Outputs: r.Outputs, Skipped: r.Skipped}
	switch {
	case r.Err != nil:
		rec.Error = r.Err.Error()
	case !r.Skipped:
		rec.Width, rec.Height, rec.Detector = r.Detection.Width, r.Detection.Height, r.Detection.Detector
		rec.Faces = r.Detection.Faces
		if rec.Faces == nil {
			rec.Faces = []face.Face{}
		}
	}
	return rec
}

// NewResults writes results as JSON Lines of Records.
func NewResults(w io.Writer) Writer { return &recordWriter{enc: json.NewEncoder(w)} }

type recordWriter struct{ enc *json.Encoder }

func (j *recordWriter) Write(r Result) error { return j.enc.Encode(NewRecord(r)) }
func (j *recordWriter) Close() error         { return nil }

type jsonlWriter struct{ enc *json.Encoder }

func (j *jsonlWriter) Write(r Result) error { return j.enc.Encode(r) }
func (j *jsonlWriter) Close() error         { return nil }

// csvHeader: one row per face; a file without faces has one row with empty face columns, a failed
// file one row with only file and error.
var csvHeader = func() []string {
	h := []string{"file", "width", "height", "detector", "face", "x", "y", "w", "h", "confidence"}
	for _, n := range face.LandmarkNames {
		h = append(h, n+"_x", n+"_y")
	}
	return append(h, "error")
}()

type csvWriter struct {
	cw *csv.Writer
}

func newCSVWriter(w io.Writer) *csvWriter {
	c := &csvWriter{cw: csv.NewWriter(w)}
	_ = c.cw.Write(csvHeader)
	return c
}

func (c *csvWriter) Write(r Result) error {
	if r.Skipped {
		return nil // nothing was detected in it this time
	}
	if r.Err != nil {
		row := make([]string, len(csvHeader))
		row[0], row[len(row)-1] = r.File, r.Err.Error()
		return c.cw.Write(row)
	}
	d := r.Detection
	base := []string{r.File, strconv.Itoa(d.Width), strconv.Itoa(d.Height), d.Detector}
	if len(d.Faces) == 0 {
		return c.cw.Write(append(base, make([]string, len(csvHeader)-len(base))...))
	}
	for i, f := range d.Faces {
		row := append(slices.Clone(base), strconv.Itoa(i+1), strconv.Itoa(f.X), strconv.Itoa(f.Y),
			strconv.Itoa(f.W), strconv.Itoa(f.H), ftoa(f.Confidence))
		for j := range face.LandmarkNames {
			if j < len(f.Landmarks) {
				row = append(row, ftoa(f.Landmarks[j][0]), ftoa(f.Landmarks[j][1]))
			} else {
				row = append(row, "", "")
			}
		}
		if err := c.cw.Write(append(row, "")); err != nil {
			return err
		}
	}
	return nil
}

func (c *csvWriter) Close() error {
	c.cw.Flush()
	return c.cw.Error()
}

// widerWriter writes the WIDER FACE prediction format: the image name without extension, the face
// count, then "x y w h score" per face. Failed files are left out (they are reported on stderr).
type widerWriter struct{ w io.Writer }

func (ww *widerWriter) Write(r Result) error {
	if r.Err != nil || r.Skipped {
		return nil
	}
	name := strings.TrimSuffix(filepath.Base(r.File), filepath.Ext(r.File))
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%d\n", name, len(r.Detection.Faces))
	for _, f := range r.Detection.Faces {
		fmt.Fprintf(&b, "%d %d %d %d %s\n", f.X, f.Y, f.W, f.H, ftoa(f.Confidence))
	}
	_, err := io.WriteString(ww.w, b.String())
	return err
}

func (ww *widerWriter) Close() error { return nil }

// textWriter is the readable form shown on a terminal: a line per file, then a line per face.
type textWriter struct{ w io.Writer }

func (t *textWriter) Write(r Result) error {
	if r.Skipped {
		_, err := fmt.Fprintf(t.w, "%s: skipped (its outputs exist)\n", r.File)
		return err
	}
	if r.Err != nil {
		_, err := fmt.Fprintf(t.w, "%s: error: %v\n", r.File, r.Err)
		return err
	}
	d := r.Detection
	noun := "faces"
	if len(d.Faces) == 1 {
		noun = "face"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d %s  (%dx%d, %s, %.1f ms)\n", r.File, len(d.Faces), noun, d.Width, d.Height, d.Detector, d.ElapsedMS())
	for i, f := range d.Faces {
		fmt.Fprintf(&b, "  #%-3d x=%-5d y=%-5d w=%-5d h=%-5d confidence %.2f\n", i+1, f.X, f.Y, f.W, f.H, f.Confidence)
	}
	_, err := io.WriteString(t.w, b.String())
	return err
}

func (t *textWriter) Close() error { return nil }

func ftoa(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

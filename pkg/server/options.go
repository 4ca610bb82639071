package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/facectl/facectl/pkg/face"
)

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

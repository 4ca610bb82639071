package cli

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// Tolerances of the golden comparisons: detections are deterministic on one machine, but another
// CPU or OpenCV build may move a box by a pixel or a score in the third decimal.
const (
	pxTol   = 2.0
	confTol = 0.02
)

var (
	elapsedJSON = regexp.MustCompile(`("elapsed_ms":\s*)[0-9.]+`)
	elapsedText = regexp.MustCompile(`, [0-9.]+ ms\)`)
)

// normalise removes what changes from run to run: the elapsed time.
func normalise(out string) string {
	out = elapsedJSON.ReplaceAllString(out, "${1}0")
	return elapsedText.ReplaceAllString(out, ", 0.0 ms)")
}

// checkGolden compares got (normalised) with testdata/golden/name using the format's tolerant
// comparison, or rewrites the file with -update.
func checkGolden(t *testing.T, name, format, got string) {
	t.Helper()
	path := filepath.Join(goldenDir, name)
	got = normalise(got)
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	wantB, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v (run go test ./pkg/cli -run %s -update to create it)", err, t.Name())
	}
	want := string(wantB)
	var diffs []string
	switch format {
	case "json":
		diffs = compareJSON("", []byte(got), wantB)
	case "jsonl":
		g, w := strings.Split(strings.TrimSpace(got), "\n"), strings.Split(strings.TrimSpace(want), "\n")
		if len(g) != len(w) {
			diffs = append(diffs, fmt.Sprintf("%d lines, want %d", len(g), len(w)))
			break
		}
		for i := range g {
			diffs = append(diffs, compareJSON(fmt.Sprintf("line %d", i+1), []byte(g[i]), []byte(w[i]))...)
		}
	case "csv":
		diffs = compareCSV(got, want)
	default: // text, wider: token by token
		diffs = compareTokens(got, want)
	}
	if len(diffs) > 0 {
		t.Errorf("%s differs from %s beyond ±%v px / ±%v confidence:\n  %s\n--- got\n%s\n--- want\n%s",
			format, path, pxTol, confTol, strings.Join(diffs, "\n  "), got, want)
	}
}

func compareJSON(where string, got, want []byte) []string {
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		return []string{where + ": output is not JSON: " + err.Error()}
	}
	if err := json.Unmarshal(want, &w); err != nil {
		return []string{where + ": golden file is not JSON: " + err.Error()}
	}
	var diffs []string
	walkJSON(where, "", g, w, &diffs)
	return diffs
}

func walkJSON(path, key string, g, w any, diffs *[]string) {
	switch wv := w.(type) {
	case map[string]any:
		gv, ok := g.(map[string]any)
		if !ok || len(gv) != len(wv) {
			*diffs = append(*diffs, fmt.Sprintf("%s: %v, want %v", path, g, w))
			return
		}
		for k := range wv {
			walkJSON(path+"."+k, k, gv[k], wv[k], diffs)
		}
	case []any:
		gv, ok := g.([]any)
		if !ok || len(gv) != len(wv) {
			*diffs = append(*diffs, fmt.Sprintf("%s: %d elements, want %d", path, len(gv), len(wv)))
			return
		}
		for i := range wv {
			walkJSON(fmt.Sprintf("%s[%d]", path, i), key, gv[i], wv[i], diffs)
		}
	case float64:
		gv, ok := g.(float64)
		tol := pxTol
		if key == "confidence" {
			tol = confTol
		}
		if !ok || math.Abs(gv-wv) > tol {
			*diffs = append(*diffs, fmt.Sprintf("%s: %v, want %v", path, g, w))
		}
	default:
		if fmt.Sprint(g) != fmt.Sprint(w) {
			*diffs = append(*diffs, fmt.Sprintf("%s: %v, want %v", path, g, w))
		}
	}
}

func compareCSV(got, want string) []string {
	g, err := csv.NewReader(strings.NewReader(got)).ReadAll()
	if err != nil {
		return []string{"output is not CSV: " + err.Error()}
	}
	w, err := csv.NewReader(strings.NewReader(want)).ReadAll()
	if err != nil {
		return []string{"golden file is not CSV: " + err.Error()}
	}
	if len(g) != len(w) {
		return []string{fmt.Sprintf("%d rows, want %d", len(g), len(w))}
	}
	var diffs []string
	header := w[0]
	for i := range w {
		if len(g[i]) != len(w[i]) {
			diffs = append(diffs, fmt.Sprintf("row %d: %d columns, want %d", i+1, len(g[i]), len(w[i])))
			continue
		}
		for j := range w[i] {
			tol := pxTol
			if header[j] == "confidence" {
				tol = confTol
			}
			if !closeEnough(g[i][j], w[i][j], tol) {
				diffs = append(diffs, fmt.Sprintf("row %d %s: %q, want %q", i+1, header[j], g[i][j], w[i][j]))
			}
		}
	}
	return diffs
}

// compareTokens compares text and wider output word by word: numbers within the pixel tolerance,
// except a score (after "confidence", or the fifth number of a wider face line).
func compareTokens(got, want string) []string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	if len(g) != len(w) {
		return []string{fmt.Sprintf("%d lines, want %d", len(g), len(w))}
	}
	var diffs []string
	for i := range w {
		gt, wt := strings.Fields(g[i]), strings.Fields(w[i])
		if len(gt) != len(wt) {
			diffs = append(diffs, fmt.Sprintf("line %d: %q, want %q", i+1, g[i], w[i]))
			continue
		}
		for j := range wt {
			tol := pxTol
			if (j > 0 && wt[j-1] == "confidence") || (len(wt) == 5 && j == 4) {
				tol = confTol
			}
			gk, gv, _ := strings.Cut(gt[j], "=")
			wk, wv, _ := strings.Cut(wt[j], "=")
			if gk != wk && !closeEnough(gk, wk, tol) || !closeEnough(gv, wv, tol) {
				diffs = append(diffs, fmt.Sprintf("line %d word %d: %q, want %q", i+1, j+1, gt[j], wt[j]))
			}
		}
	}
	return diffs
}

// closeEnough: equal strings, or two numbers within tol.
func closeEnough(g, w string, tol float64) bool {
	if g == w {
		return true
	}
	gf, err1 := strconv.ParseFloat(g, 64)
	wf, err2 := strconv.ParseFloat(w, 64)
	return err1 == nil && err2 == nil && math.Abs(gf-wf) <= tol
}

// TestCompareTolerance checks that the golden comparisons accept the stated tolerance and no more,
// so a broken comparison cannot hide a broken detector.
func TestCompareTolerance(t *testing.T) {
	base := `{"file":"a.jpg","width":10,"height":10,"detector":"yunet","elapsed_ms":0,"faces":[{"x":10,"y":10,"w":5,"h":5,"confidence":0.9,"landmarks":[[1,2]]}]}`
	for _, tc := range []struct {
		got string
		ok  bool
	}{
		{base, true},
		{strings.Replace(base, `"x":10`, `"x":12`, 1), true},
		{strings.Replace(base, `"x":10`, `"x":13`, 1), false},
		{strings.Replace(base, `0.9`, `0.915`, 1), true},
		{strings.Replace(base, `0.9`, `0.93`, 1), false},
		{strings.Replace(base, `"yunet"`, `"lbp"`, 1), false},
		{strings.Replace(base, `,"landmarks":[[1,2]]`, `,"landmarks":[]`, 1), false},
	} {
		if got := len(compareJSON("", []byte(tc.got), []byte(base))) == 0; got != tc.ok {
			t.Errorf("compareJSON(%s) ok=%v, want %v", tc.got, got, tc.ok)
		}
	}
	text := "a.jpg: 1 face  (10x10, yunet, 0.0 ms)\n  #1   x=10    y=10    w=5     h=5     confidence 0.90\n"
	if d := compareTokens(strings.Replace(text, "x=10", "x=12", 1), text); len(d) != 0 {
		t.Errorf("text within tolerance rejected: %v", d)
	}
	if d := compareTokens(strings.Replace(text, "x=10", "x=13", 1), text); len(d) == 0 {
		t.Error("text beyond tolerance accepted")
	}
	if d := compareTokens(strings.Replace(text, "0.90", "0.95", 1), text); len(d) == 0 {
		t.Error("text confidence beyond tolerance accepted")
	}
	wider := "a\n1\n10 10 5 5 0.9\n"
	if d := compareTokens("a\n1\n10 10 5 5 0.93\n", wider); len(d) == 0 {
		t.Error("wider score beyond tolerance accepted")
	}
	if d := compareTokens("a\n1\n11 9 5 6 0.91\n", wider); len(d) != 0 {
		t.Errorf("wider within tolerance rejected: %v", d)
	}
	if d := compareCSV("file,confidence\na.jpg,0.95\n", "file,confidence\na.jpg,0.9\n"); len(d) == 0 {
		t.Error("csv confidence beyond tolerance accepted")
	}
	if !bytes.Equal([]byte(normalise(`"elapsed_ms": 12.5`)), []byte(`"elapsed_ms": 0`)) {
		t.Error("elapsed_ms not normalised")
	}
}

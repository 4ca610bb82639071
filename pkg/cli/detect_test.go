//go:build cgo

package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"hash/crc32"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/facectl/facectl/pkg/modelfile"
)

// goldenSet is the working directory of the format tests: shared photos linked under short names
// (so the output names are stable) and one text file posing as a JPEG.
func goldenSet(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	names := []string{"group_4.jpg", "messi5.jpg", "home.jpg", "astronaut.png"}
	for _, n := range names {
		if err := os.Symlink(photo(t, n), filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "notes.jpg"), []byte("shopping list\n"))
	t.Chdir(dir)
	return append(names, "notes.jpg")
}

// TestDetectFormats runs every output format on the same files against golden files.
func TestDetectFormats(t *testing.T) {
	isolate(t)
	files := goldenSet(t)
	golden := map[string]string{"text": "detect.txt", "json": "detect.json", "jsonl": "detect.jsonl", "csv": "detect.csv", "wider": "detect.wider"}
	for _, format := range []string{"text", "json", "jsonl", "csv", "wider"} {
		t.Run(format, func(t *testing.T) {
			r := run(t, nil, detectArgs(t, append([]string{"--format", format}, files...)...)...)
			wantCode(t, r, ExitFailure) // notes.jpg
			if !strings.Contains(r.stderr, "facectl: notes.jpg: unsupported image format") {
				t.Errorf("stderr does not report notes.jpg:\n%s", r)
			}
			checkGolden(t, golden[format], format, r.stdout)
			if format == "json" {
				var results []map[string]any
				if err := json.Unmarshal([]byte(r.stdout), &results); err != nil || len(results) != len(files) {
					t.Fatalf("json is not an array of %d results (%v):\n%s", len(files), err, r)
				}
			}
		})
	}
	t.Run("jsonl schema", func(t *testing.T) {
		r := run(t, nil, detectArgs(t, files...)...)
		res := parseJSONL(t, r)
		if len(res) != len(files) {
			t.Fatalf("%d results for %d files:\n%s", len(res), len(files), r)
		}
		wantFaces := map[string]int{"group_4.jpg": 4, "messi5.jpg": 1, "home.jpg": 0, "astronaut.png": 1}
		for i, jr := range res {
			if jr.File != files[i] {
				t.Errorf("result %d is %q, want %q (input order)", i, jr.File, files[i])
			}
			if jr.File == "notes.jpg" {
				if jr.Error == "" || jr.Faces != nil || jr.Width != 0 || jr.ElapsedMS != nil {
					t.Errorf("failed file result %+v, want only file and error", jr)
				}
				continue
			}
			if jr.Error != "" || jr.Detector != "yunet" || jr.Width == 0 || jr.Height == 0 || jr.ElapsedMS == nil || jr.Faces == nil {
				t.Errorf("result %+v is missing fields", jr)
			}
			if len(jr.Faces) != wantFaces[jr.File] {
				t.Errorf("%s: %d faces, want %d", jr.File, len(jr.Faces), wantFaces[jr.File])
			}
			for _, f := range jr.Faces {
				if len(f.Landmarks) != 5 || f.Confidence <= 0 || f.Confidence > 1 || f.X < 0 || f.Y < 0 || f.X+f.W > jr.Width || f.Y+f.H > jr.Height {
					t.Errorf("%s: bad face %+v", jr.File, f)
				}
			}
		}
	})
}

// TestDetectDefaultFormat: jsonl when stdout is not a terminal, text when it is.
func TestDetectDefaultFormat(t *testing.T) {
	isolate(t)
	p := photo(t, "messi5.jpg")
	r := run(t, nil, detectArgs(t, p)...)
	wantCode(t, r, ExitOK)
	if res := parseJSONL(t, r); len(res) != 1 || len(res[0].Faces) != 1 {
		t.Errorf("not one jsonl result with one face:\n%s", r)
	}
	r = runStreams(t, IOStreams{OutTTY: true}, detectArgs(t, p)...)
	wantCode(t, r, ExitOK)
	if !strings.HasPrefix(r.stdout, p+": 1 face  (548x342, yunet, ") || !strings.Contains(r.stdout, "confidence 0.9") {
		t.Errorf("not the text table on a terminal:\n%s", r)
	}
}

// TestDetectFilters checks each filter flag against the unfiltered detection of group_10.jpg.
func TestDetectFilters(t *testing.T) {
	isolate(t)
	p := photo(t, "group_10.jpg")
	all := parseJSONL(t, run(t, nil, detectArgs(t, p)...))[0].Faces
	if len(all) != 10 {
		t.Fatalf("group_10.jpg: %d faces, want 10", len(all))
	}
	byConf := slices.Clone(all)
	slices.SortStableFunc(byConf, func(a, b jsonFace) int { return cmpFloat(b.Confidence, a.Confidence) })
	biggest := slices.MaxFunc(all, func(a, b jsonFace) int { return a.W*a.H - b.W*b.H })
	// A threshold halfway between two scores, so that rounding cannot move a face across it.
	mid := (byConf[3].Confidence + byConf[4].Confidence) / 2
	for _, tc := range []struct {
		args []string
		want []jsonFace
	}{
		{[]string{"--min-confidence", ftoa(mid)}, byConf[:4]},
		{[]string{"--min-confidence", "1"}, nil},
		{[]string{"--max-faces", "3"}, byConf[:3]},
		{[]string{"--biggest"}, []jsonFace{biggest}},
		{[]string{"--best"}, byConf[:1]},
		{[]string{"--max-faces", "0"}, byConf},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := run(t, nil, detectArgs(t, append(tc.args, p)...)...)
			wantCode(t, r, ExitOK)
			got := parseJSONL(t, r)[0].Faces
			if len(got) != len(tc.want) {
				t.Fatalf("%d faces, want %d:\n%s", len(got), len(tc.want), r)
			}
			for i := range got {
				if got[i].X != tc.want[i].X || got[i].Y != tc.want[i].Y || got[i].Confidence != tc.want[i].Confidence {
					t.Errorf("face %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// TestDetectQuery: -q prints nothing and answers with the exit code, as Debian's facedetect -q.
func TestDetectQuery(t *testing.T) {
	isolate(t)
	for _, tc := range []struct {
		name  string
		files []string
		code  int
	}{
		{"face", []string{photo(t, "messi5.jpg")}, ExitOK},
		{"no face", []string{photo(t, "home.jpg"), photo(t, "baboon.jpg")}, ExitUsage},
		{"one face among negatives", []string{photo(t, "home.jpg"), photo(t, "messi5.jpg")}, ExitOK},
		{"bad file", []string{photo(t, "messi5.jpg"), filepath.Join(t.TempDir(), "missing.jpg")}, ExitFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, nil, detectArgs(t, append([]string{"-q"}, tc.files...)...)...)
			wantCode(t, r, tc.code)
			if r.stdout != "" {
				t.Errorf("-q printed on stdout:\n%s", r)
			}
		})
	}
}

// TestDetectUsageErrors: usage errors exit 2 with a message, before any file is read.
func TestDetectUsageErrors(t *testing.T) {
	isolate(t)
	p := photo(t, "messi5.jpg")
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"detect"}, "no input"},
		{detectArgs(t, "--format", "yaml", p), `--format "yaml": want one of text, json, jsonl, csv, wider`},
		{detectArgs(t, "--min-confidence", "1.5", p), "--min-confidence 1.5: want a number from 0 to 1"},
		{detectArgs(t, "--min-confidence", "high", p), `invalid argument "high" for "--min-confidence"`},
		{detectArgs(t, "--max-faces", "-1", p), "--max-faces -1"},
		{detectArgs(t, "--quality", "0", "--annotate", t.TempDir(), p), "--quality 0"},
		{detectArgs(t, "--crop-margin", "3", "--crop", t.TempDir(), p), "--crop-margin 3"},
		{detectArgs(t, "--pixelate", p), "--pixelate needs --blur DIR"},
		{detectArgs(t, "--no-such-flag", p), "unknown flag: --no-such-flag"},
		{detectArgs(t, "-", "-"), "standard input) may be given only once"},
		{detectArgs(t, "--workers", "-1", p), "workers -1 is negative"},
		{detectArgs(t, "--score-threshold", "2", p), "score threshold 2 is not in [0,1]"},
		{detectArgs(t, "--detector", "dlib", p), `detector "dlib" is not one of`},
		{detectArgs(t, "--log-level", "loud", p), `--log-level "loud"`},
		{[]string{"detecc", p}, `unknown command "detecc" for "facectl"; did you mean detect?`},
		{[]string{"version", "extra"}, `unknown command "extra" for "facectl version"`},
	} {
		t.Run(tc.msg, func(t *testing.T) {
			r := run(t, nil, tc.args...)
			wantCode(t, r, ExitUsage)
			if !strings.Contains(r.stderr, tc.msg) || r.stdout != "" {
				t.Errorf("want %q on stderr and nothing on stdout:\n%s", tc.msg, r)
			}
		})
	}
	t.Run("all problems at once", func(t *testing.T) {
		r := run(t, nil, detectArgs(t, "--format", "yaml", "--min-confidence", "2", p)...)
		wantCode(t, r, ExitUsage)
		if !strings.Contains(r.stderr, "--format") || !strings.Contains(r.stderr, "--min-confidence") {
			t.Errorf("not both problems reported:\n%s", r)
		}
	})
}

// pixelBomb is a valid PNG header (with a correct CRC) declaring 100000×100000 pixels.
func pixelBomb() []byte {
	var b bytes.Buffer
	b.Write([]byte("\x89PNG\r\n\x1a\n"))
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 100000)
	binary.BigEndian.PutUint32(ihdr[4:], 100000)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	return b.Bytes()
}

// TestDetectBadInputs: every kind of bad file in one batch is reported by name and reason on
// stderr and as an {"file","error"} result, the good files are still processed, and the exit
// code is 1.
func TestDetectBadInputs(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	t.Chdir(dir)
	for _, n := range []string{"group_4.jpg", "messi5.jpg"} {
		writeFile(t, n, readFile(t, photo(t, n)))
	}
	writeFile(t, "empty.jpg", nil)
	writeFile(t, "notes.jpg", []byte("not a photo, just text\n"))
	g10 := readFile(t, photo(t, "group_10.jpg"))
	writeFile(t, "truncated.jpg", g10[:len(g10)/2])
	writeFile(t, "big.png", readFile(t, photo(t, "astronaut.png"))) // 791 KB, over --max-bytes
	writeFile(t, "bomb.png", pixelBomb())
	if err := syscall.Mkfifo("pipe.jpg", 0o644); err != nil {
		t.Fatal(err)
	}
	// Should facectl ever block opening the pipe again, unblock it after a while (it then reads an
	// empty input and this test fails on the reason) instead of hanging until the test timeout.
	watchdog := time.AfterFunc(30*time.Second, func() {
		if f, err := os.OpenFile(filepath.Join(dir, "pipe.jpg"), os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	defer watchdog.Stop()
	if err := os.Symlink("loop.jpg", "loop.jpg"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir("photos", 0o755); err != nil { // a directory without images
		t.Fatal(err)
	}
	writeFile(t, "photos/readme.txt", []byte("x"))
	cases := []struct{ file, reason string }{
		{"group_4.jpg", ""},
		{"missing.jpg", "no such file or directory"},
		{"empty.jpg", "empty input"},
		{"notes.jpg", "unsupported image format"},
		{"truncated.jpg", "corrupt image"},
		{"big.png", "input too large"},
		{"bomb.png", "too many pixels"},
		{"pipe.jpg", "not a regular file (a named pipe)"},
		{"loop.jpg", "too many levels of symbolic links"},
		{"photos", "no image files"},
		{"nothing-*.jpg", "no file matches this pattern"},
		{"messi5.jpg", ""},
	}
	// Root reads any file whatever its mode, so a mode-000 file is unreadable only for others.
	if os.Geteuid() != 0 {
		writeFile(t, "secret.jpg", readFile(t, photo(t, "messi5.jpg")))
		if err := os.Chmod("secret.jpg", 0); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, struct{ file, reason string }{"secret.jpg", "permission denied"})
	} else {
		t.Log("running as root: the mode-000 case is covered by the named pipe and the symlink loop instead")
	}
	var args []string
	for _, c := range cases {
		args = append(args, c.file)
	}
	r := run(t, nil, detectArgs(t, append([]string{"--max-bytes", "300000"}, args...)...)...)
	wantCode(t, r, ExitFailure)
	res := parseJSONL(t, r)
	if len(res) != len(cases) {
		t.Fatalf("%d results for %d inputs:\n%s", len(res), len(cases), r)
	}
	failed := 0
	for i, c := range cases {
		got := res[i]
		if got.File != c.file {
			t.Errorf("result %d is for %q, want %q", i, got.File, c.file)
		}
		if c.reason == "" {
			if got.Error != "" || len(got.Faces) == 0 {
				t.Errorf("%s: good file not processed: %+v", c.file, got)
			}
			continue
		}
		failed++
		if !strings.Contains(got.Error, c.reason) || got.Faces != nil || got.Detector != "" {
			t.Errorf("%s: result %+v, want only an error containing %q", c.file, got, c.reason)
		}
		if line := "facectl: " + c.file + ": "; !strings.Contains(r.stderr, line) || !strings.Contains(r.stderr, c.reason) {
			t.Errorf("stderr does not report %s with %q", c.file, c.reason)
		}
	}
	if want := "facectl: " + itoa(failed) + " of " + itoa(len(cases)) + " files failed"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
	}
}

var itoa = strconv.Itoa

// TestDetectStdin reads a photo from standard input, alone and with other files.
func TestDetectStdin(t *testing.T) {
	isolate(t)
	data := readFile(t, photo(t, "group_4.jpg"))
	r := run(t, bytes.NewReader(data), detectArgs(t, "-")...)
	wantCode(t, r, ExitOK)
	res := parseJSONL(t, r)
	if len(res) != 1 || res[0].File != "-" || len(res[0].Faces) != 4 || res[0].Width != 1024 {
		t.Fatalf("stdin: want 4 faces in a 1024-wide image named -:\n%s", r)
	}
	out := t.TempDir()
	r = run(t, bytes.NewReader(data), detectArgs(t, "--annotate", out, photo(t, "messi5.jpg"), "-")...)
	wantCode(t, r, ExitOK)
	if res := parseJSONL(t, r); len(res) != 2 || res[1].File != "-" {
		t.Fatalf("want messi5.jpg then -:\n%s", r)
	}
	checkImage(t, filepath.Join(out, "stdin.jpg"), 1024, 484)
	r = run(t, strings.NewReader("hello"), detectArgs(t, "-")...)
	wantCode(t, r, ExitFailure)
	if !strings.Contains(r.stderr, "facectl: -: unsupported image format") {
		t.Errorf("text on stdin not reported:\n%s", r)
	}
}

// TestDetectDirectoriesAndGlobs: directories are searched recursively for image extensions in
// sorted order; globs expand like the shell's.
func TestDetectDirectoriesAndGlobs(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	t.Chdir(dir)
	face := readFile(t, photo(t, "messi5.jpg"))
	for _, n := range []string{"album/b.jpg", "album/a.JPEG", "album/sub/deeper/c.png", "album/sub/d.webp.txt", "album/z/notes.txt", "album/sub/e.bmp"} {
		writeFile(t, n, face) // content is a JPEG whatever the name; only the extension picks files
	}
	names := func(r runResult) []string {
		var out []string
		for _, jr := range parseJSONL(t, r) {
			out = append(out, jr.File)
		}
		return out
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"album"}, []string{"album/a.JPEG", "album/b.jpg", "album/sub/deeper/c.png", "album/sub/e.bmp"}},
		{[]string{"album/sub"}, []string{"album/sub/deeper/c.png", "album/sub/e.bmp"}},
		{[]string{"album/*.jpg"}, []string{"album/b.jpg"}},
		{[]string{"album/[ab].*"}, []string{"album/a.JPEG", "album/b.jpg"}},
		{[]string{"album/s*"}, []string{"album/sub/deeper/c.png", "album/sub/e.bmp"}},
		{[]string{"album/b.jpg", "album"}, []string{"album/b.jpg", "album/a.JPEG", "album/b.jpg", "album/sub/deeper/c.png", "album/sub/e.bmp"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := run(t, nil, detectArgs(t, tc.args...)...)
			wantCode(t, r, ExitOK)
			if got := names(r); !slices.Equal(got, tc.want) {
				t.Errorf("files %q, want %q\n%s", got, tc.want, r)
			}
		})
	}
	t.Run("outputs mirror the tree", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "annotated")
		r := run(t, nil, detectArgs(t, "--annotate", out, "album")...)
		wantCode(t, r, ExitOK)
		for _, n := range []string{"album/a.jpg", "album/b.jpg", "album/sub/deeper/c.jpg", "album/sub/e.jpg"} {
			checkImage(t, filepath.Join(out, n), 548, 342)
		}
	})
}

// checkImage decodes path and checks its size.
func checkImage(t *testing.T, path string, w, h int) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("output image: %v", err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatalf("output image %s does not decode: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("%s is %dx%d, want %dx%d", path, b.Dx(), b.Dy(), w, h)
	}
	return img
}

// meanDiff is the mean absolute difference of two images' grey levels inside r.
func meanDiff(a, b image.Image, r image.Rectangle) float64 {
	var sum, n float64
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ar, ag, ab, _ := a.At(x, y).RGBA()
			br, bg, bb, _ := b.At(x, y).RGBA()
			d := (float64(ar) + float64(ag) + float64(ab) - float64(br) - float64(bg) - float64(bb)) / 3 / 257
			if d < 0 {
				d = -d
			}
			sum += d
			n++
		}
	}
	return sum / n
}

// TestDetectOutputs covers --annotate, --crop, --crop-margin, --blur, --pixelate and --quality.
func TestDetectOutputs(t *testing.T) {
	isolate(t)
	out := t.TempDir()
	jpg, png := photo(t, "group_4.jpg"), photo(t, "astronaut.png")
	r := run(t, nil, detectArgs(t, "--annotate", out+"/a", "--crop", out+"/c", "--blur", out+"/b", jpg, png)...)
	wantCode(t, r, ExitOK)
	res := parseJSONL(t, r)
	orig := checkImage(t, jpg, 1024, 484)
	annotated := checkImage(t, out+"/a/group_4.jpg", 1024, 484)
	blurred := checkImage(t, out+"/b/group_4.jpg", 1024, 484)
	checkImage(t, out+"/a/astronaut.png", 512, 512)
	checkImage(t, out+"/b/astronaut.png", 512, 512)
	crops, _ := filepath.Glob(out + "/c/*")
	if want := len(res[0].Faces) + len(res[1].Faces); len(crops) != want {
		t.Errorf("%d crops %q, want %d (one per face)", len(crops), crops, want)
	}
	for i, f := range res[0].Faces {
		// The default margin is 25 % of the box on each side (clipped to the image).
		m := image.Rect(f.X-f.W/4, f.Y-f.H/4, f.X+f.W+f.W/4, f.Y+f.H+f.H/4).Intersect(image.Rect(0, 0, 1024, 484))
		checkImage(t, filepath.Join(out, "c", "group_4_face"+itoa(i+1)+".jpg"), m.Dx(), m.Dy())
		box := image.Rect(f.X, f.Y, f.X+f.W, f.Y+f.H)
		if d := meanDiff(orig, blurred, box); d < 8 {
			t.Errorf("face %d: blurred image differs from the input by only %.1f grey levels inside the box", i+1, d)
		}
		if d := meanDiff(orig, annotated, image.Rect(f.X, f.Y, f.X+2, f.Y+f.H)); d < 20 {
			t.Errorf("face %d: no box drawn on the annotated image (left edge differs by %.1f)", i+1, d)
		}
	}
	if d := meanDiff(orig, blurred, image.Rect(0, 400, 1024, 484)); d > 4 {
		t.Errorf("blur changed the image outside the faces by %.1f grey levels", d)
	}
	if len(res[1].Faces) == 1 {
		f := res[1].Faces[0]
		m := image.Rect(f.X-f.W/4, f.Y-f.H/4, f.X+f.W+f.W/4, f.Y+f.H+f.H/4).Intersect(image.Rect(0, 0, 512, 512))
		checkImage(t, out+"/c/astronaut_face1.png", m.Dx(), m.Dy())
	}

	t.Run("crop margin 0 is the box", func(t *testing.T) {
		dir := t.TempDir()
		r := run(t, nil, detectArgs(t, "--crop", dir, "--crop-margin", "0", jpg)...)
		wantCode(t, r, ExitOK)
		for i, f := range parseJSONL(t, r)[0].Faces {
			checkImage(t, filepath.Join(dir, "group_4_face"+itoa(i+1)+".jpg"), f.W, f.H)
		}
	})
	t.Run("pixelate", func(t *testing.T) {
		dir := t.TempDir()
		wantCode(t, run(t, nil, detectArgs(t, "--blur", dir, "--pixelate", jpg)...), ExitOK)
		pix := checkImage(t, filepath.Join(dir, "group_4.jpg"), 1024, 484)
		f := res[0].Faces[0]
		box := image.Rect(f.X, f.Y, f.X+f.W, f.Y+f.H)
		if d := meanDiff(pix, blurred, box); d < 2 {
			t.Errorf("pixelated face equals the blurred one (diff %.1f)", d)
		}
		if d := meanDiff(orig, pix, box); d < 8 {
			t.Errorf("pixelated face differs from the input by only %.1f", d)
		}
	})
	t.Run("quality", func(t *testing.T) {
		lo, hi := t.TempDir(), t.TempDir()
		wantCode(t, run(t, nil, detectArgs(t, "--annotate", lo, "--quality", "10", jpg)...), ExitOK)
		wantCode(t, run(t, nil, detectArgs(t, "--annotate", hi, "--quality", "95", jpg)...), ExitOK)
		l, h := len(readFile(t, lo+"/group_4.jpg")), len(readFile(t, hi+"/group_4.jpg"))
		if l*2 > h {
			t.Errorf("--quality 10 wrote %d bytes, --quality 95 %d: quality not applied", l, h)
		}
		checkImage(t, lo+"/group_4.jpg", 1024, 484)
	})
}

// TestDetectOverwrite: existing outputs are kept unless --force; inputs are never overwritten.
func TestDetectOverwrite(t *testing.T) {
	isolate(t)
	jpg := photo(t, "group_4.jpg")
	out := t.TempDir()
	wantCode(t, run(t, nil, detectArgs(t, "--annotate", out, "--crop", out, "--quality", "30", jpg)...), ExitOK)
	target := filepath.Join(out, "group_4.jpg")
	before := readFile(t, target)

	r := run(t, nil, detectArgs(t, "--annotate", out, "--quality", "95", jpg, photo(t, "messi5.jpg"))...)
	wantCode(t, r, ExitFailure)
	if !strings.Contains(r.stderr, "writing "+target+": output exists (use --force to overwrite)") {
		t.Errorf("refusal not reported:\n%s", r)
	}
	if !bytes.Equal(readFile(t, target), before) {
		t.Error("existing output changed without --force")
	}
	checkImage(t, filepath.Join(out, "messi5.jpg"), 548, 342) // the batch went on

	r = run(t, nil, detectArgs(t, "--annotate", out, "--crop", out, "--force", "--quality", "95", jpg)...)
	wantCode(t, r, ExitOK)
	if bytes.Equal(readFile(t, target), before) {
		t.Error("--force did not replace the output")
	}
	checkImage(t, target, 1024, 484)

	// The output directory is the input's own directory: the input must survive, even with --force.
	src := t.TempDir()
	in := filepath.Join(src, "group_4.jpg")
	writeFile(t, in, readFile(t, jpg))
	sum := sha256.Sum256(readFile(t, in))
	for _, flag := range []string{"--annotate", "--blur"} {
		r = run(t, nil, detectArgs(t, flag, src, "--force", in)...)
		wantCode(t, r, ExitFailure)
		if !strings.Contains(r.stderr, "refusing to overwrite the input file") {
			t.Errorf("%s: no refusal reported:\n%s", flag, r)
		}
		if sha256.Sum256(readFile(t, in)) != sum {
			t.Fatalf("%s --force overwrote the input", flag)
		}
	}
	// Through a symlink in the output directory pointing at the input.
	link := t.TempDir()
	if err := os.Symlink(in, filepath.Join(link, "group_4.jpg")); err != nil {
		t.Fatal(err)
	}
	r = run(t, nil, detectArgs(t, "--annotate", link, "--force", in)...)
	wantCode(t, r, ExitFailure)
	if sha256.Sum256(readFile(t, in)) != sum {
		t.Fatal("--force overwrote the input through a symlink")
	}
}

// TestDetectSameNames: two inputs with the same base name in one batch get distinct outputs.
func TestDetectSameNames(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	t.Chdir(dir)
	writeFile(t, "a/x.jpg", readFile(t, photo(t, "messi5.jpg")))
	writeFile(t, "b/x.jpg", readFile(t, photo(t, "group_4.jpg")))
	writeFile(t, "b/x.jpeg", readFile(t, photo(t, "gocv_face.jpg")))
	r := run(t, nil, detectArgs(t, "--annotate", "out", "--force", "a/x.jpg", "b/x.jpg", "b/x.jpeg")...)
	wantCode(t, r, ExitOK)
	checkImage(t, "out/x.jpg", 548, 342)
	checkImage(t, "out/x-2.jpg", 1024, 484)
	checkImage(t, "out/x-3.jpg", 640, 480)
}

// TestDetectMissingModel: the error says where facectl looked and how to get the model.
func TestDetectMissingModel(t *testing.T) {
	isolate(t)
	empty := t.TempDir()
	old := modelSearchPath
	modelSearchPath = func() []string { return []string{empty, "/nonexistent/facectl/models"} }
	t.Cleanup(func() { modelSearchPath = old })
	r := run(t, nil, "detect", photo(t, "messi5.jpg"))
	wantCode(t, r, ExitFailure)
	for _, want := range []string{"model not found", "looked for " + modelfile.FileName + " in " + empty + ", /nonexistent/facectl/models", "facectl model pull", "--model"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r)
		}
	}
	// The cascades need no model.
	r = run(t, nil, "detect", "--detector", "haar", photo(t, "grace_hopper.jpg"))
	wantCode(t, r, ExitOK)
	if res := parseJSONL(t, r); res[0].Detector != "haar" || len(res[0].Faces) == 0 {
		t.Errorf("haar without a model:\n%s", r)
	}
	// A file that is not the model is refused by its checksum.
	bogus := filepath.Join(t.TempDir(), "bogus.onnx")
	writeFile(t, bogus, []byte("not a network"))
	r = run(t, nil, "detect", "--model", bogus, photo(t, "messi5.jpg"))
	wantCode(t, r, ExitFailure)
	if !strings.Contains(r.stderr, "model checksum mismatch") {
		t.Errorf("bogus model not refused:\n%s", r)
	}
}

// TestModelPull installs the model from a local path, verifies it, and refuses a wrong checksum.
func TestModelPull(t *testing.T) {
	isolate(t)
	model := testModel(t)
	dir := filepath.Join(t.TempDir(), "models")
	r := run(t, nil, "model", "pull", "--from", model, "--dir", dir)
	wantCode(t, r, ExitOK)
	installed := filepath.Join(dir, modelfile.FileName)
	if strings.TrimSpace(r.stdout) != installed || !strings.Contains(r.stderr, "verified sha256 "+modelfile.SHA256) {
		t.Fatalf("pull output:\n%s", r)
	}
	sum := sha256.Sum256(readFile(t, installed))
	if hex.EncodeToString(sum[:]) != modelfile.SHA256 {
		t.Fatal("installed model has the wrong checksum")
	}
	// Installed where facectl looks: detect finds it without --model.
	old := modelSearchPath
	modelSearchPath = func() []string { return []string{dir} }
	t.Cleanup(func() { modelSearchPath = old })
	r = run(t, nil, "detect", photo(t, "messi5.jpg"))
	wantCode(t, r, ExitOK)
	r = run(t, nil, "model", "path")
	if strings.TrimSpace(r.stdout) != installed {
		t.Errorf("model path:\n%s", r)
	}

	for _, tc := range []struct{ name, dir string }{
		{"new dir", filepath.Join(t.TempDir(), "new")},
		{"existing dir", t.TempDir()},
	} {
		t.Run("wrong sha256 "+tc.name, func(t *testing.T) {
			wrong := strings.Repeat("0", 64)
			r := run(t, nil, "model", "pull", "--from", model, "--dir", tc.dir, "--sha256", wrong)
			wantCode(t, r, ExitFailure)
			if !strings.Contains(r.stderr, "model checksum mismatch") || !strings.Contains(r.stderr, "want "+wrong) || r.stdout != "" {
				t.Errorf("wrong checksum not refused:\n%s", r)
			}
			entries, err := os.ReadDir(tc.dir)
			if err == nil && len(entries) > 0 || err != nil && !os.IsNotExist(err) || tc.name == "new dir" && err == nil {
				t.Errorf("a refused pull left %v (err %v) in %s", entries, err, tc.dir)
			}
		})
	}
	t.Run("missing source", func(t *testing.T) {
		r := run(t, nil, "model", "pull", "--from", filepath.Join(t.TempDir(), "nope.onnx"), "--dir", t.TempDir())
		wantCode(t, r, ExitFailure)
		if !strings.Contains(r.stderr, "no such file") {
			t.Errorf("missing source:\n%s", r)
		}
	})
}

// TestVersion prints the OpenCV version facectl is built against.
func TestVersion(t *testing.T) {
	isolate(t)
	r := run(t, nil, "version")
	wantCode(t, r, ExitOK)
	for _, want := range []string{"facectl ", "commit:", "built:", "opencv:  4.6.0", "gocv:    0.31.0"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("version output lacks %q:\n%s", want, r)
		}
	}
}

//go:build cgo

package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/facectl/facectl/internal/testenv"
)

// s3Env is moto's S3 behind a proxy at the HTTP boundary that does what moto cannot: it answers
// 403 AccessDenied for the bucket "denied-bucket" (moto does not evaluate IAM), deletes an object
// named vanishing.jpg just before it is read (an object deleted between listing and reading),
// and counts requests.
type s3Env struct {
	raw   *s3.Client // straight to moto, for set-up and checks
	mu    sync.Mutex
	calls []string // "METHOD /bucket/key"
}

func newS3Env(t *testing.T) *s3Env {
	t.Helper()
	isolate(t)
	motoURL := testenv.StartMoto(t)
	testenv.FakeAWS(t)
	target, _ := url.Parse(motoURL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	e := &s3Env{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.calls = append(e.calls, r.Method+" "+r.URL.Path)
		e.mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/denied-bucket") {
			// S3's error body: https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			return
		}
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/vanishing.jpg") {
			bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
			if _, err := e.raw.DeleteObject(r.Context(), &s3.DeleteObjectInput{Bucket: &bucket, Key: &key}); err != nil {
				t.Errorf("deleting %s: %v", key, err)
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.URL)
	t.Setenv("FACECTL_S3_PATH_STYLE", "true")
	cfg, err := awsconfig.LoadDefaultConfig(t.Context(), awsconfig.WithBaseEndpoint(motoURL))
	if err != nil {
		t.Fatal(err)
	}
	e.raw = s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	return e
}

// count is the number of requests so far whose "METHOD /path" has prefix p.
func (e *s3Env) count(p string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, c := range e.calls {
		if strings.HasPrefix(c, p) {
			n++
		}
	}
	return n
}

func (e *s3Env) bucket(t *testing.T, name string) {
	t.Helper()
	if _, err := e.raw.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatal(err)
	}
}

func (e *s3Env) put(t *testing.T, bucket, key string, data []byte, contentType string) {
	t.Helper()
	if _, err := e.raw.PutObject(t.Context(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data), ContentType: &contentType}); err != nil {
		t.Fatal(err)
	}
}

func (e *s3Env) get(t *testing.T, bucket, key string) ([]byte, *s3.GetObjectOutput) {
	t.Helper()
	out, err := e.raw.GetObject(t.Context(), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("s3://%s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, out
}

// resultRecord is one line of --results.
type resultRecord struct {
	File     string     `json:"file"`
	ETag     string     `json:"etag"`
	Size     int64      `json:"size"`
	Width    int        `json:"width"`
	Height   int        `json:"height"`
	Detector string     `json:"detector"`
	Faces    []jsonFace `json:"faces"`
	Outputs  []string   `json:"outputs"`
	Skipped  bool       `json:"skipped"`
	Error    string     `json:"error"`
}

func parseRecords(t *testing.T, data []byte) []resultRecord {
	t.Helper()
	var out []resultRecord
	for line := range strings.Lines(string(data)) {
		var r resultRecord
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("results line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// TestDetectS3 runs detect on a prefix in moto's S3 with good and bad objects, then again with
// --skip-existing, then after losing one output as an interrupted run would.
func TestDetectS3(t *testing.T) {
	e := newS3Env(t)
	e.bucket(t, "photos-in")
	e.bucket(t, "photos-out")
	face := must(os.ReadFile(photo(t, "gocv_face.jpg")))
	objects := map[string][]byte{ // key under raw/ → content
		"gocv_face.jpg":              face,
		"group_4.jpg":                must(os.ReadFile(photo(t, "group_4.jpg"))),
		"camera.png":                 must(os.ReadFile(photo(t, "camera.png"))),
		"sub dir/grace hopper ü.jpg": must(os.ReadFile(photo(t, "grace_hopper.jpg"))),
		"notes.txt":                  []byte("not an image\n"),
		"truncated.jpg":              face[:len(face)/2],
		"big.jpg":                    append(slices.Clone(face), make([]byte, 300_000)...),
		"vanishing.jpg":              face,
	}
	local := t.TempDir()
	for k, data := range objects {
		ct := "image/jpeg"
		if strings.HasSuffix(k, ".png") {
			ct = "image/png"
		}
		e.put(t, "photos-in", "raw/"+k, data, ct)
		p := filepath.Join(local, "raw", k)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, data, 0o644)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range objects {
			if !yield("s3://photos-in/raw/" + k) {
				return
			}
		}
	})
	limit := "--max-bytes=200000" // over every photo above, under big.jpg

	// The same photos as local files, for the faces the S3 run must agree with.
	t.Chdir(local)
	lr := run(t, nil, detectArgs(t, limit, "raw")...)
	localFaces := map[string][]jsonFace{}
	for _, r := range parseJSONL(t, lr) {
		if r.Error == "" {
			localFaces[strings.TrimPrefix(r.File, "raw/")] = r.Faces
		}
	}
	if len(localFaces) != 5 { // the four photos and vanishing.jpg, which stays put on disk
		t.Fatalf("local run: want 5 images detected\n%s", lr)
	}

	args := detectArgs(t, limit, "--crop", "s3://photos-out/crops/", "--blur", "s3://photos-out/blurred/", "--results", "s3://photos-out/results.jsonl", "s3://photos-in/raw/")
	r := run(t, nil, args...)
	wantCode(t, r, ExitFailure)
	var files []string
	for _, jr := range parseJSONL(t, r) {
		files = append(files, jr.File)
	}
	if !slices.Equal(files, keys) {
		t.Fatalf("results in order %q, want key order %q", files, keys)
	}
	if n := e.count("GET /photos-in/raw/big.jpg"); n != 0 {
		t.Errorf("the oversized object was read %d times; its listed size should refuse it", n)
	}
	resData, _ := e.get(t, "photos-out", "results.jsonl")
	recs := parseRecords(t, resData)
	if len(recs) != len(keys) {
		t.Fatalf("results file has %d lines, want %d:\n%s", len(recs), len(keys), resData)
	}
	wantErr := map[string]string{
		"notes.txt":     "unsupported image format",
		"truncated.jpg": "",
		"big.jpg":       "exceeds the 0.19 MiB (200000 bytes) limit",
		"vanishing.jpg": "no such object (deleted since it was listed)",
	}
	for _, rec := range recs {
		k := strings.TrimPrefix(rec.File, "s3://photos-in/raw/")
		if want, bad := wantErr[k]; bad {
			if rec.Error == "" || !strings.Contains(rec.Error, want) || rec.Faces != nil {
				t.Errorf("%s: record %+v, want an error containing %q", k, rec, want)
			}
			continue
		}
		head, err := e.raw.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String("photos-in"), Key: aws.String("raw/" + k)})
		if err != nil {
			t.Fatal(err)
		}
		if rec.Error != "" || rec.ETag != aws.ToString(head.ETag) || rec.Size != int64(len(objects[k])) || rec.Detector != "yunet" {
			t.Errorf("%s: record %+v, want its ETag %s and size %d", k, rec, aws.ToString(head.ETag), len(objects[k]))
		}
		if !slices.EqualFunc(rec.Faces, localFaces[k], sameFace) || len(rec.Faces) == 0 && k != "camera.png" {
			t.Errorf("%s: faces %+v, local detect found %+v", k, rec.Faces, localFaces[k])
		}
		wantOut := len(rec.Faces) + 1
		if len(rec.Outputs) != wantOut {
			t.Errorf("%s: outputs %q, want %d (crops, then the blurred copy)", k, rec.Outputs, wantOut)
		}
		for _, o := range rec.Outputs {
			u := strings.TrimPrefix(o, "s3://photos-out/")
			_, out := e.get(t, "photos-out", u)
			wantCT := "image/jpeg"
			if strings.HasSuffix(k, ".png") {
				wantCT = "image/png"
			}
			md := out.Metadata
			if aws.ToString(out.ContentType) != wantCT || md["facectl-source-etag"] != rec.ETag || md["facectl-version"] == "" ||
				!strings.Contains(md["facectl-model"], "sha256:") || md["facectl-faces"] != fmt.Sprint(len(rec.Faces)) || md["facectl-source"] == "" {
				t.Errorf("%s: content type %q, metadata %v; want %s, the source ETag %s, version, model, face count", o, aws.ToString(out.ContentType), md, wantCT, rec.ETag)
			}
		}
	}
	if _, out := e.get(t, "photos-out", "blurred/raw/sub dir/grace hopper ü.jpg"); out.Metadata["facectl-source"] != "s3://photos-in/raw/sub%20dir/grace%20hopper%20%C3%BC.jpg" {
		t.Errorf("source metadata of a non-ASCII key: %q", out.Metadata["facectl-source"])
	}

	t.Run("skip-existing does nothing the second time", func(t *testing.T) {
		e.put(t, "photos-in", "raw/vanishing.jpg", face, "image/jpeg") // gone after the first run
		puts, gets := e.count("PUT /photos-out/"), e.count("GET /photos-in/raw/")
		r := run(t, nil, append(slices.Clone(args), "--skip-existing")...)
		wantCode(t, r, ExitFailure) // the bad objects are still bad
		if n := e.count("PUT /photos-out/") - puts; n != 1 {
			t.Errorf("%d puts, want 1 (the results file)", n)
		}
		if n := e.count("GET /photos-in/raw/") - gets; n != 3 {
			// notes.txt, truncated.jpg, and vanishing.jpg (deleted again as it is read) have no
			// outputs, so they are read again; nothing else is.
			t.Errorf("%d object reads, want 3 (the bad objects)", n)
		}
		for _, jr := range parseJSONL(t, r) {
			k := strings.TrimPrefix(jr.File, "s3://photos-in/raw/")
			if _, bad := wantErr[k]; !bad && !jr.Skipped {
				t.Errorf("%s was not skipped:\n%s", k, r)
			}
		}
	})

	t.Run("skip-existing finishes an interrupted run", func(t *testing.T) {
		// A run stopped after group_4's crops but before its blurred copy.
		if _, err := e.raw.DeleteObject(t.Context(), &s3.DeleteObjectInput{Bucket: aws.String("photos-out"), Key: aws.String("blurred/raw/group_4.jpg")}); err != nil {
			t.Fatal(err)
		}
		r := run(t, nil, append(slices.Clone(args), "--skip-existing")...)
		wantCode(t, r, ExitFailure)
		skipped := 0
		for _, jr := range parseJSONL(t, r) {
			if jr.Skipped {
				skipped++
			}
			if strings.HasSuffix(jr.File, "group_4.jpg") && (jr.Skipped || jr.Error != "" || len(jr.Faces) != 4) {
				t.Errorf("group_4.jpg should be detected again, its crops kept and its blurred copy written:\n%s", r)
			}
		}
		if skipped != 3 {
			t.Errorf("%d inputs skipped, want the 3 other photos\n%s", skipped, r)
		}
		e.get(t, "photos-out", "blurred/raw/group_4.jpg")
	})
}

func sameFace(a, b jsonFace) bool {
	return a.X == b.X && a.Y == b.Y && a.W == b.W && a.H == b.H && a.Confidence == b.Confidence && slices.Equal(a.Landmarks, b.Landmarks)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestDetectS3Refusals: problems found before any work, with nothing read or written.
func TestDetectS3Refusals(t *testing.T) {
	e := newS3Env(t)
	e.bucket(t, "photos-in")
	e.put(t, "photos-in", "raw/a.jpg", must(os.ReadFile(photo(t, "gocv_face.jpg"))), "image/jpeg")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing bucket", []string{"s3://no-such-bucket/raw/"}, ExitFailure, "s3://no-such-bucket: no such bucket"},
		{"denied bucket", []string{"s3://denied-bucket/raw/"}, ExitFailure, "s3://denied-bucket: access denied"},
		{"missing output bucket", []string{"--blur", "s3://no-such-out/", "s3://photos-in/raw/"}, ExitFailure, "s3://no-such-out: no such bucket"},
		{"output inside input", []string{"--blur", "s3://photos-in/raw/blurred/", "s3://photos-in/raw/"}, ExitUsage, "overlaps input s3://photos-in/raw/"},
		{"results inside input", []string{"--results", "s3://photos-in/raw/r.jsonl", "s3://photos-in/raw/"}, ExitUsage, "overlaps input"},
		{"output over the input", []string{"--blur", "s3://photos-in/", "s3://photos-in/raw/a.jpg"}, ExitUsage, "overlaps input s3://photos-in/raw/a.jpg"},
		{"skip-existing with files", []string{"--blur", t.TempDir(), "--skip-existing", "s3://photos-in/raw/"}, ExitUsage, "--skip-existing needs s3:// outputs"},
		{"bad bucket name", []string{"s3://No_Such/"}, ExitFailure, "is not valid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.count("GET /photos-in/raw/a.jpg") + e.count("PUT ")
			r := run(t, nil, detectArgs(t, tc.args...)...)
			wantCode(t, r, tc.code)
			if !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
				t.Errorf("want only %q on stderr\n%s", tc.want, r)
			}
			if n := e.count("GET /photos-in/raw/a.jpg") + e.count("PUT ") - before; n != 0 {
				t.Errorf("%d objects read or written before the refusal", n)
			}
		})
	}
}

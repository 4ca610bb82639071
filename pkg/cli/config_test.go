package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// detectorOf runs detect on one photo with args and returns the detector named in the result and
// its face count.
func detectorOf(t *testing.T, args ...string) (string, int) {
	t.Helper()
	r := run(t, nil, append(append([]string{"detect"}, args...), photo(t, "group_10.jpg"))...)
	wantCode(t, r, ExitOK)
	res := parseJSONL(t, r)
	return res[0].Detector, len(res[0].Faces)
}

// TestConfigErrors: every problem of a config file is reported at once, naming the key and the
// file, as a usage error; so is a bad environment variable, naming the variable.
func TestConfigErrors(t *testing.T) {
	isolate(t)
	t.Chdir(t.TempDir())
	file := filepath.Join(t.TempDir(), "bad.yaml")
	writeFile(t, file, []byte(`detector:
  score_threshold: high
  pool_size: many
  workers: lots
  scor_threshold: 0.5
  max_bytes: [1, 2]
colour: blue
log:
  level: debug
`))
	t.Setenv("FACECTL_DETECTOR_NMS_THRESHOLD", "tight")
	t.Setenv("FACECTL_DETECTOR_DETECTION_SIZE", "640") // valid: not reported
	r := run(t, nil, detectArgs(t, "--config", file, photo(t, "messi5.jpg"))...)
	wantCode(t, r, ExitUsage)
	for _, want := range []string{
		`config file ` + file + `: key "detector.score_threshold": invalid value "high": want a number`,
		`config file ` + file + `: key "detector.pool_size": invalid value "many": want a whole number`,
		`config file ` + file + `: key "detector.workers": invalid value "lots": want a whole number`,
		`config file ` + file + `: key "detector.max_bytes": invalid value [1 2]: want a whole number`,
		`config file ` + file + `: unknown key "detector.scor_threshold"`,
		`config file ` + file + `: unknown key "colour"`,
		`environment variable FACECTL_DETECTOR_NMS_THRESHOLD: invalid value "tight": want a number`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if n := strings.Count(r.stderr, "score_threshold\": invalid"); n != 1 {
		t.Errorf("the bad score_threshold is reported %d times, want once", n)
	}
	if strings.Contains(r.stderr, "DETECTION_SIZE") || r.stdout != "" {
		t.Errorf("unexpected report or output")
	}
	if t.Failed() {
		t.Logf("%s", r)
	}

	t.Run("env alone", func(t *testing.T) {
		isolate(t)
		t.Setenv("FACECTL_DETECTOR_POOL_SIZE", "2.5")
		t.Setenv("FACECTL_DETECTOR_WORKERS", "x")
		r := run(t, nil, detectArgs(t, photo(t, "messi5.jpg"))...)
		wantCode(t, r, ExitUsage)
		if !strings.Contains(r.stderr, "environment variable FACECTL_DETECTOR_POOL_SIZE: invalid value \"2.5\": want a whole number") ||
			!strings.Contains(r.stderr, "environment variable FACECTL_DETECTOR_WORKERS: invalid value \"x\": want a whole number") {
			t.Errorf("bad env value not reported:\n%s", r)
		}
	})
	t.Run("valid value out of range", func(t *testing.T) {
		isolate(t)
		t.Setenv("FACECTL_DETECTOR_SCORE_THRESHOLD", "1.5")
		r := run(t, nil, detectArgs(t, photo(t, "messi5.jpg"))...)
		wantCode(t, r, ExitUsage)
		if !strings.Contains(r.stderr, "score threshold 1.5 is not in [0,1]") {
			t.Errorf("out-of-range value not reported:\n%s", r)
		}
	})
	t.Run("section not a mapping", func(t *testing.T) {
		isolate(t)
		writeFile(t, file, []byte("detector: yunet\n"))
		r := run(t, nil, detectArgs(t, "--config", file, photo(t, "messi5.jpg"))...)
		wantCode(t, r, ExitUsage)
		if !strings.Contains(r.stderr, `config file `+file+`: "detector" must be a mapping of keys`) {
			t.Errorf("scalar section not reported:\n%s", r)
		}
	})
	t.Run("not YAML", func(t *testing.T) {
		isolate(t)
		writeFile(t, file, []byte("detector:\n  name: [yunet\n"))
		r := run(t, nil, detectArgs(t, "--config", file, photo(t, "messi5.jpg"))...)
		if r.code == ExitOK || !strings.Contains(r.stderr, file) {
			t.Errorf("broken YAML not reported with the file name:\n%s", r)
		}
	})
	_ = os.Remove(file)
}

// TestLogSource: log.source (--log-source, FACECTL_LOG_SOURCE) adds the logging call's file and
// line to every record; without it records carry none.
func TestLogSource(t *testing.T) {
	isolate(t)
	t.Chdir(t.TempDir())
	for _, tc := range []struct {
		name string
		env  string
		args []string
		want bool
	}{
		{name: "default", want: false},
		{name: "flag", args: []string{"--log-source"}, want: true},
		{name: "env", env: "true", want: true},
		{name: "flag over env", env: "true", args: []string{"--log-source=false"}, want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("FACECTL_LOG_SOURCE", tc.env)
			file := filepath.Join(t.TempDir(), "init.yaml")
			r := run(t, nil, append(tc.args, "deploy", "init", "--file", file)...)
			wantCode(t, r, ExitOK)
			if got := strings.Contains(r.stderr, "source=") && strings.Contains(r.stderr, "deploy_init.go:"); got != tc.want {
				t.Errorf("source in the log = %v, want %v:\n%s", got, tc.want, r.stderr)
			}
		})
	}
}

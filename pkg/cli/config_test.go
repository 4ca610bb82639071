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

// TestConfigPrecedence: flag > FACECTL_* environment > config file > default, for a string key
// (detector.name, visible as "detector" in the result) and a number (detector.score_threshold:
// group_10.jpg's ten faces all score between 0.92 and 0.95, so 0.99 keeps none).
func TestConfigPrecedence(t *testing.T) {
	model := testModel(t)
	for _, tc := range []struct {
		name  string
		file  string // ./facectl.yaml
		env   map[string]string
		flags []string
		want  string
		faces int
	}{
		{name: "default", want: "yunet", faces: 10},
		{name: "file", file: "detector:\n  name: lbp\n", want: "lbp"},
		{name: "env over file", file: "detector:\n  name: lbp\n", env: map[string]string{"FACECTL_DETECTOR_NAME": "haar"}, want: "haar"},
		{name: "flag over env and file", file: "detector:\n  name: lbp\n", env: map[string]string{"FACECTL_DETECTOR_NAME": "haar"}, flags: []string{"--detector", "yunet"}, want: "yunet", faces: 10},
		{name: "flag over file", file: "detector:\n  name: haar\n", flags: []string{"--detector", "lbp"}, want: "lbp"},
		{name: "file score", file: "detector:\n  score_threshold: 0.99\n", want: "yunet", faces: 0},
		{name: "env score over file", file: "detector:\n  score_threshold: 0.99\n", env: map[string]string{"FACECTL_DETECTOR_SCORE_THRESHOLD": "0.5"}, want: "yunet", faces: 10},
		{name: "flag score over env", env: map[string]string{"FACECTL_DETECTOR_SCORE_THRESHOLD": "0.5"}, flags: []string{"--score-threshold", "0.99"}, want: "yunet", faces: 0},
		{name: "flag equal to the default still wins", file: "detector:\n  score_threshold: 0.99\n", flags: []string{"--score-threshold", "0.7"}, want: "yunet", faces: 10},
		{name: "model from env", env: map[string]string{"FACECTL_DETECTOR_MODEL": model}, want: "yunet", faces: 10},
		{name: "model from file", file: "detector:\n  model: " + model + "\n", want: "yunet", faces: 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			t.Chdir(t.TempDir())
			if tc.file != "" {
				writeFile(t, "facectl.yaml", []byte(tc.file))
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := tc.flags
			if tc.env["FACECTL_DETECTOR_MODEL"] == "" && !strings.Contains(tc.file, "model:") {
				args = append(args, "--model", model)
			}
			det, faces := detectorOf(t, args...)
			if det != tc.want {
				t.Errorf("detector %q, want %q", det, tc.want)
			}
			if tc.want == "yunet" && faces != tc.faces {
				t.Errorf("%d faces, want %d", faces, tc.faces)
			}
		})
	}
}

// TestConfigFileLookup: --config FILE, else ./facectl.yaml, else $XDG_CONFIG_HOME/facectl/config.yaml.
func TestConfigFileLookup(t *testing.T) {
	isolate(t)
	model := testModel(t)
	xdg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", xdg)
	t.Chdir(t.TempDir())
	writeFile(t, filepath.Join(xdg, "facectl", "config.yaml"), []byte("detector:\n  name: haar\n"))
	if det, _ := detectorOf(t, "--model", model); det != "haar" {
		t.Errorf("XDG config: detector %q, want haar", det)
	}
	writeFile(t, "facectl.yaml", []byte("detector:\n  name: lbp\n"))
	if det, _ := detectorOf(t, "--model", model); det != "lbp" {
		t.Errorf("./facectl.yaml over XDG: detector %q, want lbp", det)
	}
	explicit := filepath.Join(t.TempDir(), "other.yaml")
	writeFile(t, explicit, []byte("detector:\n  name: yunet\n  model: "+model+"\n"))
	if det, _ := detectorOf(t, "--config", explicit); det != "yunet" {
		t.Errorf("--config over ./facectl.yaml: detector %q, want yunet", det)
	}
	// The log section: the file's level applies to the logger.
	writeFile(t, explicit, []byte("detector:\n  model: "+model+"\nlog:\n  level: debug\n"))
	r := run(t, nil, "--config", explicit, "detect", photo(t, "messi5.jpg"))
	wantCode(t, r, ExitOK)
	if !strings.Contains(r.stderr, "detectors loaded") {
		t.Errorf("log.level debug from the file not applied:\n%s", r)
	}
	r = run(t, nil, "--config", filepath.Join(t.TempDir(), "nope.yaml"), "detect", photo(t, "messi5.jpg"))
	wantCode(t, r, ExitUsage)
	if !strings.Contains(r.stderr, "config file") || !strings.Contains(r.stderr, "nope.yaml") {
		t.Errorf("missing --config file not reported:\n%s", r)
	}
}

// TestConfigErrors: every problem of a config file is reported at once, naming the key and the
// file, as a usage error; so is a bad environment variable, naming the variable.
func TestConfigErrors(t *testing.T) {
	isolate(t)
	t.Chdir(t.TempDir())
	file := filepath.Join(t.TempDir(), "bad.yaml")
	writeFile(t, file, []byte(`detector:
  score_threshold: high
  workers: many
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
		`config file ` + file + `: key "detector.workers": invalid value "many": want a whole number`,
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
		t.Setenv("FACECTL_DETECTOR_WORKERS", "2.5")
		r := run(t, nil, detectArgs(t, photo(t, "messi5.jpg"))...)
		wantCode(t, r, ExitUsage)
		if !strings.Contains(r.stderr, "environment variable FACECTL_DETECTOR_WORKERS: invalid value \"2.5\": want a whole number") {
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
			if got := strings.Contains(r.stderr, "source=") && strings.Contains(r.stderr, "deploy.go:"); got != tc.want {
				t.Errorf("source in the log = %v, want %v:\n%s", got, tc.want, r.stderr)
			}
		})
	}
}

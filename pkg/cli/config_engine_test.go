//go:build cgo

package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

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

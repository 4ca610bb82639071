package imagerun

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWindowsPathsInTheContainer (run under Wine by test/wine): on Windows the working
// directory, the mounts, absolute path arguments and path-valued variables name the host's
// drive paths as Docker Desktop shares them, C:\Users\me as /c/Users/me.
func TestWindowsPathsInTheContainer(t *testing.T) {
	// Not t.TempDir: Wine 8 fails the directory deletion Go 1.26's os.RemoveAll uses
	// (FileDispositionInformationEx); os.Remove's RemoveDirectory works there and on Windows.
	wd, err := os.MkdirTemp("", "imagerun")
	if err != nil {
		t.Fatal(err)
	}
	album := filepath.Join(wd, "album")
	t.Cleanup(func() { _ = os.Remove(album); _ = os.Remove(wd) })
	if err := os.Mkdir(album, 0o755); err != nil {
		t.Fatal(err)
	}
	vol := filepath.VolumeName(wd)
	if len(vol) != 2 || vol[1] != ':' {
		t.Fatalf("the temp dir %s is not on a drive", wd)
	}
	inContainer := "/" + strings.ToLower(vol[:1]) + filepath.ToSlash(wd[2:])
	cfg := filepath.Join(wd, "aws", "config")
	r := &Runner{Image: "img", WorkDir: wd, Environ: []string{}}
	args, err := r.dockerArgs(Run{
		Args:  []string{"detect", album, `album\a.jpg`, "--annotate=" + filepath.Join(wd, "out")},
		Reads: []string{"album", cfg},
		Env:   []string{"AWS_CONFIG_FILE=" + cfg},
	})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(args, " ")
	for _, want := range []string{
		" -w " + inContainer + " ",
		"type=bind,source=" + album + ",target=" + inContainer + "/album,readonly",
		" -e AWS_CONFIG_FILE=" + inContainer + "/aws/config ",
		" img detect " + inContainer + "/album album/a.jpg --annotate=" + inContainer + "/out",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("docker %s\nlacks %q", joined, want)
		}
	}
	if strings.Contains(joined, "--user") {
		t.Errorf("docker %s: --user has no meaning for Docker Desktop on Windows", joined)
	}
}

package codec

import (
	"debug/elf"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/facectl/facectl/internal/testenv"
)

// TestFacectlDoesNotLinkImgcodecs builds facectl as users get it (scripts/build.sh) and checks
// that it no longer needs OpenCV's imgcodecs, which on Debian brings GDAL and about a hundred
// more libraries: a gocv.IMDecode or IMEncode creeping back into production code fails here.
func TestFacectlDoesNotLinkImgcodecs(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "facectl")
	cmd := exec.Command("scripts/build.sh", bin)
	cmd.Dir = testenv.RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/build.sh: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	for _, lib := range libs {
		if strings.HasPrefix(lib, "libopencv_imgcodecs") {
			t.Errorf("facectl needs %s; production code must decode and encode through pkg/codec", lib)
		}
	}
	for _, want := range []string{"libjpeg.so.62", "libpng16.so.16", "libwebp.so.7", "libopencv_dnn.so.406"} {
		if !slices.Contains(libs, want) {
			t.Errorf("facectl does not need %s (needs %v): is this the build it should be?", want, libs)
		}
	}
}

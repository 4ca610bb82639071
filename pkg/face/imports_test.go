package face

import (
	"os/exec"
	"strings"
	"testing"
)

// TestOnlyVisionAndRenderUseOpenCV keeps OpenCV (gocv, cgo) inside pkg/vision, pkg/render and
// pkg/codec, so that everything else, the HTTP server first, builds and tests without cgo.
func TestOnlyVisionAndRenderUseOpenCV(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`, "github.com/facectl/facectl/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := map[string]bool{
		"github.com/facectl/facectl/pkg/vision": true,
		"github.com/facectl/facectl/pkg/render": true,
		// The image codecs decode into and encode from gocv Mats.
		"github.com/facectl/facectl/pkg/codec": true,
		// Test photos made with OpenCV, imported only by those packages' tests.
		"github.com/facectl/facectl/internal/testenv/cvphoto": true,
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		checked++
		for _, imp := range fields[1:] {
			if strings.HasPrefix(imp, "gocv.io/") && !allowed[fields[0]] {
				t.Errorf("%s imports %s; only pkg/vision, pkg/render and pkg/codec may", fields[0], imp)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("go list listed only %d packages:\n%s", checked, out)
	}
}

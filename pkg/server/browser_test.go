//go:build cgo

package server

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/facectl/facectl/internal/testenv"

	"github.com/chromedp/chromedp"
)

// artifactDir is where tests leave files for people to look at: $FACECTL_TEST_ARTIFACTS/<test>
// when set (CI keeps it), else the test's temporary directory.
func artifactDir(t *testing.T) string {
	t.Helper()
	base := os.Getenv("FACECTL_TEST_ARTIFACTS")
	if base == "" {
		return t.TempDir()
	}
	dir := filepath.Join(base, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser starts headless Debian Chromium with the flags that keep it off the network.
func browser(t *testing.T) context.Context {
	t.Helper()
	if os.Getenv("FACECTL_TEST_SKIP_BROWSER") == "1" {
		t.Skip("FACECTL_TEST_SKIP_BROWSER=1")
	}
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found: apt-get install -y chromium (or set FACECTL_TEST_SKIP_BROWSER=1)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	}
	actx, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel3)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

func TestPageInBrowser(t *testing.T) {
	r := realServer(t)
	ctx := browser(t)
	dir := artifactDir(t)
	group := testenv.PhotoPath(t, "group_10.jpg")
	text := filepath.Join(t.TempDir(), "notes.jpg")
	if err := os.WriteFile(text, []byte("this is not a photo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[any](expr))
		if err != nil {
			t.Fatalf("evaluating %s: %v", expr, err)
		}
		return fmt.Sprint(v)
	}
	shot := func(name string) {
		t.Helper()
		b, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		writeArtifact(t, dir, name, b)
	}
	upload := func(file string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.SetUploadFiles(chromedp.ID("image"), []string{file}),
			chromedp.Click(chromedp.ID("submit")),
		)
	}
	resultShown := chromedp.Steps(
		chromedp.WaitVisible(chromedp.ID("result")),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[bool](`document.querySelectorAll("#boxes .box").length === 10 && document.getElementById("photo").complete`)(ctx, tg)
			return err
		}),
	)

	do("uploading group_10.jpg",
		chromedp.Navigate(r.url+"/"),
		chromedp.WaitVisible(chromedp.ID("image")),
		upload(group),
		resultShown,
	)
	summary, status := eval(`document.getElementById("summary").textContent`), eval(`document.getElementById("status").textContent`)
	if !strings.Contains(summary, "10 faces") || !strings.Contains(status, "10 faces") {
		t.Errorf("summary %q / live status %q, want 10 faces", summary, status)
	}
	if n := eval(`document.querySelectorAll("#face-list li").length`); n != "10" {
		t.Errorf("%s faces listed, want 10", n)
	}
	if l := eval(`document.querySelector("#boxes .box").getAttribute("aria-label")`); !strings.Contains(l, "confidence") {
		t.Errorf("box aria-label %q", l)
	}
	// Keyboard: a focused box shows its confidence.
	do("focusing a box", chromedp.Focus(chromedp.CSS("#boxes .box")))
	if v := eval(`getComputedStyle(document.activeElement.querySelector(".tip")).visibility`); v != "visible" {
		t.Errorf("confidence tip on a focused box is %q, want visible", v)
	}
	shot("page-result.jpg")

	// Blur faces: the blurred photo appears, at full size.
	do("blurring",
		chromedp.Click(chromedp.ID("blur")),
		chromedp.WaitVisible(chromedp.ID("blurred")),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[bool](`document.getElementById("blurred-photo").naturalWidth > 0`)(ctx, tg)
			return err
		}),
	)
	if w := eval(`document.getElementById("blurred-photo").naturalWidth`); w != "1024" {
		t.Errorf("blurred image is %s px wide, want 1024", w)
	}
	shot("page-blurred.jpg")

	// A text file named .jpg gets a readable message, not raw JSON.
	do("uploading a text file", upload(text), chromedp.WaitVisible(chromedp.ID("error")))
	if msg := eval(`document.getElementById("error").textContent`); !strings.Contains(msg, "not a supported image") || strings.Contains(msg, "{") {
		t.Errorf("error shown as %q", msg)
	}
	shot("page-error.jpg")

	// Phone-sized viewport: the page fits without horizontal scrolling.
	do("phone viewport",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)),
		chromedp.Navigate(r.url+"/"),
		chromedp.WaitVisible(chromedp.ID("image")),
		upload(group),
		resultShown,
	)
	if sw, cw := eval(`document.documentElement.scrollWidth`), eval(`document.documentElement.clientWidth`); sw != cw {
		t.Errorf("page is %s px wide in a %s px viewport", sw, cw)
	}
	shot("page-phone.jpg")
}

func writeArtifact(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

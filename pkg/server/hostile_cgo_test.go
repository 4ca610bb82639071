//go:build cgo

package server

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/facectl/facectl/internal/testenv"
)

// Finding 7: a second SIGTERM during the drain ends the real process at once.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	cmd, url, _ := serveProcess(t, "--drain-period", "60s", "--grace-period", "20s")
	if st, _ := get(t, url+"/readyz"); st.StatusCode != 200 {
		t.Fatalf("readyz = %d", st.StatusCode)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	cmd.Process.Signal(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if CheckHealth(ctx, url, time.Second) != nil {
			break // draining
		}
	}
	begin := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		// Generous for a loaded 2-core runner (process teardown included); an ignored second
		// signal would wait out the 60 s drain period.
		if took := time.Since(begin); took > 5*time.Second {
			t.Errorf("exited %s after the second SIGTERM", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10s after a second SIGTERM (drain period 60s)")
	}
}

// Finding 4 in a real browser with JavaScript off: the form posts to /upload with the key
// typed into its password field, and the result page comes back.
func TestFormWithKeyWithoutJavaScript(t *testing.T) {
	const key = "browser-key-0123456789"
	r := realServer(t, func(c *Config) { c.APIKeys = []string{key} })
	ctx := browser(t, chromedp.Flag("blink-settings", "scriptEnabled=false"))
	submit := func(k string) string {
		t.Helper()
		err := chromedp.Do(ctx,
			chromedp.Navigate(r.url+"/"),
			chromedp.WaitVisible(chromedp.ID("image")),
			chromedp.SetUploadFiles(chromedp.ID("image"), []string{testenv.PhotoPath(t, "group_10.jpg")}),
			chromedp.SendKeys(chromedp.ID("api-key"), k),
			chromedp.Click(chromedp.ID("submit")),
			chromedp.WaitVisible(chromedp.CSS("main h2")),
		)
		if err != nil {
			t.Fatalf("submitting the form: %v", err)
		}
		// With scripts running, app.js would send the photo with fetch and stay on "/".
		title, err := chromedp.Run(ctx, chromedp.Title())
		if err != nil {
			t.Fatal(err)
		}
		return title
	}
	if title := submit(key); !strings.Contains(title, "10 faces found") {
		t.Errorf("with the key: page %q, want the result page with 10 faces", title)
	}
	if title := submit("wrong-key-0123456789"); !strings.Contains(title, "Unauthorized") {
		t.Errorf("with a wrong key: page %q, want the 401 page", title)
	}
}

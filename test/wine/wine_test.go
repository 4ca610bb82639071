// Package wine_test runs the windows/amd64 portable facectl under Wine beside the linux/amd64
// portable build and checks that both say the same: version, deploy policy (with the config file
// in each system's user config directory), deploy init's file, deploy --dry-run against moto and
// Ctrl-C during a deploy's wait;
// and it runs pkg/imagerun's Windows-only tests under Wine.
// The test is skipped only when Wine is not installed; scripts/setup.sh --test installs it.
package wine_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/facectl/facectl/internal/testenv"
)

// findWine returns the wine loader for 64-bit programs: Debian's wine64 package puts it in
// /usr/lib/wine without a command on PATH unless the wine package is installed too.
func findWine(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"wine64", "wine", "/usr/lib/wine/wine64"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("Wine is not installed (apt-get install wine64; scripts/setup.sh --test installs it): the Windows build is not run")
	return ""
}

// build compiles ./cmd/facectl without cgo for goos/amd64 into dir.
func build(t *testing.T, dir, goos string) string {
	t.Helper()
	out := filepath.Join(dir, "facectl-"+goos)
	if goos == "windows" {
		out += ".exe"
	}
	cmd := exec.Command("go", "build", "-o", out, "./cmd/facectl")
	cmd.Dir = testenv.RepoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build for %s/amd64: %v\n%s", goos, err, b)
	}
	return out
}

// winePrefix is a fresh Wine prefix for the test: the variables that select it and its user's
// AppData\Roaming, which is where os.UserConfigDir points on Windows.
type winePrefix struct {
	vars    []string
	appData string
}

// env is the test's environment at the time of the call with the prefix's variables added.
func (p *winePrefix) env() []string { return append(os.Environ(), p.vars...) }

// newWinePrefix creates a prefix (wineboot), adds bcryptprimitives.dll where Wine lacks one, and
// stops its wineserver when the test ends.
func newWinePrefix(t *testing.T, wine string) *winePrefix {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "prefix")
	p := &winePrefix{vars: []string{"WINEPREFIX=" + dir, "WINEDEBUG=-all", "WINEDLLOVERRIDES=mscoree,mshtml="}}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	boot := exec.CommandContext(ctx, wine, "wineboot", "--init")
	boot.Env = p.env()
	if b, err := boot.CombinedOutput(); err != nil {
		t.Fatalf("wineboot: %v\n%s", err, b)
	}
	t.Cleanup(func() {
		server := exec.Command(filepath.Join(filepath.Dir(wine), "wineserver"), "-k")
		server.Env = p.env()
		_ = server.Run() // the prefix is removed with the temp dir either way
	})
	users, _ := filepath.Glob(filepath.Join(dir, "drive_c", "users", "*", "AppData", "Roaming"))
	for _, u := range users {
		if !strings.Contains(u, string(filepath.Separator)+"Public"+string(filepath.Separator)) {
			p.appData = u
		}
	}
	if p.appData == "" {
		t.Fatalf("wineboot made no user AppData\\Roaming under %s", dir)
	}
	if wineMajor(t, wine) < 9 {
		p.installProcessPrng(t, dir)
	}
	return p
}

// wineMajor is the major version of wine ("wine-8.0 (Debian 8.0~repack-4)" is 8).
func wineMajor(t *testing.T, wine string) int {
	t.Helper()
	out, err := exec.Command(wine, "--version").Output()
	m := regexp.MustCompile(`wine-(\d+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("wine --version: %v: %q", err, out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// installProcessPrng builds testdata/bcryptprimitives.c into the prefix's system32: Go 1.24 and
// later need its ProcessPrng, which Wine only has from version 9 on (Debian bookworm has 8).
func (p *winePrefix) installProcessPrng(t *testing.T, prefix string) {
	t.Helper()
	cc, err := exec.LookPath("x86_64-w64-mingw32-gcc")
	if err != nil {
		t.Fatal("x86_64-w64-mingw32-gcc not found: Go's Windows binaries need bcryptprimitives.dll, which this Wine lacks; apt-get install gcc-mingw-w64-x86-64-win32 (scripts/setup.sh --test installs it)")
	}
	out := filepath.Join(prefix, "drive_c", "windows", "system32", "bcryptprimitives.dll")
	if b, err := exec.Command(cc, "-O2", "-shared", "-s", "-o", out, "testdata/bcryptprimitives.c", "-ladvapi32").CombinedOutput(); err != nil {
		t.Fatalf("building bcryptprimitives.dll: %v\n%s", err, b)
	}
}

// result is what one run printed and its exit code.
type result struct {
	stdout, stderr string
	code           int
}

// run runs argv in dir with env and returns its output; a run that cannot start fails the test.
func run(t *testing.T, dir string, env []string, argv ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second // wine's helpers may hold the output pipes after a kill
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%v did not finish in time\nstdout:\n%s\nstderr:\n%s", argv, stdout.String(), stderr.String())
	}
	var exit *exec.ExitError
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%v: %v", argv, err)
	}
	return r
}

// TestWindowsBuildUnderWine: the Windows build prints what the Linux portable build prints.
func TestWindowsBuildUnderWine(t *testing.T) {
	wine := findWine(t)
	bins := t.TempDir()
	linux, windows := build(t, bins, "linux"), build(t, bins, "windows")
	prefix := newWinePrefix(t, wine)
	endpoint := testenv.StartMoto(t)
	testenv.FakeAWS(t)

	// Each build gets its own working directory and user config directory, with the same config
	// file in it: $XDG_CONFIG_HOME/facectl/config.yaml, %AppData%\facectl\config.yaml.
	linuxDir, windowsDir, xdg := t.TempDir(), t.TempDir(), t.TempDir()
	linuxEnv := append(os.Environ(), "XDG_CONFIG_HOME="+xdg)
	cfg := "deploy:\n  service: winesvc\n  cluster: winecluster\n"
	for _, d := range []string{filepath.Join(xdg, "facectl"), filepath.Join(prefix.appData, "facectl")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "config.yaml"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	both := func(t *testing.T, args ...string) (l, w result) {
		t.Helper()
		start := time.Now()
		l = run(t, linuxDir, linuxEnv, append([]string{linux}, args...)...)
		linuxTook := time.Since(start)
		start = time.Now()
		w = run(t, windowsDir, prefix.env(), append([]string{wine, windows}, args...)...)
		t.Logf("facectl %s: linux %s, windows under wine %s", strings.Join(args, " "), linuxTook.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		if l.code != 0 || w.code != 0 {
			t.Fatalf("facectl %s: exit %d on linux, %d under wine\nlinux stderr:\n%s\nwindows stderr:\n%s", strings.Join(args, " "), l.code, w.code, l.stderr, w.stderr)
		}
		return l, w
	}

	t.Run("version", func(t *testing.T) {
		l, w := both(t, "version")
		goLine := regexp.MustCompile(`(?m)^go: .*$`)
		if !strings.Contains(w.stdout, "windows/amd64") || !strings.Contains(w.stdout, "opencv:  none linked") {
			t.Errorf("the Windows build's version does not say which build it is:\n%s", w.stdout)
		}
		if goLine.ReplaceAllString(l.stdout, "") != goLine.ReplaceAllString(w.stdout, "") {
			t.Errorf("version differs beyond the platform:\nlinux:\n%s\nwindows:\n%s", l.stdout, w.stdout)
		}
	})

	t.Run("policy", func(t *testing.T) {
		for _, args := range [][]string{{"deploy", "policy"}, {"deploy", "policy", "--boundary"}, {"deploy", "policy", "--boundary-name"}} {
			l, w := both(t, args...)
			if l.stdout != w.stdout {
				t.Errorf("facectl %s differs:\nlinux:\n%s\nwindows:\n%s", strings.Join(args, " "), l.stdout, w.stdout)
			}
			// The config file in the user config directory was read on both.
			if !strings.Contains(w.stdout, "winesvc") {
				t.Errorf("facectl %s under wine did not read %%AppData%%\\facectl\\config.yaml (no service winesvc):\n%s", strings.Join(args, " "), w.stdout)
			}
		}
	})

	// pkg/imagerun's Windows-only tests: how detect and serve name the host's paths to Docker.
	t.Run("imagerun", func(t *testing.T) {
		exe := filepath.Join(bins, "imagerun.test.exe")
		cmd := exec.Command("go", "test", "-c", "-o", exe, "./pkg/imagerun")
		cmd.Dir = testenv.RepoRoot(t)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=windows", "GOARCH=amd64")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go test -c ./pkg/imagerun for windows: %v\n%s", err, b)
		}
		r := run(t, windowsDir, prefix.env(), wine, exe, "-test.run", "Windows", "-test.v")
		if r.code != 0 || !strings.Contains(r.stdout, "--- PASS: TestWindowsPathsInTheContainer") {
			t.Errorf("pkg/imagerun's Windows tests under wine: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})

	// Ctrl-C while deploy waits for the service (moto's tasks never run here): Wine turns SIGINT
	// into the console's CTRL_C_EVENT, which Go delivers as os.Interrupt, as on Windows.
	t.Run("interrupted wait", func(t *testing.T) {
		image := "127.0.0.1:5000/facectl@sha256:" + strings.Repeat("ef", 32)
		args := []string{"deploy", "--yes", "--image", image, "--endpoint-url", endpoint, "--service"}
		l := interrupted(t, linuxDir, linuxEnv, append([]string{linux}, append(args, "lin")...)...)
		w := interrupted(t, windowsDir, prefix.env(), append([]string{wine, windows}, append(args, "win")...)...)
		if l.code != 130 || w.code != 130 || lastLine(l.stderr) != "facectl: waiting for service lin: context canceled" ||
			strings.ReplaceAll(lastLine(w.stderr), "win", "lin") != lastLine(l.stderr) {
			t.Errorf("Ctrl-C during the wait: exit %d on linux, %d under wine\nlinux: %s\nwindows: %s", l.code, w.code, lastLine(l.stderr), lastLine(w.stderr))
		}
	})

	t.Run("init and dry run", func(t *testing.T) {
		both(t, "deploy", "init", "--file", "init.yaml", "--cluster", "winecluster")
		l, err := os.ReadFile(filepath.Join(linuxDir, "init.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		w, err := os.ReadFile(filepath.Join(windowsDir, "init.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(l, w) {
			t.Errorf("deploy init wrote different files (line endings?):\nlinux:\n%q\nwindows:\n%q", l, w)
		}
		image := "127.0.0.1:5000/facectl@sha256:" + strings.Repeat("ab", 32)
		for _, format := range []string{"text", "json"} {
			lr, wr := both(t, "deploy", "--config", "init.yaml", "--endpoint-url", endpoint, "--image", image, "--dry-run", "--output", format)
			if !strings.Contains(lr.stdout, "winecluster") {
				t.Errorf("the dry run's plan does not name the cluster:\n%s", lr.stdout)
			}
			if withoutSeconds(t, format, lr.stdout) != withoutSeconds(t, format, wr.stdout) {
				t.Errorf("deploy --dry-run --output %s differs:\nlinux:\n%s\nwindows:\n%s", format, lr.stdout, wr.stdout)
			}
		}
	})
}

// seconds is the time a run took in JSON output ("seconds": 0.103), the one thing two runs of
// the same plan may differ in.
var seconds = regexp.MustCompile(`"seconds": [0-9.e+-]+`)

// withoutSeconds zeroes the seconds fields of JSON output, after checking it is JSON; text
// output is returned as it is.
func withoutSeconds(t *testing.T, format, out string) string {
	t.Helper()
	if format != "json" {
		return out
	}
	if !json.Valid([]byte(out)) {
		t.Fatalf("--output json is not JSON:\n%s", out)
	}
	return seconds.ReplaceAllString(out, `"seconds": 0`)
}

// interrupted starts argv, sends it SIGINT once it logs that it waits for the deployment, and
// returns what it printed and its exit code.
func interrupted(t *testing.T, dir string, env []string, argv ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, append(env, "FACECTL_DEPLOY_WAIT_POLL_INTERVAL=100ms")
	cmd.WaitDelay = 10 * time.Second
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	sc := bufio.NewScanner(errPipe)
	for sc.Scan() {
		stderr.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "waiting for the deployment to complete") {
			time.Sleep(time.Second) // a poll or two in the wait
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%v did not stop after SIGINT\n%s", argv, r.stderr)
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%v: %v", argv, err)
	}
	return r
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

package container_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/facectl/facectl/internal/testenv"
	"github.com/facectl/facectl/pkg/modelfile"
)

// maxImageBytes is issue 11's size budget for the uncompressed image (327 MB before it).
const maxImageBytes = 120_000_000

// imageConfig is the part of `docker image inspect` the tests check.
type imageConfig struct {
	Size   int64
	Config struct {
		User         string
		Env          []string
		Entrypoint   []string
		Cmd          []string
		ExposedPorts map[string]struct{}
		StopSignal   string
		Healthcheck  struct{ Test []string }
	}
}

func TestImageConfig(t *testing.T) {
	image := buildImage(t)
	var cfgs []imageConfig
	if err := json.Unmarshal([]byte(docker(t, "image", "inspect", image)), &cfgs); err != nil || len(cfgs) != 1 {
		t.Fatalf("docker image inspect %s: %v", image, err)
	}
	c := cfgs[0]
	t.Logf("image %s: %d bytes (%.0f MB) uncompressed; built in %s", image, c.Size, float64(c.Size)/1e6, buildTime(hostPlatform).Round(time.Second))
	if c.Size > maxImageBytes {
		t.Errorf("image is %d bytes, over the %d budget", c.Size, maxImageBytes)
	}
	if u := c.Config.User; u == "" || u == "root" || u == "0" || strings.HasPrefix(u, "0:") {
		t.Errorf("USER = %q, want a non-root user", u)
	}
	checks := []struct {
		what      string
		got, want string
	}{
		{"ENTRYPOINT", strings.Join(c.Config.Entrypoint, " "), "facectl"},
		{"CMD", strings.Join(c.Config.Cmd, " "), "serve"},
		{"HEALTHCHECK", strings.Join(c.Config.Healthcheck.Test, " "), "CMD facectl health"},
		{"STOPSIGNAL", c.Config.StopSignal, "SIGTERM"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.what, ch.got, ch.want)
		}
	}
	if _, ok := c.Config.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("EXPOSE: %v, want 8080/tcp", c.Config.ExposedPorts)
	}
	if !contains(c.Config.Env, "MALLOC_ARENA_MAX=2") {
		t.Errorf("ENV %v lacks MALLOC_ARENA_MAX=2", c.Config.Env)
	}
}

// toolchainPackage matches Debian's compiler and build-tool packages (gcc-12-base, the
// runtime's base package, is not one).
var toolchainPackage = regexp.MustCompile(`^(gcc|g\+\+|cpp|clang|llvm|binutils|golang|make|pkg-config|pkgconf)(-[0-9.]+)?$|^binutils-|^golang-|^libgcc-[0-9]+-dev$`)

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// imageFile is one entry of an image's file system.
type imageFile struct {
	Type     byte
	Mode     int64
	Size     int64
	Linkname string
	Sha256   string
	Data     []byte // contents of regular files up to 64 KiB
}

// imageFiles returns the file system of image, by absolute path, read with `docker export` of a
// created (never started) container, so it needs nothing inside the image: no shell, no ls.
func imageFiles(t testing.TB, image string) map[string]imageFile {
	t.Helper()
	id := docker(t, "create", image)
	defer func() { _, _ = dockerErr("rm", "-f", id) }()
	cmd := exec.Command("docker", "export", id)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	files := map[string]imageFile{}
	tr := tar.NewReader(out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading docker export %s: %v", image, err)
		}
		f := imageFile{Type: h.Typeflag, Mode: h.Mode, Size: h.Size, Linkname: h.Linkname}
		if h.Typeflag == tar.TypeReg {
			sum := sha256.New()
			var small bytes.Buffer
			w := io.Writer(sum)
			if h.Size <= 64<<10 {
				w = io.MultiWriter(sum, &small)
			}
			if _, err := io.Copy(w, tr); err != nil {
				t.Fatal(err)
			}
			f.Sha256 = hex.EncodeToString(sum.Sum(nil))
			if h.Size <= 64<<10 {
				f.Data = small.Bytes()
			}
		}
		files["/"+strings.TrimPrefix(path.Clean(h.Name), "./")] = f
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("docker export %s: %v", image, err)
	}
	return files
}

// sharedLibrary matches shared-object file names (libc.so.6, ld-linux-x86-64.so.2, libfoo.so).
var sharedLibrary = regexp.MustCompile(`\.so(\.[0-9]+)*$`)

// TestImageContents looks inside the images of both architectures: no shell, no compiler, no Go
// toolchain, no -dev package, no headers; the model and the cascades in place; a package entry
// for the target architecture, with its copyright file, for every Debian package in the image;
// the user 10001; `facectl version` runs and names the platform.
func TestImageContents(t *testing.T) {
	for _, platform := range []string{hostPlatform, "linux/arm64"} {
		t.Run(platform, func(t *testing.T) {
			if platform == "linux/arm64" {
				requireQEMU(t)
			}
			image := buildImageFor(t, platform)
			arch := strings.TrimPrefix(platform, "linux/")
			version := docker(t, "run", "--rm", image, "version")
			t.Logf("facectl version in the image:\n%s", version)
			for _, want := range []string{"facectl container-test", "commit:  test", "opencv:  4.6.0", " " + platform} {
				if !strings.Contains(version, want) {
					t.Errorf("`facectl version` lacks %q", want)
				}
			}
			checkImageFiles(t, imageFiles(t, image), arch)
		})
	}
}

func checkImageFiles(t *testing.T, files map[string]imageFile, arch string) {
	var libs, libBytes int64
	for name, f := range files {
		base := path.Base(name)
		if f.Type == tar.TypeDir {
			continue
		}
		switch {
		case base == "sh" || base == "bash" || base == "dash" || base == "busybox":
			t.Errorf("shell in the image: %s", name)
		case contains([]string{"cc", "gcc", "g++", "c++", "ld", "as", "go", "make", "pkg-config", "apt", "dpkg", "ldd"}, base):
			t.Errorf("tool in the image: %s", name)
		case strings.HasPrefix(name, "/usr/include/") || strings.HasPrefix(name, "/usr/local/go/"):
			t.Errorf("headers or toolchain in the image: %s", name)
		case f.Type == tar.TypeReg && sharedLibrary.MatchString(base):
			libs++
			libBytes += f.Size
		}
	}
	t.Logf("%d files, %d shared libraries (%.1f MB)", len(files), libs, float64(libBytes)/1e6)

	model := files["/usr/share/facectl/models/"+modelfile.FileName]
	if model.Sha256 != modelfile.SHA256 {
		t.Errorf("model checksum %q, want %s", model.Sha256, modelfile.SHA256)
	}
	for _, f := range []string{"/usr/share/opencv4/lbpcascades/lbpcascade_frontalface.xml", "/usr/share/opencv4/haarcascades/haarcascade_frontalface_alt2.xml",
		"/etc/ssl/certs/ca-certificates.crt", "/usr/local/bin/facectl"} {
		if files[f].Type != tar.TypeReg || files[f].Size == 0 {
			t.Errorf("missing: %s", f)
		}
	}
	if tmp := files["/tmp"]; tmp.Type != tar.TypeDir || tmp.Mode&0o1777 != 0o1777 {
		t.Errorf("/tmp: type %c mode %o, want a sticky world-writable directory", tmp.Type, tmp.Mode)
	}
	if !strings.Contains(string(files["/etc/passwd"].Data), "facectl:x:10001:10001:") ||
		!strings.Contains(string(files["/etc/group"].Data), "facectl:x:10001:") {
		t.Errorf("no user and group 10001:\n%s%s", files["/etc/passwd"].Data, files["/etc/group"].Data)
	}
	osRelease := files["/usr/lib/os-release"].Data
	if !strings.Contains(string(osRelease), `VERSION_CODENAME=bookworm`) || files["/etc/os-release"].Type != tar.TypeSymlink {
		t.Errorf("os-release is not Debian bookworm's:\n%s", osRelease)
	}

	// The package metadata: one status entry per package, for this architecture (or all), each
	// with its copyright file, and no copyright file without an entry.
	pkgs := map[string]bool{}
	for name, f := range files {
		dir, pkg := path.Split(name)
		if dir != "/var/lib/dpkg/status.d/" || f.Type != tar.TypeReg {
			continue
		}
		pkgs[pkg] = true
		fields := map[string]string{}
		for _, line := range strings.Split(string(f.Data), "\n") {
			if k, v, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(k, " ") {
				fields[k] = v
			}
		}
		if fields["Package"] != pkg || fields["Version"] == "" || fields["Status"] != "install ok installed" {
			t.Errorf("status.d/%s: Package %q Version %q Status %q", pkg, fields["Package"], fields["Version"], fields["Status"])
		}
		if a := fields["Architecture"]; a != arch && a != "all" {
			t.Errorf("status.d/%s: Architecture %s in the %s image", pkg, a, arch)
		}
		if strings.HasSuffix(pkg, "-dev") || toolchainPackage.MatchString(pkg) {
			t.Errorf("package %s is in the runtime image", pkg)
		}
		if files["/usr/share/doc/"+pkg+"/copyright"].Size == 0 {
			t.Errorf("package %s has no /usr/share/doc/%s/copyright", pkg, pkg)
		}
	}
	for name := range files {
		if dir, file := path.Split(name); file == "copyright" && strings.HasPrefix(dir, "/usr/share/doc/") && !pkgs[path.Base(dir)] {
			t.Errorf("%s has no package entry", name)
		}
	}
	for _, want := range []string{"libc6", "libopencv-core406", "libopencv-dnn406", "opencv-data", "ca-certificates", "base-files"} {
		if !pkgs[want] {
			t.Errorf("package %s is not recorded in /var/lib/dpkg/status.d", want)
		}
	}
	names := make([]string, 0, len(pkgs))
	for p := range pkgs {
		names = append(names, p)
	}
	sort.Strings(names)
	t.Logf("%d packages: %s", len(names), strings.Join(names, " "))
}

// TestImageServes runs the image as a user would (`docker run -p 127.0.0.1:PORT:8080 IMAGE`),
// measures the time from `docker run` to ready, checks that the server runs as a non-root
// user, that group_10.jpg gets 10 faces (multipart and raw body), that Docker's health check
// reaches healthy, and that `docker stop` ends it gracefully.
func TestImageServes(t *testing.T) {
	image := buildImage(t)
	port := freePort(t)
	name := fmt.Sprintf("facectl-image-test-%d", port)
	start := time.Now()
	docker(t, "run", "-d", "--name", name, "-p", fmt.Sprintf("127.0.0.1:%d:8080", port), image)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := dockerErr("logs", "--tail", "50", name)
			t.Logf("container logs:\n%s", logs)
		}
		_, _ = dockerErr("rm", "-f", name)
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitReady(t, base+"/readyz", 60*time.Second)
	t.Logf("docker run to ready: %s", time.Since(start).Round(time.Millisecond))

	// No shell in the image: read the server's process status from this machine's /proc.
	status := procFile(t, name, "status")
	t.Logf("process 1: %s", regexp.MustCompile(`(?m)^(Uid|Gid):.*$`).FindAllString(status, -1))
	status = strings.TrimSpace(status[strings.Index(status, "\nUid:")+1:])
	uid := strings.Fields(strings.SplitN(status, "\n", 2)[0])
	if len(uid) < 2 || uid[1] == "0" {
		t.Errorf("the server runs as uid %v, want non-root", uid)
	} else if n, _ := strconv.Atoi(uid[1]); n < 1000 {
		t.Errorf("the server runs as uid %d, want a dedicated user (>= 1000)", n)
	}

	photo := testenv.ReadPhoto(t, "group_10.jpg")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := &http.Client{Timeout: 30 * time.Second}
	body, ct := multipartBody(t, "group_10.jpg", photo)
	for _, tc := range []struct {
		name, contentType string
		body              []byte
	}{
		{"multipart", ct, body},
		{"raw body", "image/jpeg", photo},
	} {
		res, err := detect(ctx, client, base, tc.body, tc.contentType)
		if err != nil {
			t.Errorf("%s upload: %v", tc.name, err)
			continue
		}
		if len(res.Faces) != 10 || res.Width != 1024 || res.Height != 603 {
			t.Errorf("%s upload: %d faces in %dx%d, want 10 in 1024x603", tc.name, len(res.Faces), res.Width, res.Height)
		}
	}

	// Docker's own HEALTHCHECK (`facectl health`) must report healthy.
	deadline := time.Now().Add(60 * time.Second)
	health := ""
	for time.Now().Before(deadline) {
		health = docker(t, "inspect", "-f", "{{.State.Health.Status}}", name)
		if health == "healthy" || health == "unhealthy" {
			break
		}
		<-time.After(500 * time.Millisecond)
	}
	t.Logf("health status %q %s after docker run", health, time.Since(start).Round(time.Second))
	if health != "healthy" {
		t.Errorf("health status %q, want healthy", health)
	}

	stopStart := time.Now()
	docker(t, "stop", "-t", "30", name)
	code := docker(t, "inspect", "-f", "{{.State.ExitCode}}", name)
	t.Logf("docker stop took %s, exit code %s", time.Since(stopStart).Round(time.Millisecond), code)
	if code != "0" {
		t.Errorf("exit code after SIGTERM %s, want 0 (graceful shutdown)", code)
	}
}

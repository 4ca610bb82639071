// Package imagerun runs facectl's face-engine commands (detect, serve) in the facectl container
// image through the local Docker engine. Builds of facectl without OpenCV (macOS, Windows, or any
// build with cgo off) use it, so that every command works wherever Docker does: the paths a
// command reads and writes are bind-mounted at the same place in the container, so that its
// arguments and what it prints need no translation.
package imagerun

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Repository is where facectl's release images are published.
const Repository = "ghcr.io/facectl/facectl"

// DefaultImage is the image matching a facectl binary of version: the release image of that
// version, or facectl:dev (what scripts/image.sh builds) for a development or snapshot build,
// which has no published image.
func DefaultImage(version string) string {
	if version == "" || version == "dev" || strings.Contains(version, "-dirty") || strings.HasSuffix(version, "-next") || strings.Contains(version, "SNAPSHOT") {
		return "facectl:dev"
	}
	return Repository + ":" + strings.TrimPrefix(version, "v")
}

// Port publishes a container port on the host.
type Port struct {
	// HostIP is the host address to bind ("" for all, as `docker run -p` does).
	HostIP string
	// HostPort and ContainerPort are the TCP ports.
	HostPort, ContainerPort int
}

// Run is one command to run in the image.
type Run struct {
	// Args are facectl's arguments, the command first (e.g. "detect", "--annotate", "out", "a.jpg").
	Args []string
	// Reads are host paths the command reads: files, directories or glob patterns. Their
	// directories are mounted read-only; a path that does not exist is not mounted, so the
	// command reports it missing as it would on the host.
	Reads []string
	// Writes are host directories the command writes into; each is created when missing and
	// mounted read-write.
	Writes []string
	// WriteFiles are host files the command writes; their directories are mounted read-write.
	WriteFiles []string
	// Stdin connects standard input.
	Stdin bool
	// Ports are published (serve).
	Ports []Port
	// Env are extra NAME=VALUE variables for the container.
	Env []string
}

// Runner runs commands in the image through the docker command line client.
type Runner struct {
	// Image is the facectl image to run.
	Image string
	// Docker is the docker binary; empty means "docker" from PATH.
	Docker string
	// Environ is docker's environment (DOCKER_HOST, DOCKER_CONTEXT and the variables passed
	// through); nil means os.Environ().
	Environ []string
	// WorkDir is the directory relative paths are resolved against; empty means the current one.
	WorkDir string
	// StopTimeout is how long a container gets to stop after ctx is cancelled (Ctrl-C), as
	// `docker stop -t`; zero means 10 s.
	StopTimeout time.Duration
	In          io.Reader
	Out, Err    io.Writer
}

// passEnvPrefixes are the host variables handed to the container: facectl's own settings and
// the AWS SDK's (credentials, region, endpoints, for s3:// arguments).
var passEnvPrefixes = []string{"FACECTL_", "AWS_"}

// ErrNoDocker means the docker client is missing or its engine does not answer.
var ErrNoDocker = errors.New("no Docker engine")

// ExitError is the command's own non-zero exit status in the container.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return "exit status " + strconv.Itoa(e.Code) }

// Check says, as an ErrNoDocker error with what to install, when there is no usable Docker
// engine; the caller names the command that needs it.
func (r *Runner) Check(ctx context.Context) error {
	path, err := exec.LookPath(r.docker())
	if err != nil {
		return fmt.Errorf("%w: the docker command is not installed (install Docker Desktop on macOS or Windows, docker.io or docker-ce on Linux)", ErrNoDocker)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "version", "--format", "{{.Server.Version}}")
	cmd.Env, cmd.Stdout, cmd.Stderr = r.environ(), &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: docker is installed but its engine does not answer (start Docker Desktop, or the docker service; check DOCKER_HOST): %s", ErrNoDocker, lastLine(out.String()))
	}
	return nil
}

// Exec runs one command in a new container, removed afterwards, with the caller's streams, and
// returns its exit status as an *ExitError. Cancelling ctx stops the container (SIGTERM, then
// SIGKILL after StopTimeout) rather than leaving it running.
func (r *Runner) Exec(ctx context.Context, run Run) error {
	args, err := r.dockerArgs(run)
	if err != nil {
		return err
	}
	var tail tailBuffer
	cmd := exec.Command(r.docker(), args...)
	cmd.Env = r.environ()
	cmd.Stdout = r.Out
	cmd.Stderr = io.MultiWriter(r.errWriter(), &tail)
	if run.Stdin {
		cmd.Stdin = r.In
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%w: %v", ErrNoDocker, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var waitErr error
	select {
	case waitErr = <-done:
	case <-ctx.Done():
		r.stop(containerName(args))
		waitErr = <-done
	}
	var exit *exec.ExitError
	switch {
	case waitErr == nil:
		return nil
	case errors.As(waitErr, &exit):
		code := exit.ExitCode()
		if code == 125 && ctx.Err() == nil {
			return r.runError(tail.String())
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &ExitError{Code: code}
	default:
		return waitErr
	}
}

// hasRegistry reports whether ref names a registry host (ghcr.io/…, localhost:5000/…).
func hasRegistry(ref string) bool {
	first, _, ok := strings.Cut(ref, "/")
	return ok && (strings.ContainsAny(first, ".:") || first == "localhost")
}

// runError explains docker's own failure (exit 125): above all a missing image.
func (r *Runner) runError(stderr string) error {
	s := strings.ToLower(stderr)
	if strings.Contains(s, "unable to find image") || strings.Contains(s, "no such image") || strings.Contains(s, "pull policy is never") || strings.Contains(s, "pull access denied") || strings.Contains(s, "manifest unknown") {
		return fmt.Errorf("the facectl image %s is not on this machine and could not be pulled: pull it (docker pull %s), build it (scripts/image.sh %s in a checkout), or name another with FACECTL_IMAGE", r.Image, r.Image, r.Image)
	}
	return fmt.Errorf("docker could not run %s: %s", r.Image, lastLine(stderr))
}

func (r *Runner) stop(name string) {
	t := r.StopTimeout
	if t <= 0 {
		t = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), t+10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.docker(), "stop", "-t", strconv.Itoa(int(t.Seconds())), name)
	cmd.Env = r.environ()
	_ = cmd.Run() // the container may have ended by itself meanwhile
}

// dockerArgs is the `docker run` command line for run.
func (r *Runner) dockerArgs(run Run) ([]string, error) {
	wd := r.WorkDir
	if wd == "" {
		var err error
		if wd, err = os.Getwd(); err != nil {
			return nil, err
		}
	}
	wd, err := filepath.Abs(wd)
	if err != nil {
		return nil, err
	}
	m := mounts{}
	for _, p := range run.Reads {
		m.read(absolute(wd, p))
	}
	for _, p := range run.Writes {
		dir := absolute(wd, p)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		m.write(dir)
	}
	for _, p := range run.WriteFiles {
		if dir := filepath.Dir(absolute(wd, p)); isDir(dir) {
			m.write(dir)
		}
	}
	args := []string{"run", "--rm", "--name", newName()}
	if !hasRegistry(r.Image) {
		// A local image (facectl:dev, what scripts/image.sh builds) is never on a registry: looking
		// for it on Docker Hub would only fail later and less clearly.
		args = append(args, "--pull", "never")
	}
	if run.Stdin {
		args = append(args, "-i")
	}
	if u := userFlag(); u != "" {
		args = append(args, "--user", u)
	}
	args = append(args, "-w", containerPath(wd))
	for _, mt := range m.list() {
		opt := "type=bind,source=" + mt.host + ",target=" + containerPath(mt.host)
		if !mt.rw {
			opt += ",readonly"
		}
		args = append(args, "--mount", opt)
	}
	for _, p := range run.Ports {
		spec := fmt.Sprintf("%d:%d", p.HostPort, p.ContainerPort)
		if p.HostIP != "" {
			spec = p.HostIP + ":" + spec
		}
		args = append(args, "-p", spec)
	}
	for _, kv := range r.environ() {
		name, _, _ := strings.Cut(kv, "=")
		for _, prefix := range passEnvPrefixes {
			if strings.HasPrefix(name, prefix) && name != "FACECTL_IMAGE" {
				args = append(args, "-e", name)
			}
		}
	}
	for _, kv := range run.Env {
		// A variable naming a host file (AWS_CONFIG_FILE=C:\Users\me\.aws\config) names it where
		// it is mounted.
		if name, val, ok := strings.Cut(kv, "="); ok && filepath.IsAbs(val) {
			kv = name + "=" + containerPath(val)
		}
		args = append(args, "-e", kv)
	}
	args = append(args, r.Image)
	for _, a := range run.Args {
		args = append(args, containerArg(wd, a))
	}
	return args, nil
}

// mount is one bind mount, the host directory at the same path in the container.
type mount struct {
	host string
	rw   bool
}

// mounts collects the directories to mount, each once, read-write when any use writes.
type mounts map[string]bool

func (m mounts) read(path string) {
	if path == "" {
		return
	}
	dir := globBase(path)
	if !isDir(dir) {
		dir = filepath.Dir(dir)
	}
	if _, seen := m[dir]; isDir(dir) && !seen {
		m[dir] = false
	}
}

func (m mounts) write(dir string) { m[dir] = true }

// list returns the mounts outermost first, leaving out a directory inside another mount of at
// least its access: Docker mounts nested directories in order, so the outer one must come first.
func (m mounts) list() []mount {
	dirs := make([]string, 0, len(m))
	for d := range m {
		dirs = append(dirs, d)
	}
	slices.SortFunc(dirs, func(a, b string) int { return len(a) - len(b) })
	var out []mount
	for _, d := range dirs {
		covered := slices.ContainsFunc(out, func(o mount) bool { return within(d, o.host) && (o.rw || !m[d]) })
		if !covered {
			out = append(out, mount{host: d, rw: m[d]})
		}
	}
	return out
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// globBase is the part of a path before its first glob metacharacter's element.
func globBase(path string) string {
	for strings.ContainsAny(path, "*?[") {
		path = filepath.Dir(path)
	}
	return path
}

func absolute(wd, p string) string {
	if p == "-" || strings.HasPrefix(p, "s3://") {
		return ""
	}
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(wd, p)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return p != "" && err == nil && fi.IsDir()
}

// containerPath is where a host path is in the container: the same path on Unix; on Windows
// C:\Users\me becomes /c/Users/me, as Docker Desktop writes host drives.
func containerPath(host string) string {
	if runtime.GOOS != "windows" {
		return host
	}
	p := filepath.ToSlash(host)
	if vol := filepath.VolumeName(host); len(vol) == 2 && vol[1] == ':' {
		p = "/" + strings.ToLower(vol[:1]) + p[2:]
	}
	return p
}

// containerArg rewrites an argument naming an absolute host path (also as --flag=PATH) for the
// container; relative paths stay as they are, as the container's working directory is the host's.
func containerArg(wd, a string) string {
	if runtime.GOOS != "windows" {
		return a
	}
	if name, val, ok := strings.Cut(a, "="); ok && strings.HasPrefix(name, "--") {
		return name + "=" + containerArg(wd, val)
	}
	if filepath.IsAbs(a) {
		return containerPath(a)
	}
	return filepath.ToSlash(a)
}

// userFlag runs the container as the calling user, so that what it writes is the user's.
func userFlag() string {
	if runtime.GOOS == "windows" {
		return ""
	}
	return fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid())
}

func newName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "facectl-run-" + hex.EncodeToString(b)
}

func containerName(args []string) string {
	if i := slices.Index(args, "--name"); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

func (r *Runner) docker() string {
	if r.Docker != "" {
		return r.Docker
	}
	return "docker"
}

func (r *Runner) environ() []string {
	if r.Environ != nil {
		return r.Environ
	}
	return os.Environ()
}

func (r *Runner) errWriter() io.Writer {
	if r.Err != nil {
		return r.Err
	}
	return io.Discard
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// tailBuffer keeps the last 4 KiB written to it: docker's own error is at the end of stderr.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// Docker is what the deployer needs from a container engine.
type Docker interface {
	// Build builds an image and tags it.
	Build(ctx context.Context, opts BuildOptions) error
	// Inspect describes a local image.
	Inspect(ctx context.Context, ref string) (ImageInfo, error)
	// Login stores credentials for a registry host.
	Login(ctx context.Context, host, user, password string) error
	// Push pushes a tagged image and returns the digest of the pushed manifest.
	Push(ctx context.Context, ref string) (digest string, err error)
}

// BuildOptions are the inputs of one image build.
type BuildOptions struct {
	// Dockerfile is the path of the Dockerfile.
	Dockerfile string
	// Context is the build context directory.
	Context string
	// Platform is the target platform, e.g. linux/arm64.
	Platform string
	// Tags are the references the image is tagged with.
	Tags []string
	// BuildArgs are KEY=VALUE build arguments.
	BuildArgs []string
}

// ImageInfo is what Inspect reports about a local image.
type ImageInfo struct {
	// ID is the image ID (config digest).
	ID string
	// OS is the image's operating system, e.g. linux.
	OS string
	// Architecture is the image's CPU architecture, e.g. amd64.
	Architecture string
	// RepoDigests are the registry digests docker knows for the image.
	RepoDigests []string
}

// Platform is the image's os/architecture, as docker spells platforms.
func (i ImageInfo) Platform() string { return i.OS + "/" + i.Architecture }

// DockerCLI runs the docker command line client. Its zero value uses `docker` from PATH with
// the caller's environment and discards build and push progress.
type DockerCLI struct {
	// Path is the docker binary; empty means "docker".
	Path string
	// ConfigDir, when set, is passed as DOCKER_CONFIG so logins do not touch ~/.docker.
	ConfigDir string
	// Progress receives the output of build and push (stderr in the CLI).
	Progress io.Writer

	mu sync.Mutex
	// loginDir is the temporary DOCKER_CONFIG of login and push when ConfigDir is empty, so the
	// registry token never lands in the user's ~/.docker/config.json; Close removes it.
	loginDir string
}

func (d *DockerCLI) command(ctx context.Context, args ...string) *exec.Cmd {
	return d.commandIn(ctx, d.ConfigDir, args...)
}

func (d *DockerCLI) commandIn(ctx context.Context, configDir string, args ...string) *exec.Cmd {
	path := d.Path
	if path == "" {
		path = "docker"
	}
	cmd := exec.CommandContext(ctx, path, args...)
	if configDir != "" {
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+configDir)
	}
	return cmd
}

// registryConfigDir is the DOCKER_CONFIG of login and push: ConfigDir when set, else a
// temporary one made on first use with the user's settings minus their credentials
// (auths, credsStore, credHelpers), and their cli-plugins (buildx), contexts and certificates
// linked in, so the same daemon and plugins are used.
func (d *DockerCLI) registryConfigDir() (string, error) {
	if d.ConfigDir != "" {
		return d.ConfigDir, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.loginDir != "" {
		return d.loginDir, nil
	}
	user := os.Getenv("DOCKER_CONFIG")
	if user == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("finding the docker configuration: %w", err)
		}
		user = filepath.Join(home, ".docker")
	}
	dir, err := os.MkdirTemp("", "facectl-docker-")
	if err != nil {
		return "", fmt.Errorf("making a docker configuration for the registry login: %w", err)
	}
	settings := map[string]any{}
	if b, err := os.ReadFile(filepath.Join(user, "config.json")); err == nil {
		_ = json.Unmarshal(b, &settings) // an unreadable config is docker's to complain about
	}
	for _, k := range []string{"auths", "credsStore", "credHelpers"} {
		delete(settings, k)
	}
	b, _ := json.Marshal(settings)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("making a docker configuration for the registry login: %w", err)
	}
	for _, sub := range []string{"cli-plugins", "contexts", "tls"} {
		if _, err := os.Stat(filepath.Join(user, sub)); err == nil {
			if err := os.Symlink(filepath.Join(user, sub), filepath.Join(dir, sub)); err != nil {
				_ = os.RemoveAll(dir)
				return "", fmt.Errorf("making a docker configuration for the registry login: %w", err)
			}
		}
	}
	d.loginDir = dir
	return dir, nil
}

// Close removes the temporary docker configuration holding the registry token.
func (d *DockerCLI) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.loginDir == "" {
		return nil
	}
	err := os.RemoveAll(d.loginDir)
	d.loginDir = ""
	return err
}

func (d *DockerCLI) progress() io.Writer {
	if d.Progress == nil {
		return io.Discard
	}
	return d.Progress
}

// run runs docker, streaming output to Progress and keeping its tail for the error message.
func (d *DockerCLI) run(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	cmd := d.command(ctx, args...)
	var out bytes.Buffer
	w := io.MultiWriter(&out, d.progress())
	cmd.Stdout, cmd.Stderr, cmd.Stdin = w, w, stdin
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("docker %s: %w: %s", args[0], err, tail(out.String(), 2000))
	}
	return out.String(), nil
}

// Build runs docker build.
func (d *DockerCLI) Build(ctx context.Context, o BuildOptions) error {
	args := []string{"build", "--file", o.Dockerfile}
	if o.Platform != "" {
		args = append(args, "--platform", o.Platform)
	}
	for _, t := range o.Tags {
		args = append(args, "--tag", t)
	}
	for _, a := range o.BuildArgs {
		args = append(args, "--build-arg", a)
	}
	args = append(args, o.Context)
	out, err := d.run(ctx, nil, args...)
	if err != nil && o.Platform != "" && strings.Contains(out, "does not match the specified platform") {
		// Docker's classic builder (no buildx) cannot build a Dockerfile whose build stage runs
		// on the build machine's platform (FROM --platform=$BUILDPLATFORM) for another one: it
		// refuses COPY --from that stage. facectl's own Dockerfile is such a one.
		return fmt.Errorf("%w\n\nbuilding for %s with this Dockerfile needs BuildKit: install the docker buildx plugin "+
			"(Docker Engine's docker-buildx-plugin package; for Debian's docker.io, which has none: "+
			"GOBIN=$HOME/.docker/cli-plugins go install github.com/docker/buildx/cmd/buildx@v0.38.2 && "+
			"mv ~/.docker/cli-plugins/buildx ~/.docker/cli-plugins/docker-buildx), or build the image with "+
			"`PLATFORM=%s scripts/image.sh TAG` from facectl's source, push it and deploy it with --image URI", err, o.Platform, o.Platform)
	}
	return err
}

// Inspect runs docker image inspect.
func (d *DockerCLI) Inspect(ctx context.Context, ref string) (ImageInfo, error) {
	cmd := d.command(ctx, "image", "inspect", "--format", "{{json .}}", ref)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return ImageInfo{}, fmt.Errorf("docker image inspect %s: %w: %s", ref, err, strings.TrimSpace(stderr.String()))
	}
	var raw struct {
		ID           string   `json:"Id"`
		OS           string   `json:"Os"`
		Architecture string   `json:"Architecture"`
		RepoDigests  []string `json:"RepoDigests"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return ImageInfo{}, fmt.Errorf("docker image inspect %s: decoding output: %w", ref, err)
	}
	return ImageInfo{ID: raw.ID, OS: raw.OS, Architecture: raw.Architecture, RepoDigests: raw.RepoDigests}, nil
}

// Login runs docker login with the password on stdin.
func (d *DockerCLI) Login(ctx context.Context, host, user, password string) error {
	dir, err := d.registryConfigDir()
	if err != nil {
		return err
	}
	cmd := d.commandIn(ctx, dir, "login", "--username", user, "--password-stdin", host)
	cmd.Stdin = strings.NewReader(password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker login %s: %w: %s", host, err, strings.TrimSpace(string(out)))
	}
	return nil
}

var pushDigestRE = regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`)

// Push runs docker push and reads the digest from its output.
func (d *DockerCLI) Push(ctx context.Context, ref string) (string, error) {
	dir, err := d.registryConfigDir()
	if err != nil {
		return "", err
	}
	cmd := d.commandIn(ctx, dir, "push", ref)
	var buf bytes.Buffer
	w := io.MultiWriter(&buf, d.progress())
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker push: %w: %s", err, tail(buf.String(), 2000))
	}
	out := buf.String()
	m := pushDigestRE.FindStringSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("docker push %s: no digest in its output: %s", ref, tail(out, 500))
	}
	return m[1], nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// GitShortSHA returns the short commit SHA of the git work tree containing dir, with a
// "-dirty" suffix when the tree has uncommitted changes.
func GitShortSHA(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "", fmt.Errorf("reading the git commit of %s (set deploy.image.tag or --tag instead): %w", dir, gitError(err))
	}
	tag := strings.TrimSpace(string(out))
	status, err := exec.CommandContext(ctx, "git", "-C", dir, "status", "--porcelain", "--untracked-files=no").Output()
	if err != nil {
		return "", fmt.Errorf("reading the git status of %s: %w", dir, gitError(err))
	}
	if len(bytes.TrimSpace(status)) > 0 {
		tag += "-dirty"
	}
	return tag, nil
}

// gitError keeps what git said ("not a git repository", "unknown revision HEAD"): an
// *exec.ExitError alone says only "exit status 128".
func gitError(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(bytes.TrimSpace(ee.Stderr)) > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err
}

package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClassicBuilderCrossBuildSaysWhatToDo: Docker's classic builder refuses a Dockerfile like
// facectl's (a build stage on the build machine's platform, the result copied into a stage for
// --platform). The error must say that BuildKit is needed and what to do without it, not only
// quote docker. Real engine, classic builder forced with DOCKER_BUILDKIT=0.
func TestClassicBuilderCrossBuildSaysWhatToDo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	requireTool(t, "docker", "install the Docker engine and CLI (apt-get install -y docker.io) and start dockerd")
	t.Setenv("DOCKER_BUILDKIT", "0")
	out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Arch}}").Output()
	if err != nil {
		t.Fatalf("docker version: %v", err)
	}
	host := strings.TrimSpace(string(out))
	other := map[string]string{"amd64": "linux/arm64", "arm64": "linux/amd64"}[host]
	if other == "" {
		t.Fatalf("engine architecture %q: expected amd64 or arm64", host)
	}

	// A base image of the engine's platform, made locally (docker import stamps the engine's).
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := "facectl-test/classic-base:" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	imp := exec.CommandContext(ctx, "sh", "-c", `tar -C "$1" -c x | docker import - "$2"`, "sh", dir, base)
	if b, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v\n%s", err, b)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "image", "rm", "-f", base, "facectl-test/classic-cross:1").Run() })
	df := "FROM --platform=linux/" + host + " " + base + " AS build\nWORKDIR /w\nFROM scratch\nCOPY --from=build /x /x\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}

	d := &DockerCLI{ConfigDir: t.TempDir(), Progress: testWriter{t}}
	err = d.Build(ctx, BuildOptions{Dockerfile: filepath.Join(dir, "Dockerfile"), Context: dir, Platform: other, Tags: []string{"facectl-test/classic-cross:1"}})
	if err == nil {
		t.Fatal("the classic builder built a cross-platform multi-stage Dockerfile; this test's premise is gone")
	}
	for _, want := range []string{"does not match the specified platform", "needs BuildKit", "docker buildx", "PLATFORM=" + other + " scripts/image.sh", "--image"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}

	// The same build for the engine's own platform is not touched by the hint.
	err = d.Build(ctx, BuildOptions{Dockerfile: filepath.Join(dir, "Dockerfile"), Context: dir, Platform: "linux/" + host, Tags: []string{"facectl-test/classic-cross:1"}})
	if err != nil {
		t.Errorf("building for the engine's own platform: %v", err)
	}
}

// TestLoginKeepsTheTokenOutOfTheUsersDockerConfig (issue 15 item 3): docker login for the push
// writes the registry token into a temporary DOCKER_CONFIG, never the user's config.json, yet
// keeps the user's settings and CLI plugins (buildx) working there; Close removes it. Real
// docker CLI and registry.
func TestLoginKeepsTheTokenOutOfTheUsersDockerConfig(t *testing.T) {
	requireTool(t, "docker", "install the Docker engine and CLI (apt-get install -y docker.io) and start dockerd")
	registry := startRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	user := t.TempDir()
	t.Setenv("DOCKER_CONFIG", user)
	orig := `{"auths":{"example.com":{"auth":"dXNlcjpwYXNz"}},"psFormat":"table {{.ID}}"}`
	if err := os.WriteFile(filepath.Join(user, "config.json"), []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	// A CLI plugin, as buildx is one: it must still be found under the temporary config.
	plugins := filepath.Join(user, "cli-plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	plugin := "#!/bin/sh\nif [ \"$1\" = docker-cli-plugin-metadata ]; then echo '{\"SchemaVersion\":\"0.1.0\",\"Vendor\":\"facectl test\",\"Version\":\"v0.0.1\",\"ShortDescription\":\"test\"}'; exit 0; fi\necho plugin-ran\n"
	if err := os.WriteFile(filepath.Join(plugins, "docker-facectltest"), []byte(plugin), 0o755); err != nil {
		t.Fatal(err)
	}

	d := &DockerCLI{}
	if err := d.Login(ctx, registry, "AWS", "secret-token"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(user, "config.json")); string(b) != orig {
		t.Errorf("the user's config.json changed:\n%s", b)
	}
	dir, _ := d.registryConfigDir()
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil || !strings.Contains(string(b), registry) || strings.Contains(string(b), "example.com") || !strings.Contains(string(b), "psFormat") {
		t.Errorf("temporary config = %s (%v): want the login, the user's settings, not their credentials", b, err)
	}
	if out, err := d.commandIn(ctx, dir, "facectltest").CombinedOutput(); err != nil || !strings.Contains(string(out), "plugin-ran") {
		t.Errorf("the user's CLI plugin under the temporary config: %v: %s", err, out)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary config %s not removed: %v", dir, err)
	}
}

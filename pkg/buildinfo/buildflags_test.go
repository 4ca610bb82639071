package buildinfo

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"go.yaml.in/yaml/v3"
)

// TestBuildFlagsInOnePlace checks that .goreleaser.yaml and scripts/buildflags/env.sh (which
// scripts/build.sh and the Dockerfile source) read the same flags from scripts/buildflags/, and
// that no build recipe spells the flags itself. GoReleaser's template functions mustReadFile,
// trim and replace are emulated with their documented meaning.
func TestBuildFlagsInOnePlace(t *testing.T) {
	root := filepath.Join("..", "..")
	const version, commit, date = "v9.8.7", "abc1234", "2026-11-28T20:00:00Z"

	// What env.sh gives.
	sh := exec.Command("sh", "-c", `. scripts/buildflags/env.sh && printf '%s\n' "$CGO_ENABLED" "$CGO_CFLAGS" "$CGO_CXXFLAGS" "$CGO_LDFLAGS" "$GO_BUILD_FLAGS" "$(go_ldflags "$1" "$2" "$3")"`, "sh", version, commit, date)
	sh.Dir = root
	out, err := sh.Output()
	if err != nil {
		t.Fatalf("sourcing env.sh: %v", err)
	}
	shell := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(shell) != 6 || shell[1] == "" || !strings.Contains(shell[5], "buildinfo.Version="+version) {
		t.Fatalf("env.sh gives %q", shell)
	}

	// What GoReleaser gives.
	data, err := os.ReadFile(filepath.Join(root, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Builds []struct {
			ID      string   `yaml:"id"`
			Env     []string `yaml:"env"`
			Flags   []string `yaml:"flags"`
			LDFlags []string `yaml:"ldflags"`
		} `yaml:"builds"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Builds) != 3 {
		t.Fatalf("%d builds in .goreleaser.yaml, want 3 (OpenCV linux/amd64 and linux/arm64, portable)", len(cfg.Builds))
	}
	render := func(text string) string {
		t.Helper()
		tpl, err := template.New("goreleaser").Funcs(template.FuncMap{
			"mustReadFile": func(path string) (string, error) {
				b, err := os.ReadFile(filepath.Join(root, path))
				return string(b), err
			},
			"trim":    strings.TrimSpace,
			"replace": strings.ReplaceAll,
		}).Parse(text)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		var sb strings.Builder
		if err := tpl.Execute(&sb, map[string]string{"Version": version, "ShortCommit": commit, "Date": date}); err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		return sb.String()
	}
	// Each architecture's build (the cross one adds only its compiler and pkg-config).
	for _, b := range cfg.Builds {
		env := map[string]string{}
		for _, e := range b.Env {
			k, v, _ := strings.Cut(render(e), "=")
			env[k] = v
		}
		var ld []string
		for _, l := range b.LDFlags {
			ld = append(ld, render(l))
		}
		var flags []string
		for _, f := range b.Flags {
			flags = append(flags, render(f))
		}
		goreleaser := []string{env["CGO_ENABLED"], env["CGO_CFLAGS"], env["CGO_CXXFLAGS"], env["CGO_LDFLAGS"], strings.Join(flags, " "), strings.Join(ld, " ")}
		for i, name := range []string{"CGO_ENABLED", "CGO_CFLAGS", "CGO_CXXFLAGS", "CGO_LDFLAGS", "go build flags", "ldflags"} {
			// The portable build has no cgo: only its go build flags and ldflags are env.sh's.
			if b.ID == "facectl-portable" && i < 4 {
				if i == 0 && goreleaser[0] != "0" {
					t.Errorf("the portable build has CGO_ENABLED=%q, want 0", goreleaser[0])
				}
				continue
			}
			if goreleaser[i] != shell[i] {
				t.Errorf("%s: .goreleaser.yaml gives %q, env.sh %q", name, goreleaser[i], shell[i])
			}
		}
	}

	// Nobody spells the flags out.
	for _, f := range []string{"Dockerfile", "scripts/build.sh", ".goreleaser.yaml"} {
		text, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, flag := range []string{"-ffunction-sections -fdata-sections\"", "-Wl,--gc-sections\"", "buildinfo.Version="} {
			if strings.Contains(string(text), flag) {
				t.Errorf("%s spells out %s instead of reading scripts/buildflags/", f, flag)
			}
		}
	}
}

package cli

import (
	"bytes"
	"encoding"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/facectl/facectl/pkg/server"
)

// commandsOf are the commands that load a section's settings and carry their flags, for the
// round trip. Deploy's persistent settings are also checked through deploy status, which only
// inherits them.
func commandsOf(s setting) [][]string {
	section, _, _ := strings.Cut(s.key, ".")
	switch section {
	case "server":
		if s.key == "server.addr" {
			return [][]string{{"serve"}, {"health"}}
		}
		return [][]string{{"serve"}}
	case "detector":
		return [][]string{{"serve"}, {"detect"}}
	case "s3":
		return [][]string{{"detect"}}
	case "deploy":
		if s.persistent {
			return [][]string{{"deploy"}, {"deploy", "status"}, {"deploy", "init"}}
		}
		return [][]string{{"deploy"}}
	case "log":
		return [][]string{{"serve"}, {"deploy", "status"}}
	case "batch":
		if s.persistent {
			return [][]string{{"batch", "run"}, {"batch", "destroy"}}
		}
		return [][]string{{"batch", "run"}}
	}
	return nil
}

// sample is a test value of a setting, in every form a user can give it.
type sample struct {
	value any      // the Go value the field must hold
	flags []string // command-line arguments setting it
	env   string   // FACECTL_* variable value
	// envValue is the value env gives the field, when it differs from value.
	envValue any
}

// fromEnv is the value the field holds when the sample comes from the environment.
func (s sample) fromEnv() any {
	if s.envValue != nil {
		return s.envValue
	}
	return s.value
}

// sampleOf makes the n-th test value (n = 1, 2, 3) of s: each differs from the default and from
// the others, except for booleans, where 1 and 3 are the opposite of the default and 2 is the
// default (enough to tell each layer from the one below it).
func sampleOf(t *testing.T, s setting, n int) sample {
	t.Helper()
	def := s.sectionDefault()
	flag := "--" + s.flag
	scalar := func(v any, text string) sample {
		return sample{value: v, flags: []string{flag + "=" + text}, env: text}
	}
	switch {
	case s.typ == durationType:
		d := time.Duration(n)*time.Minute + 7*time.Second
		return scalar(d, d.String())
	case s.typ.Kind() == reflect.String:
		v := fmt.Sprintf("v%d,%s", n, s.key) // the comma shows that strings are not split
		return scalar(v, v)
	case s.typ.Kind() == reflect.Bool:
		v := def.Bool() != (n%2 == 1)
		return scalar(v, strconv.FormatBool(v))
	case s.typ.Kind() == reflect.Int:
		return scalar(1000+n, strconv.Itoa(1000+n))
	case s.typ.Kind() == reflect.Int64:
		return scalar(int64(1<<33+n), strconv.Itoa(1<<33+n))
	case s.typ.Kind() == reflect.Float64:
		v := 0.5 + 0.125*float64(n)
		return scalar(v, strconv.FormatFloat(v, 'g', -1, 64))
	case s.typ.Kind() == reflect.Slice:
		// Two items in their text form; the value is built with the element type's own
		// UnmarshalText for NAME=VALUE types.
		texts := []string{fmt.Sprintf("A%d=x%d", n, n), fmt.Sprintf("B%d=y%d", n, n)}
		v := reflect.MakeSlice(s.typ, len(texts), len(texts))
		for i, text := range texts {
			if u, ok := v.Index(i).Addr().Interface().(encoding.TextUnmarshaler); ok {
				if err := u.UnmarshalText([]byte(text)); err != nil {
					t.Fatal(err)
				}
			} else if v.Index(i).Kind() == reflect.String {
				v.Index(i).SetString(text)
			} else {
				t.Fatalf("%s: no test value for %s", s.key, s.typ)
			}
		}
		smp := sample{value: v.Interface(), env: strings.Join(texts, ",")}
		if v.Index(0).Kind() != reflect.String {
			// NAME=VALUE items are not split at commas in the environment (a value may hold
			// them): the variable sets one item.
			one := reflect.MakeSlice(s.typ, 1, 1)
			if err := one.Index(0).Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(smp.env)); err != nil {
				t.Fatal(err)
			}
			smp.envValue = one.Interface()
		}
		if f := s.flag; f != "" && (s.array || v.Index(0).Kind() != reflect.String) {
			for _, text := range texts {
				smp.flags = append(smp.flags, flag, text)
			}
		} else {
			smp.flags = []string{flag, strings.Join(texts, ",")}
		}
		return smp
	}
	t.Fatalf("%s: no test value for %s: teach sampleOf the type", s.key, s.typ)
	return sample{}
}

// fileWith is a config file setting only s to value, written by the generator of the example
// config.
func fileWith(s setting, value any) string {
	parts := strings.Split(s.key, ".")
	var b strings.Builder
	indent := ""
	for _, p := range parts[:len(parts)-1] {
		fmt.Fprintf(&b, "%s%s:\n", indent, p)
		indent += "  "
	}
	fmt.Fprintf(&b, "%s%s:%s\n", indent, parts[len(parts)-1], yamlValue(reflect.ValueOf(value), indent))
	return b.String()
}

// loadSetting loads the configuration the way the command at path does, with args on its
// command line, and returns s's field.
func loadSetting(t *testing.T, path []string, s setting, args []string) any {
	t.Helper()
	f := NewFactory(IOStreams{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}})
	root := NewCmdRoot(f)
	cmd, _, err := root.Find(path)
	if err != nil || cmd.Name() != path[len(path)-1] {
		t.Fatalf("no command %v: %v", path, err)
	}
	var found *cobra.Command
	switch {
	case path[0] == "detect":
		args = append(slices.Clone(args), "photo.jpg") // detect needs an input; the run is stopped before it
	case slices.Equal(path, []string{"batch", "run"}):
		args = append(slices.Clone(args), "s3://in-photos/raw/")
	}
	root.SetArgs(append(path, args...))
	// Stop right after flag parsing: record the command instead of running it.
	cmd.RunE = func(c *cobra.Command, _ []string) error { found = c; return nil }
	if err := root.Execute(); err != nil {
		t.Fatalf("facectl %s %s: %v", strings.Join(path, " "), strings.Join(args, " "), err)
	}
	section, _, _ := strings.Cut(s.key, ".")
	sec, _ := sectionNamed(section)
	target := sec.defaults()
	if err := f.loadConfig(found, map[string]any{section: target}); err != nil {
		t.Fatalf("loading %s: %v", s.key, err)
	}
	return reflect.ValueOf(target).Elem().FieldByIndex(s.index).Interface()
}

// TestEverySettingRoundTrips sets every declared setting by flag, environment variable and
// config file, on every command that takes it, and checks that each reaches the setting's field
// with the precedence flag > environment > file > default.
func TestEverySettingRoundTrips(t *testing.T) {
	settings := allSettings()
	if len(settings) < 70 {
		t.Fatalf("only %d settings declared", len(settings))
	}
	for _, s := range settings {
		if len(commandsOf(s)) == 0 {
			t.Errorf("%s: no command known to load it; add its section to commandsOf", s.key)
		}
		for _, path := range commandsOf(s) {
			t.Run(s.key+"/"+strings.Join(path, "_"), func(t *testing.T) {
				v1, v2, v3 := sampleOf(t, s, 1), sampleOf(t, s, 2), sampleOf(t, s, 3)
				def := s.sectionDefault().Interface()
				if reflect.DeepEqual(v1.value, def) || reflect.DeepEqual(v3.value, def) {
					t.Fatalf("test values equal the default %v", def)
				}
				type layers struct {
					file, env *sample
					flag      *sample
				}
				check := func(name string, l layers, want any) {
					t.Helper()
					isolate(t)
					t.Chdir(t.TempDir())
					if l.file != nil {
						writeFile(t, "facectl.yaml", []byte(fileWith(s, l.file.value)))
					}
					if l.env != nil {
						t.Setenv(s.envVar(), l.env.env)
					}
					var args []string
					if l.flag != nil {
						args = l.flag.flags
					}
					if got := loadSetting(t, path, s, args); !reflect.DeepEqual(got, want) {
						t.Errorf("%s: %s = %#v, want %#v", name, s.key, got, want)
					}
				}
				check("default", layers{}, def)
				check("file", layers{file: &v1}, v1.value)
				check("env", layers{env: &v1}, v1.fromEnv())
				check("env over file", layers{file: &v1, env: &v2}, v2.fromEnv())
				if s.flag == "" {
					return
				}
				check("flag", layers{flag: &v1}, v1.value)
				check("flag over file", layers{file: &v1, flag: &v3}, v3.value)
				check("flag over env over file", layers{file: &v1, env: &v2, flag: &v3}, v3.value)
			})
		}
	}
}

// TestSettingsAreDeclared checks each declaration: help on every key, no flag declared twice in a
// command, and every flag made from a setting bound to the key it was declared on.
func TestSettingsAreDeclared(t *testing.T) {
	flags := map[string]string{}
	for _, s := range allSettings() {
		if s.help == "" {
			t.Errorf("%s: no help tag", s.key)
		}
		if s.flag != "" {
			if other, ok := flags[s.flag]; ok {
				t.Errorf("flag --%s declared on %s and %s", s.flag, other, s.key)
			}
			flags[s.flag] = s.key
		}
	}
	root := NewCmdRoot(NewFactory(IOStreams{}))
	seen := map[string]bool{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if key := flagKey(f); key != "" {
				seen[key] = true
				if flags[f.Name] != key {
					t.Errorf("%s --%s is bound to %s, declared on %s", c.CommandPath(), f.Name, key, flags[f.Name])
				}
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	for name, key := range flags {
		if !seen[key] {
			t.Errorf("--%s (%s) is declared but no command has it", name, key)
		}
	}
}

// TestGeneratedFiles fails while configs/facectl.yaml or docs/configuration.md's settings tables differ from
// what the declared settings generate.
func TestGeneratedFiles(t *testing.T) {
	root := filepath.Join("..", "..")
	files, err := GeneratedFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range files {
		got, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./pkg/cli\n%s", path, lineDiff(string(got), string(want)))
		}
	}
}

// TestRenamedKeys: a renamed key's old name still sets it, from the config file and the
// environment, with a warning naming the new one, and the new name wins when both are given.
func TestRenamedKeys(t *testing.T) {
	for _, r := range renamedKeys {
		declared := map[string]bool{}
		for _, s := range allSettings() {
			declared[s.key] = true
		}
		if !declared[r.new] || declared[r.old] {
			t.Fatalf("%s → %s: the new name must be declared and the old one not", r.old, r.new)
		}
	}
	load := func(t *testing.T, file string, env map[string]string) (int, string) {
		t.Helper()
		isolate(t)
		t.Chdir(t.TempDir())
		if file != "" {
			writeFile(t, "facectl.yaml", []byte(file))
		}
		for k, v := range env {
			t.Setenv(k, v)
		}
		var stderr bytes.Buffer
		f := NewFactory(IOStreams{Out: &bytes.Buffer{}, Err: &stderr})
		cmd, _, err := NewCmdRoot(f).Find([]string{"detect"})
		if err != nil {
			t.Fatal(err)
		}
		det := defaultDetectorSection()
		if err := f.loadConfig(cmd, map[string]any{"detector": det}); err != nil {
			t.Fatalf("loading: %v", err)
		}
		return det.Workers, stderr.String()
	}
	for _, tc := range []struct {
		name, file string
		env        map[string]string
		want       int
		warning    string
	}{
		{name: "new key in the file", file: "detector:\n  pool_size: 3\n", want: 3},
		{name: "old key in the file", file: "detector:\n  workers: 3\n", want: 3,
			warning: `key "detector.workers" is deprecated: use "detector.pool_size"`},
		{name: "both in the file", file: "detector:\n  workers: 3\n  pool_size: 4\n", want: 4, warning: `"detector.workers" is deprecated`},
		{name: "old variable", env: map[string]string{"FACECTL_DETECTOR_WORKERS": "5"}, want: 5,
			warning: "environment variable FACECTL_DETECTOR_WORKERS is deprecated: use FACECTL_DETECTOR_POOL_SIZE"},
		{name: "both variables", env: map[string]string{"FACECTL_DETECTOR_WORKERS": "5", "FACECTL_DETECTOR_POOL_SIZE": "6"}, want: 6, warning: "FACECTL_DETECTOR_WORKERS is deprecated"},
		{name: "old variable over the new key in the file", file: "detector:\n  pool_size: 3\n", env: map[string]string{"FACECTL_DETECTOR_WORKERS": "5"}, want: 5, warning: "FACECTL_DETECTOR_WORKERS is deprecated"},
		{name: "new variable over the old key in the file", file: "detector:\n  workers: 3\n", env: map[string]string{"FACECTL_DETECTOR_POOL_SIZE": "6"}, want: 6, warning: `"detector.workers" is deprecated`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, stderr := load(t, tc.file, tc.env)
			if got != tc.want {
				t.Errorf("detector.pool_size = %d, want %d", got, tc.want)
			}
			if tc.warning == "" && stderr != "" || !strings.Contains(stderr, tc.warning) {
				t.Errorf("stderr %q, want the warning %q", stderr, tc.warning)
			}
		})
	}
}

// TestRenamedServerKey: server.workers (detections admitted at once, not a pool) still sets
// server.max_concurrent_detections, with the warning.
func TestRenamedServerKey(t *testing.T) {
	isolate(t)
	t.Chdir(t.TempDir())
	writeFile(t, "facectl.yaml", []byte("server:\n  workers: 3\n"))
	var stderr bytes.Buffer
	f := NewFactory(IOStreams{Out: &bytes.Buffer{}, Err: &stderr})
	cmd, _, err := NewCmdRoot(f).Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.DefaultConfig()
	if err := f.loadConfig(cmd, map[string]any{"server": &cfg}); err != nil {
		t.Fatalf("loading: %v", err)
	}
	if cfg.MaxConcurrentDetections != 3 || !strings.Contains(stderr.String(), `key "server.workers" is deprecated: use "server.max_concurrent_detections"`) {
		t.Errorf("max_concurrent_detections = %d, stderr %q", cfg.MaxConcurrentDetections, stderr.String())
	}
}

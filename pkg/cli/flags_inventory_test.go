package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/facectl/facectl/pkg/modelfile"
)

// flagInventory lists every flag of every command: its type, shorthand, default and usage.
func flagInventory() string {
	var lines []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		add := func(kind string, fs *pflag.FlagSet) {
			fs.VisitAll(func(f *pflag.Flag) {
				// The model search path includes the test binary's directory, which changes.
				// The model's checksum is declared once, in pkg/modelfile/yunet.env.
				// The pull directory is the user's cache directory, which differs between users.
				usage := strings.ReplaceAll(f.Usage, strings.Join(modelfile.SearchPath(), ", "), "SEARCH_PATH")
				usage = strings.ReplaceAll(usage, modelfile.DefaultPullDir(), "PULL_DIR")
				def := strings.ReplaceAll(f.DefValue, modelfile.SHA256, "MODEL_SHA256")
				def = strings.ReplaceAll(def, modelfile.DefaultPullDir(), "PULL_DIR")
				lines = append(lines, fmt.Sprintf("%s\t%s --%s -%s\t%s\tdefault=%q\t%s", c.CommandPath(), kind, f.Name, f.Shorthand, f.Value.Type(), def, usage))
			})
		}
		add("local", c.LocalNonPersistentFlags())
		add("persistent", c.PersistentFlags())
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewCmdRoot(NewFactory(IOStreams{})))
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

// TestFlagInventory pins every flag of every command (name, shorthand, type, default, usage) to
// testdata/flags.golden.txt, so that deriving flags from the declared settings cannot drop or
// change one unnoticed. After a deliberate change: UPDATE_FLAGS=1 go test ./pkg/cli -run TestFlagInventory.
func TestFlagInventory(t *testing.T) {
	got := flagInventory()
	path := filepath.Join("testdata", "flags.golden.txt")
	if os.Getenv("UPDATE_FLAGS") != "" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("flags differ from %s (after a deliberate change: UPDATE_FLAGS=1 go test ./pkg/cli -run TestFlagInventory):\n%s", path, lineDiff(string(want), got))
	}
}

// lineDiff lists the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	w, g := in(want), in(got)
	var out []string
	for _, l := range strings.Split(want, "\n") {
		if !g[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if !w[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

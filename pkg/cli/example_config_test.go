package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/viper"
)

// TestExampleConfig keeps configs/facectl.yaml honest: it loads without any error, and it names
// every key of every config section (as a key, or as a commented-out example).
func TestExampleConfig(t *testing.T) {
	path := filepath.Join("..", "..", "configs", "facectl.yaml")
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := viper.New()
	v.SetConfigFile(path)
	if err := v.ReadInConfig(); err != nil {
		t.Fatal(err)
	}
	if errs := checkFile(path, v); len(errs) > 0 {
		t.Fatalf("example config has errors: %v", errs)
	}
	if len(sections) < 4 {
		t.Fatalf("only %d config sections declared", len(sections))
	}
	for _, sec := range sections {
		for _, key := range keysOf(reflect.TypeOf(sec.defaults()).Elem(), sec.name) {
			leaf := key[strings.LastIndex(key, ".")+1:]
			if !v.IsSet(key) && !regexp.MustCompile(`(?m)^\s*#?\s*`+regexp.QuoteMeta(leaf)+`:`).Match(text) {
				t.Errorf("configs/facectl.yaml does not document %s", key)
			}
		}
	}
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestGeneratedDocsAreFresh fails while a generated file (the command reference above all) differs
// from what the commands and settings generate, or a page of a removed command is left behind.
func TestGeneratedDocsAreFresh(t *testing.T) {
	root := filepath.Join("..", "..")
	files, err := generate(root)
	if err != nil {
		t.Fatal(err)
	}
	pages := 0
	for path, want := range files {
		if isCLIPage(path) {
			pages++
		}
		got, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Errorf("%v: run go generate ./pkg/cli", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./pkg/cli", path)
		}
	}
	if pages < 10 {
		t.Errorf("the command reference has %d pages; every command should have one", pages)
	}
	old, err := filepath.Glob(filepath.Join(root, cliDir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range old {
		rel, _ := filepath.Rel(root, path)
		if _, ok := files[rel]; !ok {
			t.Errorf("%s documents no command that exists: run go generate ./pkg/cli", rel)
		}
	}
}

// Command gendocs writes the files generated from facectl's commands and declared settings: the
// example config configs/facectl.yaml, the settings tables in docs/configuration.md and the
// command reference docs/cli/*.md. Run it as
//
//	go generate ./pkg/cli
//
// or go run ./scripts/gendocs [REPO_ROOT]; its test, and TestGeneratedFiles in pkg/cli, fail
// while they are stale.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	if err := write(root); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

func write(root string) error {
	files, err := generate(root)
	if err != nil {
		return err
	}
	// Pages of commands that no longer exist are removed, so the reference never lists one.
	old, err := filepath.Glob(filepath.Join(root, cliDir, "*.md"))
	if err != nil {
		return err
	}
	for _, path := range old {
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		if _, ok := files[rel]; !ok {
			if err := os.Remove(path); err != nil {
				return err
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(root, cliDir), 0o755); err != nil {
		return err
	}
	for path, data := range files {
		if err := os.WriteFile(filepath.Join(root, path), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// isCLIPage tells the command reference's pages from the other generated files.
func isCLIPage(rel string) bool {
	return filepath.Dir(rel) == cliDir && strings.HasSuffix(rel, ".md")
}

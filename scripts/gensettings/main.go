// Command gensettings writes the files generated from facectl's declared settings (the example
// config configs/facectl.yaml and the configuration tables in README.md). Run it as
//
//	go generate ./pkg/cli
//
// or go run ./scripts/gensettings [REPO_ROOT]; TestGeneratedFiles in pkg/cli fails while they are stale.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/facectl/facectl/pkg/cli"
)

func main() {
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	files, err := cli.GeneratedFiles(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gensettings:", err)
		os.Exit(1)
	}
	for path, data := range files {
		if err := os.WriteFile(filepath.Join(root, path), data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gensettings:", err)
			os.Exit(1)
		}
	}
}

package main

import (
	"bytes"
	"io"
	"maps"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/facectl/facectl/pkg/cli"
	"github.com/facectl/facectl/pkg/modelfile"
)

// cliDir holds the command reference, one page per command.
const cliDir = "docs/cli"

// generate returns every generated file by path relative to root.
func generate(root string) (map[string][]byte, error) {
	files, err := cli.GeneratedFiles(root)
	if err != nil {
		return nil, err
	}
	pages, err := cliPages()
	if err != nil {
		return nil, err
	}
	maps.Copy(files, pages)
	return files, nil
}

// cliPages renders the command reference from the commands' own help with cobra/doc, as
// GenMarkdownTree would, but in memory so that the test can compare it with the tree.
func cliPages() (map[string][]byte, error) {
	root := cli.NewCmdRoot(cli.NewFactory(cli.IOStreams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}))
	root.DisableAutoGenTag = true
	pages := map[string][]byte{}
	var walk func(c *cobra.Command) error
	walk = func(c *cobra.Command) error {
		for _, sub := range c.Commands() {
			if !sub.IsAvailableCommand() || sub.IsAdditionalHelpTopicCommand() {
				continue
			}
			if err := walk(sub); err != nil {
				return err
			}
		}
		var b bytes.Buffer
		if err := doc.GenMarkdownCustom(c, &b, func(name string) string { return name }); err != nil {
			return err
		}
		pages[filepath.Join(cliDir, pageName(c))] = machineNeutral(b.Bytes())
		return nil
	}
	return pages, walk(root)
}

// pageName is cobra/doc's file name for c: its command path joined by underscores.
func pageName(c *cobra.Command) string {
	return strings.ReplaceAll(c.CommandPath(), " ", "_") + ".md"
}

// machineNeutral replaces the defaults that depend on the machine generating the page (the
// user's cache directory, the binary's location) with their description, so that the pages are
// the same wherever they are generated.
func machineNeutral(page []byte) []byte {
	search := modelfile.SearchPath()
	return []byte(strings.NewReplacer(
		strings.Join(search, ", "), "~/.cache/facectl/models (the user cache directory), /usr/share/facectl/models, the facectl binary's directory",
		`"`+modelfile.DefaultPullDir()+`"`, "~/.cache/facectl/models: the user cache directory",
	).Replace(string(page)))
}

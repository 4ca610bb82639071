// Package batch expands command-line arguments into inputs (files, and objects in S3) and
// processes them on a pool of workers, delivering results in input order.
package batch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/facectl/facectl/pkg/s3io"
)

// Stdin is the argument that names standard input.
const Stdin = "-"

// imageExts are the extensions picked up when walking a directory (explicit file arguments are
// read whatever their name; the format is recognised by content).
var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".jpe": true, ".png": true, ".webp": true, ".bmp": true, ".dib": true}

// Input is one file to process.
type Input struct {
	// Path is the file's path as given or found, or Stdin.
	Path string
	// Rel is the path used to name outputs: relative to the directory argument it was found in
	// (prefixed by that directory's base name), or the base name of a file argument.
	Rel string
	// Err is set when the argument could not be expanded (missing file, unreadable directory):
	// it is reported as that input's result.
	Err error
	// Object is set for an S3 input: its bucket and key, and from a listing its ETag and size.
	Object *s3io.Object
}

// expandArg expands one local argument.
func expandArg(arg string) []Input {
	if arg == Stdin {
		return []Input{{Path: Stdin, Rel: "stdin"}}
	}
	paths := []string{arg}
	if _, err := os.Lstat(arg); err != nil && hasMeta(arg) {
		matches, gerr := filepath.Glob(arg)
		switch {
		case gerr != nil:
			return []Input{{Path: arg, Err: fmt.Errorf("bad glob pattern: %w", gerr)}}
		case len(matches) == 0:
			return []Input{{Path: arg, Err: errors.New("no file matches this pattern")}}
		}
		paths = matches
	}
	var out []Input
	for _, p := range paths {
		out = append(out, expandPath(p)...)
	}
	return out
}

// uniqueRels renames inputs whose output names would collide (a/x.jpg and b/x.jpg given as files,
// or x.jpg and x.jpeg, whose outputs are both x.jpg) by adding -2, -3… to the later ones' stems,
// so that one input's outputs never replace another's in the same batch.
func uniqueRels(inputs []Input) {
	seen := map[string]bool{}
	for _, in := range inputs {
		if in.Err == nil {
			seen[stem(in.Rel)] = true
		}
	}
	used := map[string]bool{}
	for i, in := range inputs {
		if in.Err != nil {
			continue
		}
		s := stem(in.Rel)
		if !used[s] {
			used[s] = true
			continue
		}
		for n := 2; ; n++ {
			c := fmt.Sprintf("%s-%d", s, n)
			if !used[c] && !seen[c] {
				used[c] = true
				inputs[i].Rel = c + filepath.Ext(in.Rel)
				break
			}
		}
	}
}

func stem(rel string) string { return strings.TrimSuffix(rel, filepath.Ext(rel)) }

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[`) }

func expandPath(p string) []Input {
	st, err := os.Stat(p)
	if err != nil {
		return []Input{{Path: p, Err: describe(err)}}
	}
	if !st.IsDir() {
		return []Input{{Path: p, Rel: filepath.Base(p)}}
	}
	var out []Input
	root := filepath.Clean(p)
	base := filepath.Base(root)
	if base == "." || base == "/" {
		base = ""
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			out = append(out, Input{Path: path, Err: describe(err)})
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !imageExts[strings.ToLower(filepath.Ext(path))] {
			return nil
		}
		rel, rerr := filepath.Rel(root, path)
		if rerr != nil {
			rel = filepath.Base(path)
		}
		out = append(out, Input{Path: path, Rel: filepath.Join(base, rel)})
		return nil
	})
	if err != nil {
		out = append(out, Input{Path: p, Err: describe(err)})
	}
	if len(out) == 0 {
		// Said out loud: a directory without images is usually a wrong path, not an empty result.
		return []Input{{Path: p, Err: errors.New("no image files (JPEG, PNG, WebP, BMP by extension) in this directory")}}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// describe turns file-system errors into short reasons (the path is reported beside them).
func describe(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errors.New("no such file or directory")
	case errors.Is(err, fs.ErrPermission):
		return errors.New("permission denied")
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

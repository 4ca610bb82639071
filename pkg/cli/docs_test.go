package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docFiles are the user documentation: README.md, BENCHMARKS.md and every page under docs/.
func docFiles(t *testing.T, root string) []string {
	t.Helper()
	files := []string{filepath.Join(root, "README.md"), filepath.Join(root, "BENCHMARKS.md")}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".md") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

var (
	mdLink   = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	htmlSrc  = regexp.MustCompile(`<img [^>]*src="([^"]+)"`)
	slugDrop = regexp.MustCompile(`[^\p{L}\p{N} _-]`)
)

// anchors are the GitHub anchors of a Markdown file's headings.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	fence := false
	for line := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(line, "```") {
			fence = !fence
		}
		if fence || !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		slug := strings.ReplaceAll(slugDrop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")
		if n := seen[slug]; n > 0 {
			out[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	}
	return out
}

// TestDocLinksResolve fails on a relative link or image in the docs whose file, or heading anchor,
// does not exist.
func TestDocLinksResolve(t *testing.T) {
	root := filepath.Join("..", "..")
	texts := map[string]string{}
	for _, f := range docFiles(t, root) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		texts[filepath.Clean(f)] = string(b)
	}
	checked := 0
	for file, text := range texts {
		var targets []string
		for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
			targets = append(targets, m[1])
		}
		for _, m := range htmlSrc.FindAllStringSubmatch(text, -1) {
			targets = append(targets, m[1])
		}
		for _, target := range targets {
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			path, frag, _ := strings.Cut(target, "#")
			dest := file
			if path != "" {
				dest = filepath.Clean(filepath.Join(filepath.Dir(file), filepath.FromSlash(path)))
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s: link %s: %v", file, target, err)
					continue
				}
			}
			if frag == "" || !strings.HasSuffix(dest, ".md") {
				continue
			}
			destText, ok := texts[dest]
			if !ok {
				b, err := os.ReadFile(dest)
				if err != nil {
					t.Fatal(err)
				}
				destText = string(b)
			}
			if !anchors(destText)[frag] {
				t.Errorf("%s: link %s: %s has no heading with the anchor #%s", file, target, dest, frag)
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d relative links found in the docs; the link scan is broken", checked)
	}
}

// docExample is one `facectl …` command shown in a code block of the docs.
type docExample struct {
	where string
	args  []string
}

var envAssign = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=\S*$`)

// docExamples returns every facectl command line in the docs' code blocks (fenced sh, bash,
// console and plain blocks, and indented ones), with continuation lines joined, comments cut,
// pipelines and lists split, and leading variable assignments dropped. Synopsis lines
// ("[flags]") are not commands.
func docExamples(t *testing.T, files []string) []docExample {
	t.Helper()
	var out []docExample
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		n, fence, shell, pending := 0, false, false, ""
		for sc.Scan() {
			n++
			line := sc.Text()
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				lang := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "```"))
				fence, shell = !fence, slices.Contains([]string{"", "sh", "bash", "console", "shell"}, lang)
				continue
			}
			code := fence && shell
			if !fence && strings.HasPrefix(line, "    ") {
				code = true
			}
			if !code {
				pending = ""
				continue
			}
			line = pending + strings.TrimSpace(line)
			if strings.HasSuffix(line, `\`) {
				pending = strings.TrimSuffix(line, `\`) + " "
				continue
			}
			pending = ""
			line = strings.TrimPrefix(line, "$ ")
			if strings.Contains(line, "[flags]") {
				continue
			}
			cmds, err := shellCommands(line)
			if first := strings.Fields(line); err != nil && len(first) > 0 && (first[0] == "facectl" || first[0] == "./facectl") {
				// Prose in plain blocks (cobra's option lists) may hold a lone quote; a command may not.
				t.Errorf("%s:%d: %v in %q", file, n, err, line)
			}
			for _, words := range cmds {
				for len(words) > 0 && (envAssign.MatchString(words[0]) || words[0] == "sudo") {
					words = words[1:]
				}
				if len(words) > 0 && (words[0] == "facectl" || words[0] == "./facectl") {
					out = append(out, docExample{where: fmt.Sprintf("%s:%d", file, n), args: words[1:]})
				}
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// shellCommands splits a command line as a POSIX shell would for plain words and single or
// double quotes (no expansions): into the commands between |, ||, && and ;, each a list of words,
// up to a comment (# at the start of a word); a redirection ends its command's words.
func shellCommands(line string) ([][]string, error) {
	var cmds [][]string
	var words []string
	var cur strings.Builder
	inWord, redirected := false, false
	var quote rune
	endWord := func() {
		if inWord && !redirected {
			words = append(words, cur.String())
		}
		cur.Reset()
		inWord = false
	}
	endCommand := func() {
		endWord()
		if len(words) > 0 {
			cmds = append(cmds, words)
		}
		words, redirected = nil, false
	}
	runes := []rune(line)
	for i := 0; i < len(runes); i++ {
		r := runes[i]
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '#' && !inWord:
			endCommand()
			return cmds, nil
		case r == '|' || r == ';' || (r == '&' && i+1 < len(runes) && runes[i+1] == '&'):
			if r == '&' || (r == '|' && i+1 < len(runes) && runes[i+1] == '|') {
				i++
			}
			endCommand()
		case r == ' ' || r == '\t':
			endWord()
		case (r == '>' || r == '<') && !inWord:
			redirected = true
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return cmds, fmt.Errorf("unterminated %c quote", quote)
	}
	endCommand()
	return cmds, nil
}

// TestDocExamplesParse fails on a `facectl …` command in the docs that names a command or flag
// facectl does not have, or gives a command arguments it refuses.
func TestDocExamplesParse(t *testing.T) {
	examples := docExamples(t, docFiles(t, filepath.Join("..", "..")))
	if len(examples) < 30 {
		t.Fatalf("only %d facectl examples found in the docs; the example scan is broken", len(examples))
	}
	for _, ex := range examples {
		root := NewCmdRoot(NewFactory(IOStreams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}))
		cmd, rest, err := root.Find(ex.args)
		if err != nil {
			t.Errorf("%s: facectl %s: %v", ex.where, strings.Join(ex.args, " "), err)
			continue
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Errorf("%s: facectl %s: %v", ex.where, strings.Join(ex.args, " "), err)
			continue
		}
		if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
			t.Errorf("%s: facectl %s: %v", ex.where, strings.Join(ex.args, " "), err)
		}
	}
}

// TestDocExampleScanner pins what the scanner takes from a code block, so that a broken scanner
// cannot pass the example test by finding nothing to check.
func TestDocExampleScanner(t *testing.T) {
	page := filepath.Join(t.TempDir(), "page.md")
	text := "```sh\n" +
		"./facectl detect --format json \\\n  --annotate out/ photo.jpg > faces.json   # a comment\n" +
		"cat photo.jpg | facectl detect -f csv - && echo done\n" +
		"FACECTL_SERVER_MAX_CONCURRENT_DETECTIONS=2 facectl serve --addr ':9000'\n" +
		"facectl detect [flags] FILE|DIR ...\n" +
		"```\n```yaml\nfacectl: not a command\n```\n" +
		"    facectl deploy destroy --yes\n"
	if err := os.WriteFile(page, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ex := range docExamples(t, []string{page}) {
		got = append(got, strings.Join(ex.args, " "))
	}
	want := []string{
		"detect --format json --annotate out/ photo.jpg",
		"detect -f csv -",
		"serve --addr :9000",
		"deploy destroy --yes",
	}
	if !slices.Equal(got, want) {
		t.Errorf("scanned %q, want %q", got, want)
	}
}

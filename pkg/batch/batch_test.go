package batch

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunKeepsInputOrder(t *testing.T) {
	var inputs []Input
	for i := range 200 {
		inputs = append(inputs, Input{Path: fmt.Sprint(i)})
	}
	var running, peak atomic.Int32
	var got []string
	Run(context.Background(), slices.Values(inputs), 4, func(_ context.Context, in Input) string {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond) // shuffle completion order
		running.Add(-1)
		return "r" + in.Path
	}, func(in Input, r string) {
		if r != "r"+in.Path {
			t.Errorf("result %s delivered with input %s", r, in.Path)
		}
		got = append(got, in.Path)
	})
	if len(got) != 200 || !slices.IsSortedFunc(got, func(a, b string) int { return atoi(a) - atoi(b) }) {
		t.Fatalf("order: %v", got)
	}
	if peak.Load() > 4 || peak.Load() < 2 {
		t.Errorf("peak concurrency %d, want 2..4", peak.Load())
	}
}

func atoi(s string) int { var n int; fmt.Sscan(s, &n); return n }

func TestRunStopsOnCancel(t *testing.T) {
	inputs := make([]Input, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	var processed, emitted atomic.Int32
	Run(ctx, slices.Values(inputs), 2, func(context.Context, Input) int {
		if processed.Add(1) == 10 {
			cancel()
		}
		return 0
	}, func(Input, int) { emitted.Add(1) })
	if processed.Load() > 20 || emitted.Load() != processed.Load() {
		t.Fatalf("processed %d, emitted %d after cancel", processed.Load(), emitted.Load())
	}
}

func TestExpand(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.jpg", "b.PNG", "notes.txt", "sub/c.webp", "sub/deeper/d.jpeg", "sub/e.bmp"} {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("x"), 0o644)
	}
	t.Chdir(dir)
	got := Expand([]string{"sub", "*.jpg", "notes.txt", "missing.jpg", "nomatch*.png", "-"})
	var lines []string
	for _, in := range got {
		l := in.Path + " " + in.Rel
		if in.Err != nil {
			l = in.Path + " error: " + in.Err.Error()
		}
		lines = append(lines, l)
	}
	want := []string{
		"sub/c.webp sub/c.webp",
		"sub/deeper/d.jpeg sub/deeper/d.jpeg",
		"sub/e.bmp sub/e.bmp",
		"a.jpg a.jpg",
		"notes.txt notes.txt", // explicit files are read whatever their name
		"missing.jpg error: no such file or directory",
		"nomatch*.png error: no file matches this pattern",
		"- stdin",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Expand:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

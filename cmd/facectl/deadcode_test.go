package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLinkerDropsUnusedMethods fails when something in facectl's binary calls reflect's method
// lookup (Value.Method, MethodByName; text/template and html/template do, on every execution).
// The linker cannot tell which methods such a call may reach, so it keeps every exported method
// of every type in the program: with the AWS SDK's clients that made facectl 58 MB instead of
// 21 MB, a larger image to pull on every Fargate scale-out and a slower start. The linker's
// dependency dump marks such calls <ReflectMethod>.
func TestLinkerDropsUnusedMethods(t *testing.T) {
	if testing.Short() {
		t.Skip("links the whole binary")
	}
	out := filepath.Join(t.TempDir(), "facectl")
	cmd := exec.Command("go", "build", "-o", out, "-ldflags=-dumpdep", ".")
	var dump bytes.Buffer
	cmd.Stderr = &dump
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build -ldflags=-dumpdep: %v\n%s", err, tail(dump.String()))
	}
	var culprits []string
	sc := bufio.NewScanner(&dump)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	edges := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, " -> ") {
			edges++
		}
		// "from -> to <ReflectMethod>": to looks methods up by name or index. The dump prints an
		// edge when its target first becomes reachable, so every reachable culprit is the target
		// of exactly one line, whatever reached it (a call, or a type's method table).
		if _, to, ok := strings.Cut(line, " -> "); ok && strings.Contains(to, "<ReflectMethod>") {
			culprits = append(culprits, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if edges < 1000 {
		t.Fatalf("the linker's dependency dump has %d edges: not the output this test reads", edges)
	}
	if len(culprits) > 0 {
		t.Errorf("reflective method lookup reaches the binary, so the linker keeps every exported method "+
			"(who reaches each: `go build -ldflags=-dumpdep -o /dev/null ./cmd/facectl 2>&1 | grep -- '-> SYMBOL'`):\n%s",
			strings.Join(culprits, "\n"))
	}
	if fi, err := os.Stat(out); err == nil {
		t.Logf("binary (unstripped, with the dump's build flags): %.1f MB", float64(fi.Size())/1e6)
	}
}

func tail(s string) string {
	if len(s) > 4000 {
		return s[len(s)-4000:]
	}
	return s
}

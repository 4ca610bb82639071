package deploy

import (
	"fmt"
	"strings"
)

// Action is one step of a deploy: what it touched and what it did (or, in a dry run, would do).
type Action struct {
	// Resource is the kind of resource, e.g. "task definition".
	Resource string `json:"resource"`
	// Name identifies the resource.
	Name string `json:"name"`
	// Verb is create, update, register, build, push, none.
	Verb string `json:"action"`
	// Detail says what changes or why nothing does.
	Detail string `json:"detail,omitempty"`
}

// add records one step in the result.
func (res *Result) add(resource, name, verb, detail string) {
	res.Actions = append(res.Actions, Action{Resource: resource, Name: name, Verb: verb, Detail: detail})
}

// lineDiff returns a line diff of a and b with three lines of context, or "" when equal.
func lineDiff(a, b string) string {
	if a == b {
		return ""
	}
	x := strings.Split(strings.TrimSuffix(a, "\n"), "\n")
	y := strings.Split(strings.TrimSuffix(b, "\n"), "\n")
	if a == "" {
		x = nil
	}
	// Longest common subsequence table, from the end.
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte
		text string
	}
	var lines []line
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			lines = append(lines, line{' ', x[i]})
			i++
			j++
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			lines = append(lines, line{'-', x[i]})
			i++
		default:
			lines = append(lines, line{'+', y[j]})
			j++
		}
	}
	const context = 3
	keep := make([]bool, len(lines))
	for k, l := range lines {
		if l.op != ' ' {
			for c := max(0, k-context); c <= min(len(lines)-1, k+context); c++ {
				keep[c] = true
			}
		}
	}
	var sb strings.Builder
	gap := false
	for k, l := range lines {
		if !keep[k] {
			gap = true
			continue
		}
		if gap && sb.Len() > 0 {
			sb.WriteString("  ...\n")
		}
		gap = false
		fmt.Fprintf(&sb, "%c %s\n", l.op, l.text)
	}
	return sb.String()
}

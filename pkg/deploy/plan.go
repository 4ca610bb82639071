package deploy

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"
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

// Plan collects the actions of a deploy and the diffs shown by --dry-run.
type Plan struct {
	// DryRun marks a plan of things not done.
	DryRun bool
	// Account, Region, Cluster and Service say where.
	Account, Region, Cluster, Service string
	// Actions are the steps, in order.
	Actions []Action
	// TaskDefinitionDiff is the line diff of the current and the new task definition.
	TaskDefinitionDiff string
	// ServiceDiff is the line diff of the service's managed settings.
	ServiceDiff string
	// Environment lists the resource changes of the environment's stacks (a dry run's change
	// sets, described and never executed).
	Environment []string
	// URL is where the service answers, when facectl knows it.
	URL string
}

func (p *Plan) add(resource, name, verb, detail string) {
	p.Actions = append(p.Actions, Action{Resource: resource, Name: name, Verb: verb, Detail: detail})
}

// Render writes the plan for humans.
func (p *Plan) Render(w io.Writer) {
	head := "Deployed"
	if p.DryRun {
		head = "Plan (dry run: nothing was changed)"
	}
	fmt.Fprintf(w, "%s for service %s in cluster %s (account %s, %s):\n", head, p.Service, p.Cluster, p.Account, p.Region)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, a := range p.Actions {
		verb := a.Verb
		if verb == "none" {
			verb = "unchanged"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", a.Resource, shortDigest(a.Name), verb, a.Detail)
	}
	tw.Flush()
	if len(p.Environment) > 0 {
		fmt.Fprintf(w, "\nEnvironment changes (CloudFormation, described, not executed):\n")
		for _, l := range p.Environment {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	if p.TaskDefinitionDiff != "" {
		fmt.Fprintf(w, "\nTask definition diff (- current, + new):\n%s", p.TaskDefinitionDiff)
	}
	if p.ServiceDiff != "" {
		fmt.Fprintf(w, "\nService diff (- current, + new):\n%s", p.ServiceDiff)
	}
	if p.URL != "" && !p.DryRun {
		fmt.Fprintf(w, "\nURL: %s\n", p.URL)
	}
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

var longDigestRE = regexp.MustCompile(`(sha256:[0-9a-f]{12})[0-9a-f]{52}`)

// shortDigest shortens digests in a resource name to keep the plan table narrow.
func shortDigest(s string) string { return longDigestRE.ReplaceAllString(s, "$1…") }

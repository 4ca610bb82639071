package cli

import (
	"fmt"
	"io"
	"regexp"
	"text/tabwriter"
	"time"

	"github.com/facectl/facectl/pkg/deploy"
)

// The deploy package returns data; these write it for people.

// renderPlan writes a deploy's actions (a dry run's plan, with its environment changes and
// diffs, or what a finished deploy did).
func renderPlan(w io.Writer, res deploy.Result) {
	head := "Deployed"
	if res.DryRun {
		head = "Plan (dry run: nothing was changed)"
	}
	fmt.Fprintf(w, "%s for service %s in cluster %s (account %s, %s):\n", head, res.Service, res.Cluster, res.Account, res.Region)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, a := range res.Actions {
		verb := a.Verb
		if verb == "none" {
			verb = "unchanged"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", a.Resource, shortDigest(a.Name), verb, a.Detail)
	}
	tw.Flush()
	if len(res.Environment) > 0 {
		fmt.Fprintf(w, "\nEnvironment changes (CloudFormation, described, not executed):\n")
		for _, l := range res.Environment {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	if res.TaskDefinitionDiff != "" {
		fmt.Fprintf(w, "\nTask definition diff (- current, + new):\n%s", res.TaskDefinitionDiff)
	}
	if res.ServiceDiff != "" {
		fmt.Fprintf(w, "\nService diff (- current, + new):\n%s", res.ServiceDiff)
	}
	if res.URL != "" && !res.DryRun {
		fmt.Fprintf(w, "\nURL: %s\n", res.URL)
	}
}

var longDigestRE = regexp.MustCompile(`(sha256:[0-9a-f]{12})[0-9a-f]{52}`)

// shortDigest shortens digests in a resource name to keep the plan table narrow.
func shortDigest(s string) string { return longDigestRE.ReplaceAllString(s, "$1…") }

// printEvent writes one service event of a deploy's wait on stderr.
func printEvent(w io.Writer) func(deploy.Event) {
	return func(e deploy.Event) { fmt.Fprintf(w, "%s  %s\n", e.Time.UTC().Format(time.RFC3339), e.Message) }
}

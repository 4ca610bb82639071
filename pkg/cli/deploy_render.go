package cli

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
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

// renderStatus writes `facectl deploy status` for people.
func renderStatus(w io.Writer, s deploy.Status) {
	fmt.Fprintf(w, "service %s in cluster %s: %s, %d/%d running, %d pending, task definition %s\n",
		s.Service, s.Cluster, s.Status, s.RunningCount, s.DesiredCount, s.PendingCount, shortARN(s.TaskDefinition))
	if s.URL != "" {
		fmt.Fprintf(w, "URL: %s\n", s.URL)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nDEPLOYMENT\tSTATUS\tROLLOUT\tTASK DEFINITION\tRUNNING\tDESIRED\tFAILED")
	for _, dep := range s.Deployments {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\n", dep.ID, dep.Status, dep.RolloutState, shortARN(dep.TaskDefinition), dep.Running, dep.Desired, dep.Failed)
	}
	tw.Flush()
	if s.AutoScaling != nil {
		var ps []string
		for _, p := range s.AutoScaling.Policies {
			ps = append(ps, p.Name+" ("+p.Metric+" "+strconv.FormatFloat(p.Target, 'g', -1, 64)+")")
		}
		fmt.Fprintf(w, "\nauto scaling: min %d, max %d; policies: %s\n", s.AutoScaling.Min, s.AutoScaling.Max, strings.Join(ps, ", "))
	} else {
		fmt.Fprintf(w, "\nauto scaling: none\n")
	}
	if len(s.Events) > 0 {
		fmt.Fprintln(w, "\nrecent events:")
		for _, e := range s.Events {
			fmt.Fprintf(w, "  %s  %s\n", e.Time.UTC().Format(time.RFC3339), e.Message)
		}
	}
}

// renderDestroy writes what `facectl deploy destroy` removed and left alone.
func renderDestroy(w io.Writer, r deploy.DestroyResult) {
	if len(r.Removed) == 0 {
		fmt.Fprintf(w, "nothing left to remove for service %s in cluster %s\n", r.Service, r.Cluster)
	} else {
		fmt.Fprintf(w, "removed for service %s in cluster %s:\n", r.Service, r.Cluster)
		for _, s := range r.Removed {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
	if len(r.Kept) > 0 {
		fmt.Fprintln(w, "left alone:")
		for _, s := range r.Kept {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
}

// shortARN is the last part of an ARN (task-definition/web:3 -> web:3).
func shortARN(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// printEvent writes one service event of a deploy's wait on stderr.
func printEvent(w io.Writer) func(deploy.Event) {
	return func(e deploy.Event) { fmt.Fprintf(w, "%s  %s\n", e.Time.UTC().Format(time.RFC3339), e.Message) }
}

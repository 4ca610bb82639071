package deploy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
)

// StoppedTask is a task that stopped during a failed or timed-out deployment.
type StoppedTask struct {
	TaskARN           string             `json:"task_arn"`
	TaskDefinitionARN string             `json:"task_definition_arn"`
	StopCode          string             `json:"stop_code,omitempty"`
	StoppedReason     string             `json:"stopped_reason"`
	StoppedAt         time.Time          `json:"stopped_at,omitzero"`
	Containers        []StoppedContainer `json:"containers,omitempty"`
}

// StoppedContainer is the exit state of one container of a stopped task.
type StoppedContainer struct {
	Name     string `json:"name"`
	ExitCode *int32 `json:"exit_code,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// String is a one-line summary: reason and container exit codes.
func (s StoppedTask) String() string {
	var parts []string
	for _, c := range s.Containers {
		p := c.Name
		if c.ExitCode != nil {
			p += fmt.Sprintf(" exit code %d", *c.ExitCode)
		}
		if c.Reason != "" {
			p += " (" + c.Reason + ")"
		}
		parts = append(parts, p)
	}
	out := fmt.Sprintf("task %s of %s stopped: %s", shortARN(s.TaskARN), shortARN(s.TaskDefinitionARN), s.StoppedReason)
	if len(parts) > 0 {
		out += "; container " + strings.Join(parts, ", ")
	}
	return out
}

// waitVerdict is what one look at the service says.
type waitVerdict int

const (
	waitPending waitVerdict = iota
	waitDone
	waitFailed
	waitRolledBack
)

// judge decides from one DescribeServices answer whether deployment id of tdARN is done.
// Unlike the SDK's ServicesStable waiter it does not call a rolled-back service stable: the
// deployment must be the only one, COMPLETED, on tdARN, with every task running.
func judge(svc *ecstypes.Service, tdARN, id string) (waitVerdict, string) {
	var primary, ours *ecstypes.Deployment
	for i := range svc.Deployments {
		dep := &svc.Deployments[i]
		if aws.ToString(dep.Status) == "PRIMARY" {
			primary = dep
		}
		if id != "" && aws.ToString(dep.Id) == id {
			ours = dep
		}
	}
	if ours != nil && ours.RolloutState == ecstypes.DeploymentRolloutStateFailed {
		if primary != nil && primary != ours {
			return waitRolledBack, fmt.Sprintf("deployment %s failed (%s); ECS rolled back to %s", id, aws.ToString(ours.RolloutStateReason), shortARN(aws.ToString(primary.TaskDefinition)))
		}
		return waitFailed, fmt.Sprintf("deployment %s failed: %s", id, aws.ToString(ours.RolloutStateReason))
	}
	if primary != nil && id != "" && primary != ours && aws.ToString(primary.TaskDefinition) != tdARN {
		return waitRolledBack, fmt.Sprintf("a newer deployment %s replaced %s and runs %s", aws.ToString(primary.Id), id, shortARN(aws.ToString(primary.TaskDefinition)))
	}
	if cur := aws.ToString(svc.TaskDefinition); cur != tdARN {
		return waitRolledBack, fmt.Sprintf("the service now runs %s instead of %s", shortARN(cur), shortARN(tdARN))
	}
	if primary == nil {
		return waitPending, "no primary deployment yet"
	}
	if len(svc.Deployments) != 1 {
		return waitPending, fmt.Sprintf("%d deployments; new one %s, %d/%d running%s", len(svc.Deployments), orUnknown(string(primary.RolloutState)), primary.RunningCount, primary.DesiredCount, failedTasks(primary))
	}
	if rs := primary.RolloutState; rs != "" && rs != ecstypes.DeploymentRolloutStateCompleted {
		return waitPending, fmt.Sprintf("rollout %s, %d/%d running%s", rs, primary.RunningCount, primary.DesiredCount, failedTasks(primary))
	}
	if primary.RunningCount != primary.DesiredCount || svc.RunningCount != svc.DesiredCount {
		return waitPending, fmt.Sprintf("%d/%d running", svc.RunningCount, svc.DesiredCount)
	}
	return waitDone, fmt.Sprintf("%d/%d running", svc.RunningCount, svc.DesiredCount)
}

// showsDeployment reports whether a look at svc reflects the update to tdARN: the service
// runs tdARN, or ECS reports the deployment id failed. A stale answer from before the update
// shows neither. (A deployment's own task definition is no evidence: moto never changes it.)
func showsDeployment(svc *ecstypes.Service, tdARN, id string) bool {
	if aws.ToString(svc.TaskDefinition) == tdARN {
		return true
	}
	for _, dep := range svc.Deployments {
		if id != "" && aws.ToString(dep.Id) == id && dep.RolloutState == ecstypes.DeploymentRolloutStateFailed {
			return true
		}
	}
	return false
}

// waitForDeployment polls the service until the deployment is done, failed, rolled back or timed out,
// printing new service events as they appear.
func (r *run) waitForDeployment(ctx context.Context, tdARN, id string) (Outcome, []StoppedTask, error) {
	timeout := r.cfg.Wait.Timeout
	r.log.Info("waiting for the deployment to complete", "deployment", id, "task_definition", shortARN(tdARN), "timeout", timeout)
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ticker := time.NewTicker(r.cfg.Wait.PollInterval)
	defer ticker.Stop()

	seen := map[string]bool{}
	last := ""
	// A failed look at the service (after the SDK's own retries) says nothing about the
	// deployment, which carries on: keep looking until the timeout, and say at the end whether
	// the state is known.
	var lastErr error
	failures := 0
	var lastSeen time.Time
	started, caughtUp := time.Now(), false
	for {
		out, err := r.deps.ECS.DescribeServices(wctx, &ecs.DescribeServicesInput{
			Cluster: aws.String(r.cfg.Cluster), Services: []string{r.cfg.Service},
		})
		if err != nil && wctx.Err() == nil {
			if !transient(err) {
				return OutcomeFailed, nil, fmt.Errorf("describing service %s while waiting (the deployment's state is unknown: it may still be rolling out, see facectl deploy status): %w",
					r.cfg.Service, explain(err))
			}
			failures++
			lastErr = err
			r.log.Warn("could not read the service; trying again until the timeout", "attempt", failures, "err", explain(err))
		}
		if err == nil {
			failures, lastErr, lastSeen = 0, nil, time.Now()
			// Right after CreateService or UpdateService, ECS may still answer from before it
			// (no service, or the previous deployment): that is no verdict until a look has
			// shown the deployment, or consistencyWindow has passed.
			stale := func() bool { return !caughtUp && time.Since(started) < consistencyWindow }
			verdict, why := waitPending, "ECS does not show the service yet"
			if len(out.Services) == 0 && !stale() {
				return OutcomeFailed, nil, fmt.Errorf("service %s disappeared while waiting", r.cfg.Service)
			}
			if len(out.Services) > 0 {
				svc := &out.Services[0]
				caughtUp = caughtUp || showsDeployment(svc, tdARN, id)
				r.printEvents(svc, seen)
				verdict, why = judge(svc, tdARN, id)
				if verdict == waitRolledBack && stale() {
					verdict, why = waitPending, "ECS does not show the new deployment yet"
				}
			}
			if why != last {
				r.log.Info("deployment state", "state", why)
				last = why
			}
			switch verdict {
			case waitDone:
				return OutcomeDeployed, nil, nil
			case waitFailed:
				stopped := r.reportStopped(ctx, tdARN)
				return OutcomeFailed, stopped, fmt.Errorf("%w: %s%s", ErrDeploymentFailed, why, stoppedSummary(stopped))
			case waitRolledBack:
				stopped := r.reportStopped(ctx, tdARN)
				return OutcomeRolledBack, stopped, fmt.Errorf("%w: %s%s", ErrRolledBack, why, stoppedSummary(stopped))
			}
		}
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return OutcomeFailed, nil, fmt.Errorf("waiting for service %s: %w", r.cfg.Service, ctx.Err())
			}
			stopped := r.reportStopped(ctx, tdARN)
			state := "its state when the wait ended: " + last
			switch {
			case lastErr != nil && lastSeen.IsZero():
				state = fmt.Sprintf("the deployment's state is unknown: every look at the service failed, the last with: %v", explain(lastErr))
			case lastErr != nil:
				state = fmt.Sprintf("the deployment's state is unknown: the last %d looks at the service failed (%v); %s before that it was: %s",
					failures, explain(lastErr), time.Since(lastSeen).Round(time.Second), last)
			}
			return OutcomeTimeout, stopped, fmt.Errorf("%w after %v (%s): raise --timeout or look at the events above and facectl deploy status%s",
				ErrTimeout, timeout, state, stoppedSummary(stopped))
		case <-ticker.C:
		}
	}
}

// printEvents hands service events not seen before to Deps.Events, oldest first. Events older
// than the deploy's start are marked seen without it.
func (r *run) printEvents(svc *ecstypes.Service, seen map[string]bool) {
	events := append([]ecstypes.ServiceEvent(nil), svc.Events...)
	sort.Slice(events, func(i, j int) bool { return aws.ToTime(events[i].CreatedAt).Before(aws.ToTime(events[j].CreatedAt)) })
	for _, e := range events {
		id := aws.ToString(e.Id)
		if seen[id] {
			continue
		}
		seen[id] = true
		at := aws.ToTime(e.CreatedAt)
		if at.Before(r.startedAt.Add(-time.Minute)) {
			continue
		}
		if r.deps.Events != nil {
			r.deps.Events(Event{Time: at, Message: aws.ToString(e.Message)})
		}
	}
}

func stoppedSummary(stopped []StoppedTask) string {
	if len(stopped) == 0 {
		return ""
	}
	var sb strings.Builder
	sb.WriteString("\nstopped tasks:")
	for _, s := range stopped {
		sb.WriteString("\n  " + s.String())
	}
	return sb.String()
}

// reportStopped lists recently stopped tasks of tdARN (or of the service, when none ran tdARN).
// It runs after the wait's own deadline, so it has a short deadline of its own.
func (r *run) reportStopped(ctx context.Context, tdARN string) []StoppedTask {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stopped, err := r.stoppedTasks(ctx, tdARN)
	if err != nil {
		r.log.Warn("could not list stopped tasks", "err", explain(err))
		return nil
	}
	return stopped
}

func (r *run) stoppedTasks(ctx context.Context, tdARN string) ([]StoppedTask, error) {
	list, err := r.deps.ECS.ListTasks(ctx, &ecs.ListTasksInput{
		Cluster: aws.String(r.cfg.Cluster), ServiceName: aws.String(r.cfg.Service), DesiredStatus: ecstypes.DesiredStatusStopped,
	})
	if err != nil {
		return nil, fmt.Errorf("listing stopped tasks: %w", err)
	}
	if len(list.TaskArns) == 0 {
		return nil, nil
	}
	arns := list.TaskArns
	if len(arns) > 100 {
		arns = arns[:100]
	}
	out, err := r.deps.ECS.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(r.cfg.Cluster), Tasks: arns})
	if err != nil {
		return nil, fmt.Errorf("describing stopped tasks: %w", err)
	}
	var all, ours []StoppedTask
	for _, t := range out.Tasks {
		s := StoppedTask{
			TaskARN:           aws.ToString(t.TaskArn),
			TaskDefinitionARN: aws.ToString(t.TaskDefinitionArn),
			StopCode:          string(t.StopCode),
			StoppedReason:     aws.ToString(t.StoppedReason),
			StoppedAt:         aws.ToTime(t.StoppedAt),
		}
		for _, c := range t.Containers {
			s.Containers = append(s.Containers, StoppedContainer{Name: aws.ToString(c.Name), ExitCode: c.ExitCode, Reason: aws.ToString(c.Reason)})
		}
		all = append(all, s)
		if s.TaskDefinitionARN == tdARN {
			ours = append(ours, s)
		}
	}
	if len(ours) > 0 {
		all = ours
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].StoppedAt.After(all[j].StoppedAt) })
	if len(all) > 5 {
		all = all[:5]
	}
	return all, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "rolling out"
	}
	return s
}

func failedTasks(d *ecstypes.Deployment) string {
	if d.FailedTasks == 0 {
		return ""
	}
	return fmt.Sprintf(", %d failed tasks so far", d.FailedTasks)
}

// transient reports whether a failed AWS call may succeed when tried again later: throttling,
// server faults, network errors. Client faults (permissions, credentials, a missing cluster
// or service, a bad request) will not.
func transient(err error) bool {
	if errors.Is(explain(err), ErrAccessDenied) {
		return false
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return isThrottle(apiErr.ErrorCode()) || apiErr.ErrorFault() != smithy.FaultClient
	}
	return true
}

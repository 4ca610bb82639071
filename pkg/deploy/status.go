package deploy

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// Status is what `facectl deploy status` shows.
type Status struct {
	Cluster string `json:"cluster"`
	Service string `json:"service"`
	Status  string `json:"status"`
	// URL is where the service answers (the managed environment's load balancer or domain).
	URL            string             `json:"url,omitempty"`
	TaskDefinition string             `json:"task_definition"`
	DesiredCount   int32              `json:"desired_count"`
	RunningCount   int32              `json:"running_count"`
	PendingCount   int32              `json:"pending_count"`
	Deployments    []DeploymentStatus `json:"deployments"`
	Events         []Event            `json:"events"`
	AutoScaling    *ScalingStatus     `json:"autoscaling,omitempty"`
}

// DeploymentStatus is one of the service's deployments.
type DeploymentStatus struct {
	ID             string    `json:"id"`
	Status         string    `json:"status"`
	RolloutState   string    `json:"rollout_state,omitempty"`
	Reason         string    `json:"rollout_state_reason,omitempty"`
	TaskDefinition string    `json:"task_definition"`
	Desired        int32     `json:"desired"`
	Running        int32     `json:"running"`
	Pending        int32     `json:"pending"`
	Failed         int32     `json:"failed"`
	CreatedAt      time.Time `json:"created_at,omitzero"`
}

// Event is one service event.
type Event struct {
	Time    time.Time `json:"time"`
	Message string    `json:"message"`
}

// ScalingStatus is the service's scalable target and policies.
type ScalingStatus struct {
	Min      int32          `json:"min"`
	Max      int32          `json:"max"`
	Policies []PolicyStatus `json:"policies"`
}

// PolicyStatus is one target-tracking policy.
type PolicyStatus struct {
	Name   string  `json:"name"`
	Metric string  `json:"metric"`
	Target float64 `json:"target"`
}

// Status reads the service's deployments, counts, recent events and scaling settings.
func (d *Deployer) Status(ctx context.Context) (Status, error) {
	// Empty lists, not null, in -o json.
	st := Status{Cluster: d.cfg.Cluster, Service: d.cfg.Service, Deployments: []DeploymentStatus{}, Events: []Event{}}
	svc, err := d.describeService(ctx)
	if err != nil {
		return st, err
	}
	if svc == nil {
		return st, fmt.Errorf("%w: %s in cluster %s (run facectl deploy first)", ErrServiceNotFound, d.cfg.Service, d.cfg.Cluster)
	}
	st.Status = aws.ToString(svc.Status)
	st.TaskDefinition = aws.ToString(svc.TaskDefinition)
	st.DesiredCount, st.RunningCount, st.PendingCount = svc.DesiredCount, svc.RunningCount, svc.PendingCount
	st.Deployments = deploymentStatuses(svc.Deployments)
	events := svc.Events
	sort.Slice(events, func(i, j int) bool { return aws.ToTime(events[i].CreatedAt).After(aws.ToTime(events[j].CreatedAt)) })
	for i, e := range events {
		if i == 10 {
			break
		}
		st.Events = append(st.Events, Event{Time: aws.ToTime(e.CreatedAt), Message: aws.ToString(e.Message)})
	}
	if d.managed {
		if _, stack, err := d.findStack(ctx, stackSpec{Name: d.cfg.ServiceStackName(), For: d.cfg.serviceStackFor()}, d.cfg.legacyServiceStackName()); err != nil {
			return st, err
		} else if stack != nil && stackTagValue(stack) == d.cfg.serviceStackFor() {
			st.URL = stackOutputs(stack)["URL"]
		}
	}
	t, err := d.describeScalableTarget(ctx)
	if err != nil {
		return st, err
	}
	if t != nil {
		st.AutoScaling = &ScalingStatus{Min: aws.ToInt32(t.MinCapacity), Max: aws.ToInt32(t.MaxCapacity)}
		out, err := d.deps.Scaling.DescribeScalingPolicies(ctx, &aas.DescribeScalingPoliciesInput{
			ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceId: aws.String(d.scalingResourceID()), ScalableDimension: scalableDimension,
		})
		if err != nil {
			return st, fmt.Errorf("describing scaling policies: %w", explain(err))
		}
		for _, p := range out.ScalingPolicies {
			ps := PolicyStatus{Name: aws.ToString(p.PolicyName)}
			if c := p.TargetTrackingScalingPolicyConfiguration; c != nil {
				ps.Target = aws.ToFloat64(c.TargetValue)
				if c.PredefinedMetricSpecification != nil {
					ps.Metric = string(c.PredefinedMetricSpecification.PredefinedMetricType)
				}
			}
			st.AutoScaling.Policies = append(st.AutoScaling.Policies, ps)
		}
	}
	return st, nil
}

func deploymentStatuses(deps []ecstypes.Deployment) []DeploymentStatus {
	out := []DeploymentStatus{}
	for _, dep := range deps {
		out = append(out, DeploymentStatus{
			ID: aws.ToString(dep.Id), Status: aws.ToString(dep.Status), RolloutState: string(dep.RolloutState),
			Reason: aws.ToString(dep.RolloutStateReason), TaskDefinition: aws.ToString(dep.TaskDefinition),
			Desired: dep.DesiredCount, Running: dep.RunningCount, Pending: dep.PendingCount, Failed: dep.FailedTasks,
			CreatedAt: aws.ToTime(dep.CreatedAt),
		})
	}
	return out
}

// Render writes the status for humans.
func (s Status) Render(w io.Writer) {
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

// RollbackOptions select the revision to roll back to.
type RollbackOptions struct {
	// Revision is the task definition revision to return to; 0 means the one before the
	// service's current revision.
	Revision int
}

// Rollback points the service at an earlier task definition revision and waits like Deploy.
func (d *Deployer) Rollback(ctx context.Context, opts RollbackOptions) (res Result, err error) {
	d.startedAt = time.Now()
	d.plan = &Plan{Cluster: d.cfg.Cluster, Service: d.cfg.Service, Region: d.deps.Region}
	res = Result{Cluster: d.cfg.Cluster, Service: d.cfg.Service, Outcome: OutcomeFailed, ServiceAction: "update"}
	defer func() {
		res.Actions = d.plan.Actions
		res.Seconds = time.Since(d.startedAt).Round(time.Millisecond).Seconds()
		err = explain(err)
	}()
	svc, err := d.describeService(ctx)
	if err != nil {
		return res, err
	}
	if svc == nil {
		return res, fmt.Errorf("%w: %s in cluster %s", ErrServiceNotFound, d.cfg.Service, d.cfg.Cluster)
	}
	current := aws.ToString(svc.TaskDefinition)
	family, rev := splitRevision(current)
	target, image, err := d.rollbackTarget(ctx, family, rev, opts.Revision)
	if err != nil {
		return res, err
	}
	res.TaskDefinitionARN, res.Image = target, image
	if err := d.checkImageExists(ctx, image); err != nil {
		return res, err
	}
	d.plan.add("service", d.cfg.Service, "update", shortARN(current)+" -> "+shortARN(target))
	d.log.Info("rolling back", "service", d.cfg.Service, "from", shortARN(current), "to", shortARN(target), "image", image)
	// The desired count is never part of a rollback.
	out, err := d.deps.ECS.UpdateService(ctx, &ecs.UpdateServiceInput{
		Cluster: aws.String(d.cfg.Cluster), Service: aws.String(d.cfg.Service), TaskDefinition: aws.String(target),
	})
	if err != nil {
		return res, fmt.Errorf("updating service %s to %s: %w", d.cfg.Service, shortARN(target), explain(err))
	}
	if d.cfg.Wait.Timeout == 0 {
		res.Outcome = OutcomeNotWaited
		return res, nil
	}
	outcome, stopped, err := d.wait(ctx, target, primaryDeploymentID(out.Service))
	res.Outcome, res.StoppedTasks = outcome, stopped
	return res, err
}

// splitRevision turns arn:...:task-definition/facectl:3 into ("facectl", 3).
func splitRevision(arn string) (string, int) {
	s := shortARN(arn)
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return s, 0
	}
	n, _ := strconv.Atoi(s[i+1:])
	return s[:i], n
}

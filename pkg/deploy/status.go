package deploy

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
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
	if d.cfg.IsExpress() {
		if st.URL, err = d.expressStatusURL(ctx); err != nil {
			return st, err
		}
	} else if d.managedEnv {
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

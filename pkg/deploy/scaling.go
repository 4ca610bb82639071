package deploy

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
)

const scalableDimension = aastypes.ScalableDimensionECSServiceDesiredCount

// scalingResourceID is service/<cluster name>/<service name>.
func (d *Deployer) scalingResourceID() string {
	cluster := d.cfg.Cluster
	if i := strings.LastIndex(cluster, "/"); i >= 0 {
		cluster = cluster[i+1:]
	}
	return "service/" + cluster + "/" + d.cfg.Service
}

// describeScalableTarget returns the service's scalable target, or nil.
func (d *Deployer) describeScalableTarget(ctx context.Context) (*aastypes.ScalableTarget, error) {
	out, err := d.deps.Scaling.DescribeScalableTargets(ctx, &aas.DescribeScalableTargetsInput{
		ServiceNamespace:  aastypes.ServiceNamespaceEcs,
		ResourceIds:       []string{d.scalingResourceID()},
		ScalableDimension: scalableDimension,
	})
	if err != nil {
		return nil, fmt.Errorf("describing the scalable target %s: %w", d.scalingResourceID(), explain(err))
	}
	if len(out.ScalableTargets) == 0 {
		return nil, nil
	}
	return &out.ScalableTargets[0], nil
}

// scalingOwnsCount reports whether auto scaling owns the desired count: configured here, or a
// scalable target registered by someone else. Then deploys never touch the desired count.
func (d *Deployer) scalingOwnsCount(ctx context.Context) (bool, error) {
	if d.cfg.AutoScaling.Enabled {
		return true, nil
	}
	t, err := d.describeScalableTarget(ctx)
	if err != nil {
		return false, err
	}
	if t != nil {
		d.log.Warn("a scalable target manages this service although deploy.autoscaling.enabled is false: leaving its desired count alone",
			"min", aws.ToInt32(t.MinCapacity), "max", aws.ToInt32(t.MaxCapacity))
		return true, nil
	}
	return false, nil
}

// RegisterScalableTargetInput is the request that registers the service with min/max.
func (d *Deployer) RegisterScalableTargetInput() *aas.RegisterScalableTargetInput {
	return &aas.RegisterScalableTargetInput{
		ServiceNamespace:  aastypes.ServiceNamespaceEcs,
		ResourceId:        aws.String(d.scalingResourceID()),
		ScalableDimension: scalableDimension,
		MinCapacity:       aws.Int32(int32(d.cfg.AutoScaling.Min)),
		MaxCapacity:       aws.Int32(int32(d.cfg.AutoScaling.Max)),
	}
}

// ScalingPolicyInputs are the target-tracking policies for the configuration: average CPU and,
// for an Application Load Balancer, requests per target (albLabel is its resource label).
func (d *Deployer) ScalingPolicyInputs(albLabel string) []*aas.PutScalingPolicyInput {
	a := d.cfg.AutoScaling
	policy := func(suffix string, target float64, metric aastypes.MetricType, label string) *aas.PutScalingPolicyInput {
		spec := &aastypes.PredefinedMetricSpecification{PredefinedMetricType: metric}
		if label != "" {
			spec.ResourceLabel = aws.String(label)
		}
		return &aas.PutScalingPolicyInput{
			PolicyName:        aws.String(d.cfg.Service + "-" + suffix),
			ServiceNamespace:  aastypes.ServiceNamespaceEcs,
			ResourceId:        aws.String(d.scalingResourceID()),
			ScalableDimension: scalableDimension,
			PolicyType:        aastypes.PolicyTypeTargetTrackingScaling,
			TargetTrackingScalingPolicyConfiguration: &aastypes.TargetTrackingScalingPolicyConfiguration{
				TargetValue:                   aws.Float64(target),
				PredefinedMetricSpecification: spec,
				ScaleInCooldown:               aws.Int32(int32(seconds(a.ScaleInCooldown))),
				ScaleOutCooldown:              aws.Int32(int32(seconds(a.ScaleOutCooldown))),
			},
		}
	}
	var out []*aas.PutScalingPolicyInput
	if a.CPUTarget > 0 {
		out = append(out, policy("cpu", a.CPUTarget, aastypes.MetricTypeECSServiceAverageCPUUtilization, ""))
	}
	if a.RequestsPerTarget > 0 && albLabel != "" {
		out = append(out, policy("requests", a.RequestsPerTarget, aastypes.MetricTypeALBRequestCountPerTarget, albLabel))
	}
	return out
}

// applyAutoScaling registers the scalable target and puts the policies, each only when it differs.
func (r *run) applyAutoScaling(ctx context.Context, env serviceEnv) error {
	a := r.cfg.AutoScaling
	if !a.Enabled {
		return nil
	}
	resID := r.scalingResourceID()
	cur, err := r.describeScalableTarget(ctx)
	if err != nil {
		return err
	}
	switch {
	case cur != nil && int(aws.ToInt32(cur.MinCapacity)) == a.Min && int(aws.ToInt32(cur.MaxCapacity)) == a.Max:
		r.res.add("scalable target", resID, "none", fmt.Sprintf("min %d, max %d", a.Min, a.Max))
	default:
		verb, detail := "create", fmt.Sprintf("min %d, max %d", a.Min, a.Max)
		if cur != nil {
			verb = "update"
			detail = fmt.Sprintf("min %d -> %d, max %d -> %d", aws.ToInt32(cur.MinCapacity), a.Min, aws.ToInt32(cur.MaxCapacity), a.Max)
		}
		r.res.add("scalable target", resID, verb, detail)
		if !r.dryRun {
			r.log.Info("registering scalable target", "resource", resID, "min", a.Min, "max", a.Max)
			// Application Auto Scaling may not see a service ECS has just created.
			err := r.untilConsistent(ctx, "RegisterScalableTarget", scalingServiceNotYet, func(ctx context.Context) error {
				_, err := r.deps.Scaling.RegisterScalableTarget(ctx, r.RegisterScalableTargetInput())
				return err
			})
			if err != nil {
				return fmt.Errorf("registering scalable target %s: %w", resID, explain(err))
			}
		}
	}

	label := ""
	if env.LoadBalancerType == "application" {
		label = env.ALBLabel
	}
	existing := map[string]aastypes.ScalingPolicy{}
	if cur != nil {
		out, err := r.deps.Scaling.DescribeScalingPolicies(ctx, &aas.DescribeScalingPoliciesInput{
			ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceId: aws.String(resID), ScalableDimension: scalableDimension,
		})
		if err != nil {
			return fmt.Errorf("describing scaling policies of %s: %w", resID, explain(err))
		}
		for _, p := range out.ScalingPolicies {
			existing[aws.ToString(p.PolicyName)] = p
		}
	}
	for _, in := range r.ScalingPolicyInputs(label) {
		name := aws.ToString(in.PolicyName)
		c := in.TargetTrackingScalingPolicyConfiguration
		detail := fmt.Sprintf("%s target %g", c.PredefinedMetricSpecification.PredefinedMetricType, aws.ToFloat64(c.TargetValue))
		verb := "create"
		if p, ok := existing[name]; ok {
			if samePolicy(p, in) {
				r.res.add("scaling policy", name, "none", detail)
				continue
			}
			verb = "update"
		}
		r.res.add("scaling policy", name, verb, detail)
		if r.dryRun {
			continue
		}
		r.log.Info("putting scaling policy", "name", name, "metric", c.PredefinedMetricSpecification.PredefinedMetricType, "target", aws.ToFloat64(c.TargetValue))
		if _, err := r.deps.Scaling.PutScalingPolicy(ctx, in); err != nil {
			return fmt.Errorf("putting scaling policy %s: %w", name, explain(err))
		}
	}
	return nil
}

func samePolicy(p aastypes.ScalingPolicy, in *aas.PutScalingPolicyInput) bool {
	a, b := p.TargetTrackingScalingPolicyConfiguration, in.TargetTrackingScalingPolicyConfiguration
	if a == nil || b == nil || a.PredefinedMetricSpecification == nil {
		return false
	}
	return aws.ToFloat64(a.TargetValue) == aws.ToFloat64(b.TargetValue) &&
		a.PredefinedMetricSpecification.PredefinedMetricType == b.PredefinedMetricSpecification.PredefinedMetricType &&
		aws.ToString(a.PredefinedMetricSpecification.ResourceLabel) == aws.ToString(b.PredefinedMetricSpecification.ResourceLabel) &&
		aws.ToInt32(a.ScaleInCooldown) == aws.ToInt32(b.ScaleInCooldown) &&
		aws.ToInt32(a.ScaleOutCooldown) == aws.ToInt32(b.ScaleOutCooldown)
}

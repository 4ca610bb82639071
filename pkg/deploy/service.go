package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// describeService returns the service, or nil when it does not exist (or was deleted).
func (d *Deployer) describeService(ctx context.Context) (*ecstypes.Service, error) {
	out, err := d.deps.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{
		Cluster: aws.String(d.cfg.Cluster), Services: []string{d.cfg.Service},
	})
	var noCluster *ecstypes.ClusterNotFoundException
	if errors.As(err, &noCluster) {
		// A fresh account's dry run: the environment's cluster stack has not created it yet.
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describing service %s: %w", d.cfg.Service, explain(err))
	}
	for i := range out.Services {
		s := &out.Services[i]
		switch aws.ToString(s.Status) {
		case "INACTIVE":
			return nil, nil
		case "DRAINING":
			return nil, fmt.Errorf("service %s is being deleted (DRAINING): wait until it is INACTIVE and deploy again", d.cfg.Service)
		}
		return s, nil
	}
	return nil, nil
}

// registerTaskDefinition registers a new revision when the rendered one differs from the service's
// current one (and from the family's latest); it returns the ARN to deploy.
func (r *run) registerTaskDefinition(ctx context.Context, svc *ecstypes.Service, image string, env serviceEnv) (string, bool, error) {
	want := RenderTaskDefinition(r.cfg, image, r.deps.Region)
	want.ExecutionRoleARN = env.ExecutionRoleARN // the stack's role in the managed environment
	family := r.cfg.TaskFamily()

	var currentARN, currentJSON string
	if svc != nil && aws.ToString(svc.TaskDefinition) != "" {
		currentARN = aws.ToString(svc.TaskDefinition)
		cur, err := r.describeTaskDefinition(ctx, currentARN)
		if err != nil {
			return "", false, err
		}
		if cur != nil {
			currentJSON = cur.JSON()
			if cur.Equal(want) {
				r.res.add("task definition", shortARN(currentARN), "none", "matches the service's current revision")
				return currentARN, false, nil
			}
		}
	}
	// The family's latest revision may already be what we want (e.g. a deploy that registered
	// it and then failed to update the service).
	latest, err := r.deps.ECS.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(family)})
	if err == nil && latest.TaskDefinition != nil {
		latestARN := aws.ToString(latest.TaskDefinition.TaskDefinitionArn)
		if latestARN != currentARN && taskDefinitionFromECS(latest.TaskDefinition).Equal(want) {
			r.res.TaskDefinitionDiff = lineDiff(currentJSON, want.JSON())
			r.res.add("task definition", shortARN(latestARN), "none", "already registered as the family's latest revision")
			return latestARN, false, nil
		}
		if currentJSON == "" && svc == nil {
			currentJSON = taskDefinitionFromECS(latest.TaskDefinition).JSON()
		}
	} else if err != nil && !isNotFound(err) {
		return "", false, fmt.Errorf("describing task definition family %s: %w", family, explain(err))
	}

	r.res.TaskDefinitionDiff = lineDiff(currentJSON, want.JSON())
	if r.dryRun {
		r.res.add("task definition", family, "register", "new revision")
		return family + ":(new revision)", true, nil
	}
	r.log.Info("registering task definition", "family", family, "image", image)
	in := want.Input()
	in.Tags = r.taskDefinitionTags() // rollback tells this service's revisions by them
	out, err := r.deps.ECS.RegisterTaskDefinition(ctx, in)
	if err != nil {
		return "", false, fmt.Errorf("registering task definition %s: %w", family, explain(err))
	}
	arn := aws.ToString(out.TaskDefinition.TaskDefinitionArn)
	r.res.add("task definition", shortARN(arn), "register", "")
	r.log.Info("registered task definition", "arn", arn)
	return arn, true, nil
}

// describeTaskDefinition returns the managed fields of a task definition, or nil if it is gone.
func (d *Deployer) describeTaskDefinition(ctx context.Context, arn string) (*TaskDefinition, error) {
	out, err := d.deps.ECS.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(arn)})
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describing task definition %s: %w", arn, explain(err))
	}
	t := taskDefinitionFromECS(out.TaskDefinition)
	return &t, nil
}

// isNotFound reports ECS's answer for an unknown task definition: a ClientException saying
// so. Other ClientExceptions (a malformed ARN, a family in another account, a missing
// permission reported as a client error) are errors, not "not found".
func isNotFound(err error) bool {
	var ce *ecstypes.ClientException
	if !errors.As(err, &ce) {
		return false
	}
	msg := strings.ToLower(ce.ErrorMessage())
	return strings.Contains(msg, "unable to describe task definition") || strings.Contains(msg, "not found") ||
		strings.Contains(msg, "does not exist")
}

// shortARN turns arn:...:task-definition/facectl:3 into facectl:3.
func shortARN(arn string) string {
	if i := strings.LastIndex(arn, "/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// serviceView is the part of a service facectl manages, for diffs and change detection.
type serviceView struct {
	TaskDefinition                string            `json:"taskDefinition"`
	DesiredCount                  *int32            `json:"desiredCount,omitempty"`
	MinimumHealthyPercent         int32             `json:"minimumHealthyPercent"`
	MaximumPercent                int32             `json:"maximumPercent"`
	CircuitBreaker                *circuitBreaker   `json:"deploymentCircuitBreaker,omitempty"`
	Subnets                       []string          `json:"subnets"`
	SecurityGroups                []string          `json:"securityGroups"`
	AssignPublicIP                string            `json:"assignPublicIp"`
	LoadBalancers                 []loadBalancerRef `json:"loadBalancers,omitempty"`
	HealthCheckGracePeriodSeconds int32             `json:"healthCheckGracePeriodSeconds,omitempty"`
}

type circuitBreaker struct {
	Enable   bool `json:"enable"`
	Rollback bool `json:"rollback"`
}

type loadBalancerRef struct {
	TargetGroupARN string `json:"targetGroupArn"`
	ContainerName  string `json:"containerName"`
	ContainerPort  int32  `json:"containerPort"`
}

func (v serviceView) json() string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b) + "\n"
}

// desiredCount is the count a new service starts with: within the auto scaling bounds.
func (d *Deployer) desiredCount() int32 {
	n := d.cfg.DesiredCount
	if a := d.cfg.AutoScaling; a.Enabled {
		n = min(max(n, a.Min), a.Max)
	}
	return int32(n)
}

func (d *Deployer) wantView(tdARN string, scaled, creating bool, env serviceEnv) serviceView {
	v := serviceView{
		TaskDefinition:        shortARN(tdARN),
		MinimumHealthyPercent: int32(d.cfg.Deployment.MinimumHealthyPercent),
		MaximumPercent:        int32(d.cfg.Deployment.MaximumPercent),
		CircuitBreaker:        &circuitBreaker{Enable: d.cfg.Deployment.CircuitBreaker, Rollback: d.cfg.Deployment.Rollback},
		Subnets:               sortedCopy(env.Subnets),
		SecurityGroups:        sortedCopy(env.SecurityGroups),
		AssignPublicIP:        string(assignPublicIP(env)),
	}
	if !scaled || creating {
		n := d.desiredCount()
		v.DesiredCount = &n
	}
	if tg := env.TargetGroupARN; tg != "" {
		v.LoadBalancers = []loadBalancerRef{{TargetGroupARN: tg, ContainerName: d.cfg.Task.ContainerName, ContainerPort: int32(d.cfg.Task.ContainerPort)}}
		v.HealthCheckGracePeriodSeconds = int32(seconds(d.cfg.LoadBalancer.HealthCheckGracePeriod))
	}
	return v
}

// currentView reads the managed fields of svc. A field the API does not report is taken from
// want: it cannot be compared, and is set anyway whenever the service is updated.
func currentView(svc *ecstypes.Service, want serviceView) serviceView {
	v := want
	v.TaskDefinition = shortARN(aws.ToString(svc.TaskDefinition))
	if want.DesiredCount != nil {
		n := svc.DesiredCount
		v.DesiredCount = &n
	}
	if dc := svc.DeploymentConfiguration; dc != nil {
		if dc.MinimumHealthyPercent != nil {
			v.MinimumHealthyPercent = *dc.MinimumHealthyPercent
		}
		if dc.MaximumPercent != nil {
			v.MaximumPercent = *dc.MaximumPercent
		}
		if cb := dc.DeploymentCircuitBreaker; cb != nil {
			v.CircuitBreaker = &circuitBreaker{Enable: cb.Enable, Rollback: cb.Rollback}
		}
	}
	if nc := svc.NetworkConfiguration; nc != nil && nc.AwsvpcConfiguration != nil {
		v.Subnets = sortedCopy(nc.AwsvpcConfiguration.Subnets)
		v.SecurityGroups = sortedCopy(nc.AwsvpcConfiguration.SecurityGroups)
		if nc.AwsvpcConfiguration.AssignPublicIp != "" {
			v.AssignPublicIP = string(nc.AwsvpcConfiguration.AssignPublicIp)
		}
	}
	v.LoadBalancers = nil
	for _, lb := range svc.LoadBalancers {
		v.LoadBalancers = append(v.LoadBalancers, loadBalancerRef{
			TargetGroupARN: aws.ToString(lb.TargetGroupArn), ContainerName: aws.ToString(lb.ContainerName), ContainerPort: aws.ToInt32(lb.ContainerPort),
		})
	}
	if svc.HealthCheckGracePeriodSeconds != nil {
		v.HealthCheckGracePeriodSeconds = *svc.HealthCheckGracePeriodSeconds
	}
	return v
}

func sortedCopy(in []string) []string {
	out := append([]string{}, in...)
	sort.Strings(out)
	return out
}

func assignPublicIP(env serviceEnv) ecstypes.AssignPublicIp {
	if env.AssignPublicIP {
		return ecstypes.AssignPublicIpEnabled
	}
	return ecstypes.AssignPublicIpDisabled
}

func networkConfiguration(env serviceEnv) *ecstypes.NetworkConfiguration {
	return &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
		Subnets: env.Subnets, SecurityGroups: env.SecurityGroups, AssignPublicIp: assignPublicIP(env),
	}}
}

func (d *Deployer) deploymentConfiguration() *ecstypes.DeploymentConfiguration {
	return &ecstypes.DeploymentConfiguration{
		DeploymentCircuitBreaker: &ecstypes.DeploymentCircuitBreaker{Enable: d.cfg.Deployment.CircuitBreaker, Rollback: d.cfg.Deployment.Rollback},
		MinimumHealthyPercent:    aws.Int32(int32(d.cfg.Deployment.MinimumHealthyPercent)),
		MaximumPercent:           aws.Int32(int32(d.cfg.Deployment.MaximumPercent)),
	}
}

func (d *Deployer) loadBalancers(env serviceEnv) []ecstypes.LoadBalancer {
	if env.TargetGroupARN == "" {
		return nil
	}
	return []ecstypes.LoadBalancer{{
		TargetGroupArn: aws.String(env.TargetGroupARN),
		ContainerName:  aws.String(d.cfg.Task.ContainerName),
		ContainerPort:  aws.Int32(int32(d.cfg.Task.ContainerPort)),
	}}
}

// CreateServiceInput is the request that creates the service running tdARN in the network
// and behind the target group the configuration names.
func (d *Deployer) CreateServiceInput(tdARN string) *ecs.CreateServiceInput {
	return d.createServiceInput(tdARN, envFromConfig(d.cfg))
}

func (d *Deployer) createServiceInput(tdARN string, env serviceEnv) *ecs.CreateServiceInput {
	in := &ecs.CreateServiceInput{
		Cluster:                 aws.String(d.cfg.Cluster),
		ServiceName:             aws.String(d.cfg.Service),
		TaskDefinition:          aws.String(tdARN),
		DesiredCount:            aws.Int32(d.desiredCount()),
		LaunchType:              ecstypes.LaunchTypeFargate,
		SchedulingStrategy:      ecstypes.SchedulingStrategyReplica,
		NetworkConfiguration:    networkConfiguration(env),
		DeploymentConfiguration: d.deploymentConfiguration(),
		EnableECSManagedTags:    true,
		PropagateTags:           ecstypes.PropagateTagsService,
		LoadBalancers:           d.loadBalancers(env),
		// destroy deletes only a service that carries these.
		Tags: d.taskDefinitionTags(),
	}
	if in.LoadBalancers != nil {
		in.HealthCheckGracePeriodSeconds = aws.Int32(int32(seconds(d.cfg.LoadBalancer.HealthCheckGracePeriod)))
	}
	return in
}

// UpdateServiceInput is the request that moves the service to tdARN and the configured
// settings (the network and target group the configuration names). The desired count is left
// out when auto scaling manages the service.
func (d *Deployer) UpdateServiceInput(tdARN string, scaled bool, withLoadBalancers bool) *ecs.UpdateServiceInput {
	return d.updateServiceInput(tdARN, scaled, withLoadBalancers, envFromConfig(d.cfg))
}

func (d *Deployer) updateServiceInput(tdARN string, scaled bool, withLoadBalancers bool, env serviceEnv) *ecs.UpdateServiceInput {
	in := &ecs.UpdateServiceInput{
		Cluster:                 aws.String(d.cfg.Cluster),
		Service:                 aws.String(d.cfg.Service),
		TaskDefinition:          aws.String(tdARN),
		NetworkConfiguration:    networkConfiguration(env),
		DeploymentConfiguration: d.deploymentConfiguration(),
	}
	if !scaled {
		in.DesiredCount = aws.Int32(int32(d.cfg.DesiredCount))
	}
	if env.TargetGroupARN != "" {
		in.HealthCheckGracePeriodSeconds = aws.Int32(int32(seconds(d.cfg.LoadBalancer.HealthCheckGracePeriod)))
	}
	if withLoadBalancers {
		in.LoadBalancers = d.loadBalancers(env)
		if in.LoadBalancers == nil {
			in.LoadBalancers = []ecstypes.LoadBalancer{}
		}
	}
	return in
}

// changedFields lists the top-level fields that differ between two views.
func changedFields(cur, want serviceView) []string {
	var a, b map[string]json.RawMessage
	_ = json.Unmarshal([]byte(cur.json()), &a)
	_ = json.Unmarshal([]byte(want.json()), &b)
	var out []string
	for k, v := range b {
		if string(a[k]) != string(v) {
			out = append(out, k)
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// applyService creates or updates the service; it returns the deployment to wait for.
func (r *run) applyService(ctx context.Context, svc *ecstypes.Service, tdARN string, scaled bool, env serviceEnv) (string, string, error) {
	name := r.cfg.Service
	if svc == nil {
		want := r.wantView(tdARN, scaled, true, env)
		r.res.ServiceDiff = lineDiff("", want.json())
		r.res.add("service", name, "create", fmt.Sprintf("FARGATE, %d tasks", r.desiredCount()))
		if r.dryRun {
			return "", "create", nil
		}
		r.log.Info("creating service", "service", name, "cluster", r.cfg.Cluster, "desired_count", r.desiredCount())
		var out *ecs.CreateServiceOutput
		err := r.untilConsistent(ctx, "CreateService", createServiceNotYet, func(ctx context.Context) error {
			var err error
			out, err = r.deps.ECS.CreateService(ctx, r.createServiceInput(tdARN, env))
			return err
		})
		if err != nil {
			return "", "", fmt.Errorf("creating service %s: %w", name, explain(err))
		}
		return primaryDeploymentID(out.Service), "create", nil
	}

	want := r.wantView(tdARN, scaled, false, env)
	cur := currentView(svc, want)
	changes := changedFields(cur, want)
	if len(changes) == 0 {
		r.res.add("service", name, "none", "already runs "+shortARN(tdARN))
		return primaryDeploymentID(svc), "none", nil
	}
	r.res.ServiceDiff = lineDiff(cur.json(), want.json())
	detail := "changes " + strings.Join(changes, ", ")
	if scaled {
		detail += " (desired count left to auto scaling)"
	}
	r.res.add("service", name, "update", detail)
	if r.dryRun {
		return "", "update", nil
	}
	withLB := containsString(changes, "loadBalancers")
	r.log.Info("updating service", "service", name, "task_definition", shortARN(tdARN), "changes", strings.Join(changes, ","))
	out, err := r.deps.ECS.UpdateService(ctx, r.updateServiceInput(tdARN, scaled, withLB, env))
	if err != nil {
		return "", "", fmt.Errorf("updating service %s: %w", name, explain(err))
	}
	return primaryDeploymentID(out.Service), "update", nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func primaryDeploymentID(svc *ecstypes.Service) string {
	if svc == nil {
		return ""
	}
	for _, dep := range svc.Deployments {
		if aws.ToString(dep.Status) == "PRIMARY" {
			return aws.ToString(dep.Id)
		}
	}
	return ""
}

package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// deploy.mode express runs the service as an Amazon ECS Express Mode service: facectl builds,
// pushes and registers the task definition as in service mode (the image, platform, secrets,
// environment, health check and stop timeout stay facectl's), and the Express service runs it
// behind a load balancer AWS provisions (shared by up to 25 Express services) with an HTTPS
// listener on an AWS-provided domain, its security groups, auto scaling and canary deployments.
// API reference: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateExpressGatewayService.html
// and .../API_UpdateExpressGatewayService.html, .../API_DescribeExpressGatewayService.html,
// .../API_DeleteExpressGatewayService.html.

const (
	// expressContainerName is the container name Express requires of a task definition it is
	// given ("must have a container named Main with a single TCP port mapping that includes a
	// container port and port name", CreateExpressGatewayService's taskDefinitionArn).
	expressContainerName = "Main"
	// expressPortName names that port mapping.
	expressPortName = "http"
	// infrastructurePrincipal is the service the infrastructure role must trust
	// (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/infrastructure_IAM_role.html).
	infrastructurePrincipal = "ecs.amazonaws.com"
	// expressInfrastructurePolicy is AWS's managed policy for that role
	// (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonECSInfrastructureRoleforExpressGatewayServices.html).
	expressInfrastructurePolicy = "iam::aws:policy/service-role/AmazonECSInfrastructureRoleforExpressGatewayServices"
	// infrastructureRolePath is the IAM path of the infrastructure role the stack creates.
	infrastructureRolePath = "/facectl-express/"
)

// expressRoles are the roles the Express service is created with.
type expressRoles struct {
	Execution, Infrastructure string
}

// deployExpress is Deploy in Express Mode: preflight, the environment stacks beside the image,
// the task definition, the Express service, the wait.
func (r *run) deployExpress(ctx context.Context) error {
	res := r.res
	// Express has no equivalent of these: say so rather than let them look applied.
	def := DefaultConfig()
	for _, s := range []struct {
		key string
		set bool
	}{
		{"deploy.desired_count", r.cfg.DesiredCount != def.DesiredCount},
		{"deploy.deployment", !reflect.DeepEqual(r.cfg.Deployment, def.Deployment)},
		{"deploy.network.assign_public_ip", r.cfg.Network.AssignPublicIP != def.Network.AssignPublicIP},
	} {
		if s.set {
			r.log.Warn("ignored in express mode (Express Mode has no such setting)", "key", s.key)
		}
	}
	if err := r.expressPreflight(ctx); err != nil {
		return err
	}
	res.Account = r.account
	steps, err := r.planEnvironment(ctx, envNetwork{}) // Express chooses the network
	if err != nil {
		return err
	}
	outputs, img, err := r.stacksBesideImage(ctx, steps)
	if err != nil {
		return err
	}
	roles := r.expressRolesFrom(outputs)
	if err := r.keepImageAndLogs(ctx, img); err != nil {
		return err
	}

	svc, err := r.describeExpress(ctx)
	if err != nil {
		return err
	}
	var current *ecstypes.Service
	if cfg := latestConfiguration(svc); cfg != nil {
		current = &ecstypes.Service{TaskDefinition: cfg.TaskDefinitionArn}
	}
	tdARN, registered, err := r.registerTaskDefinition(ctx, current, img.Ref, serviceEnv{ExecutionRoleARN: roles.Execution})
	if err != nil {
		return err
	}
	res.TaskDefinitionARN, res.Registered = tdARN, registered

	action, err := r.applyExpress(ctx, svc, tdARN, roles)
	if err != nil {
		return err
	}
	res.ServiceAction = action
	res.URL = expressURL(svc)
	if r.dryRun {
		res.Outcome = OutcomePlanned
		return nil
	}
	if r.cfg.Wait.Timeout == 0 {
		r.log.Info("not waiting for the deployment (deploy.wait.timeout is 0)")
		res.Outcome = OutcomeNotWaited
		return nil
	}
	// The Express service is an ECS service of the same name: its deployments, events and
	// stopped tasks tell how the rollout goes (and a rollback, as in service mode).
	outcome, stopped, err := r.waitForDeployment(ctx, tdARN, "")
	res.Outcome, res.StoppedTasks = outcome, stopped
	if err != nil {
		return err
	}
	url, err := r.waitExpressActive(ctx, tdARN)
	if url != "" {
		res.URL = url
	}
	switch {
	case errors.Is(err, ErrRolledBack):
		res.Outcome = OutcomeRolledBack
		res.StoppedTasks = r.reportStopped(ctx, tdARN)
		return fmt.Errorf("%w%s", err, stoppedSummary(res.StoppedTasks))
	case errors.Is(err, ErrTimeout):
		res.Outcome = OutcomeTimeout
		return err
	case err != nil:
		res.Outcome = OutcomeFailed
		return err
	}
	r.log.Info("deployment complete", "service", r.cfg.Service, "task_definition", tdARN, "url", res.URL,
		"seconds", time.Since(r.startedAt).Round(time.Millisecond).Seconds())
	return nil
}

// expressPreflight checks credentials, the cluster, your own network when it is configured,
// and the roles, and reports every problem at once.
func (r *run) expressPreflight(ctx context.Context) error {
	r.log.Info("preflight: checking credentials, cluster and roles (Express Mode)")
	id, err := r.deps.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return fmt.Errorf("checking AWS credentials: %w", explain(err))
	}
	r.account = aws.ToString(id.Account)
	var errs []error
	if err := r.checkCluster(ctx); err != nil {
		errs = append(errs, err)
	}
	if len(r.cfg.Network.SecurityGroups) > 0 {
		if _, err := r.checkNetwork(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := r.checkRoles(ctx); err != nil {
		errs = append(errs, err)
	}
	if arn := r.cfg.Express.InfrastructureRoleARN; arn != "" {
		key := "deploy.express.infrastructure_role_arn"
		if err := r.checkTrust(ctx, key, arn, infrastructurePrincipal, fmt.Sprintf(
			"create it trusting %s with the managed policy AmazonECSInfrastructureRoleforExpressGatewayServices, or leave %s empty for the managed environment to make one",
			infrastructurePrincipal, key)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: preflight found %d problem(s):\n%w", ErrInvalidConfig, len(errs), errors.Join(errs...))
	}
	return nil
}

// expressRolesFrom takes the configured roles, or the service stack's (placeholders in a dry
// run that would create the stack).
func (r *run) expressRolesFrom(out map[string]string) expressRoles {
	get := func(set, key string) string {
		if set != "" {
			return set
		}
		if v, ok := out[key]; ok {
			return v
		}
		return "(" + key + " of the new stack)"
	}
	return expressRoles{
		Execution:      get(r.cfg.Task.ExecutionRoleARN, "ExecutionRoleArn"),
		Infrastructure: get(r.cfg.Express.InfrastructureRoleARN, "InfrastructureRoleArn"),
	}
}

// expressServiceARN is the Express service's ARN, which Describe, Update and Delete take: the
// ARN of the ECS service of that name in the cluster.
func (d *Deployer) expressServiceARN(account string) string {
	return fmt.Sprintf("arn:%s:ecs:%s:%s:service/%s/%s", partitionOf(d.deps.Region), d.deps.Region, account, clusterName(d.cfg.Cluster), d.cfg.Service)
}

// describeExpress returns the Express service, or nil when there is none (or it was deleted).
// A regular ECS service of that name is refused: Express cannot take it over.
func (r *run) describeExpress(ctx context.Context) (*ecstypes.ECSExpressGatewayService, error) {
	svc, err := r.Deployer.describeExpress(ctx, r.account)
	if err != nil || svc != nil {
		return svc, err
	}
	plain, err := r.describeService(ctx)
	if err != nil {
		return nil, err
	}
	if plain != nil {
		return nil, fmt.Errorf("%w: ECS service %s in cluster %s exists and is not an Express service: deploy.mode express cannot take it over; "+
			"deploy the Express service under another deploy.service, or remove this one (facectl deploy destroy with deploy.mode service)",
			ErrInvalidConfig, r.cfg.Service, r.cfg.Cluster)
	}
	return nil, nil
}

func (d *Deployer) describeExpress(ctx context.Context, account string) (*ecstypes.ECSExpressGatewayService, error) {
	out, err := d.deps.ECS.DescribeExpressGatewayService(ctx, &ecs.DescribeExpressGatewayServiceInput{
		ServiceArn: aws.String(d.expressServiceARN(account)), Include: []ecstypes.ExpressGatewayServiceInclude{ecstypes.ExpressGatewayServiceIncludeTags},
	})
	if expressMissing(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describing Express service %s: %w", d.cfg.Service, explain(err))
	}
	if out.Service == nil || out.Service.Status == nil || out.Service.Status.StatusCode == ecstypes.ExpressGatewayServiceStatusCodeInactive {
		return nil, nil
	}
	if out.Service.Status.StatusCode == ecstypes.ExpressGatewayServiceStatusCodeDraining {
		return nil, fmt.Errorf("Express service %s is being deleted (DRAINING): wait until it is INACTIVE and deploy again", d.cfg.Service)
	}
	return out.Service, nil
}

// expressMissing is ECS's answer for an Express service (or cluster) that does not exist.
func expressMissing(err error) bool {
	var nf *ecstypes.ServiceNotFoundException
	var cnf *ecstypes.ClusterNotFoundException
	var rnf *ecstypes.ResourceNotFoundException
	return errors.As(err, &nf) || errors.As(err, &cnf) || errors.As(err, &rnf)
}

// latestConfiguration is the newest of the service's active configurations (during a canary
// deployment there are two: the old and the new).
func latestConfiguration(svc *ecstypes.ECSExpressGatewayService) *ecstypes.ExpressGatewayServiceConfiguration {
	if svc == nil {
		return nil
	}
	var latest *ecstypes.ExpressGatewayServiceConfiguration
	for i := range svc.ActiveConfigurations {
		c := &svc.ActiveConfigurations[i]
		if latest == nil || aws.ToTime(c.CreatedAt).After(aws.ToTime(latest.CreatedAt)) {
			latest = c
		}
	}
	return latest
}

// expressURL is the HTTPS URL of the service's public ingress path.
func expressURL(svc *ecstypes.ECSExpressGatewayService) string {
	c := latestConfiguration(svc)
	if c == nil {
		return ""
	}
	for _, p := range c.IngressPaths {
		if p.AccessType == ecstypes.AccessTypePublic && aws.ToString(p.Endpoint) != "" {
			e := aws.ToString(p.Endpoint)
			if !strings.Contains(e, "://") {
				e = "https://" + e
			}
			return e
		}
	}
	return ""
}

// expressView is the part of an Express service configuration facectl manages, for the diff
// and the change detection.
type expressView struct {
	TaskDefinition  string                                              `json:"taskDefinitionArn"`
	HealthCheckPath string                                              `json:"healthCheckPath"`
	ScalingTarget   expressScaling                                      `json:"scalingTarget"`
	Subnets         []string                                            `json:"subnets,omitempty"`
	SecurityGroups  []string                                            `json:"securityGroups,omitempty"`
	Network         *ecstypes.ExpressGatewayServiceNetworkConfiguration `json:"-"`
}

type expressScaling struct {
	Min    int32  `json:"minTaskCount"`
	Max    int32  `json:"maxTaskCount"`
	Metric string `json:"autoScalingMetric"`
	Target int32  `json:"autoScalingTargetValue"`
}

func (v expressView) json() string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b) + "\n"
}

// wantExpress is the configuration the deploy wants the service to have.
func (d *Deployer) wantExpress(tdARN string) expressView {
	a := d.cfg.AutoScaling
	s := expressScaling{Min: int32(a.Min), Max: int32(a.Max),
		Metric: string(ecstypes.ExpressGatewayServiceScalingMetricAverageCPUUtilization), Target: int32(math.Round(a.CPUTarget))}
	if a.RequestsPerTarget > 0 {
		s.Metric, s.Target = string(ecstypes.ExpressGatewayServiceScalingMetricRequestCountPerTarget), int32(math.Round(a.RequestsPerTarget))
	}
	v := expressView{TaskDefinition: tdARN, HealthCheckPath: d.cfg.Express.HealthCheckPath, ScalingTarget: s}
	// Without a network of your own, Express uses the default VPC and makes the security groups.
	if n := d.cfg.Network; len(n.Subnets) > 0 || len(n.SecurityGroups) > 0 {
		v.Subnets, v.SecurityGroups = sortedCopy(n.Subnets), sortedCopy(n.SecurityGroups)
		v.Network = &ecstypes.ExpressGatewayServiceNetworkConfiguration{Subnets: n.Subnets, SecurityGroups: n.SecurityGroups}
	}
	return v
}

// currentExpress reads the managed fields of the service's newest configuration; a field the
// configuration does not manage (the network Express chose) is taken from want.
func currentExpress(c *ecstypes.ExpressGatewayServiceConfiguration, want expressView) expressView {
	v := want
	v.TaskDefinition = aws.ToString(c.TaskDefinitionArn)
	v.HealthCheckPath = aws.ToString(c.HealthCheckPath)
	if s := c.ScalingTarget; s != nil {
		v.ScalingTarget = expressScaling{Min: aws.ToInt32(s.MinTaskCount), Max: aws.ToInt32(s.MaxTaskCount), Metric: string(s.AutoScalingMetric), Target: aws.ToInt32(s.AutoScalingTargetValue)}
	}
	if want.Network != nil && c.NetworkConfiguration != nil {
		v.Subnets, v.SecurityGroups = sortedCopy(c.NetworkConfiguration.Subnets), sortedCopy(c.NetworkConfiguration.SecurityGroups)
	}
	return v
}

func (v expressView) scalingTarget() *ecstypes.ExpressGatewayScalingTarget {
	return &ecstypes.ExpressGatewayScalingTarget{
		MinTaskCount: aws.Int32(v.ScalingTarget.Min), MaxTaskCount: aws.Int32(v.ScalingTarget.Max),
		AutoScalingMetric: ecstypes.ExpressGatewayServiceScalingMetric(v.ScalingTarget.Metric), AutoScalingTargetValue: aws.Int32(v.ScalingTarget.Target),
	}
}

// applyExpress creates the Express service or updates it when its configuration differs; an
// unchanged one is left alone.
func (r *run) applyExpress(ctx context.Context, svc *ecstypes.ECSExpressGatewayService, tdARN string, roles expressRoles) (string, error) {
	name := r.cfg.Service
	want := r.wantExpress(tdARN)
	if svc == nil {
		r.res.ServiceDiff = lineDiff("", want.json())
		r.res.add("express service", name, "create", fmt.Sprintf("%d-%d tasks, HTTPS on an AWS-provided domain", want.ScalingTarget.Min, want.ScalingTarget.Max))
		if r.dryRun {
			return "create", nil
		}
		r.log.Info("creating Express service", "service", name, "cluster", r.cfg.Cluster)
		tags := r.taskDefinitionTags() // destroy deletes only a service that carries these
		out, err := r.deps.ECS.CreateExpressGatewayService(ctx, &ecs.CreateExpressGatewayServiceInput{
			ServiceName:           aws.String(name),
			Cluster:               aws.String(r.cfg.Cluster),
			InfrastructureRoleArn: aws.String(roles.Infrastructure),
			TaskDefinitionArn:     aws.String(tdARN),
			HealthCheckPath:       aws.String(want.HealthCheckPath),
			NetworkConfiguration:  want.Network,
			ScalingTarget:         want.scalingTarget(),
			Tags:                  tags,
		})
		if err != nil {
			return "", fmt.Errorf("creating Express service %s: %w", name, explain(err))
		}
		r.res.URL = expressURL(out.Service)
		return "create", nil
	}
	if got := aws.ToString(svc.InfrastructureRoleArn); got != roles.Infrastructure && !strings.HasPrefix(roles.Infrastructure, "(") {
		// UpdateExpressGatewayService has no infrastructure role: it is fixed at creation.
		return "", fmt.Errorf("%w: Express service %s was created with infrastructure role %s, not %s, and an Express service keeps its infrastructure role for life: "+
			"set deploy.express.infrastructure_role_arn to %s, or deploy another service", ErrInvalidConfig, name, got, roles.Infrastructure, got)
	}
	cur := currentExpress(latestConfiguration(svc), want)
	switch {
	case cur.json() == want.json() && len(svc.ActiveConfigurations) == 1:
		r.res.add("express service", name, "none", "already runs "+shortARN(tdARN))
		return "none", nil
	case cur.json() == want.json():
		// A deployment of this very configuration is under way: wait for it, change nothing.
		r.res.add("express service", name, "none", "a deployment of "+shortARN(tdARN)+" is under way")
		return "none", nil
	}
	r.res.ServiceDiff = lineDiff(cur.json(), want.json())
	r.res.add("express service", name, "update", "new configuration (canary deployment)")
	if r.dryRun {
		return "update", nil
	}
	r.log.Info("updating Express service", "service", name, "task_definition", shortARN(tdARN))
	if _, err := r.deps.ECS.UpdateExpressGatewayService(ctx, &ecs.UpdateExpressGatewayServiceInput{
		ServiceArn:           svc.ServiceArn,
		TaskDefinitionArn:    aws.String(tdARN),
		HealthCheckPath:      aws.String(want.HealthCheckPath),
		NetworkConfiguration: want.Network,
		ScalingTarget:        want.scalingTarget(),
	}); err != nil {
		return "", fmt.Errorf("updating Express service %s: %w", name, explain(err))
	}
	return "update", nil
}

// waitExpressActive waits, after the ECS deployment completed, until the Express service's
// only active configuration is tdARN's, and returns its URL. An active configuration of
// another task definition alone means Express rolled the deployment back.
func (r *run) waitExpressActive(ctx context.Context, tdARN string) (string, error) {
	deadline := r.startedAt.Add(r.cfg.Wait.Timeout)
	tick := time.NewTicker(r.cfg.Wait.PollInterval)
	defer tick.Stop()
	last, seen := "", false
	for {
		svc, err := r.Deployer.describeExpress(ctx, r.account)
		switch {
		case err != nil && !transient(err):
			return "", err
		case err != nil:
			r.log.Warn("could not read the Express service; trying again", "err", err)
		case svc == nil:
			return "", fmt.Errorf("%w: Express service %s disappeared while waiting", ErrDeploymentFailed, r.cfg.Service)
		default:
			var tds []string
			ours := false
			for _, c := range svc.ActiveConfigurations {
				td := aws.ToString(c.TaskDefinitionArn)
				tds = append(tds, shortARN(td))
				ours = ours || td == tdARN
			}
			// Right after the update, Express may still show the configuration from before it: only
			// one of another task definition after ours was active, or after consistencyWindow, is
			// a rollback.
			seen = seen || ours
			switch {
			case len(tds) == 1 && ours:
				return expressURL(svc), nil
			case len(tds) > 0 && !ours && (seen || time.Since(r.startedAt) > consistencyWindow):
				return expressURL(svc), fmt.Errorf("%w: Express service %s is active with %s instead of %s (%s)",
					ErrRolledBack, r.cfg.Service, strings.Join(tds, ", "), shortARN(tdARN), aws.ToString(svc.Status.StatusReason))
			}
			if s := "active configurations " + strings.Join(tds, ", "); s != last {
				r.log.Info("Express service state", "state", s)
				last = s
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%w after %v: the Express service's active configuration is not %s yet (%s): see facectl deploy status", ErrTimeout, r.cfg.Wait.Timeout, shortARN(tdARN), last)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-tick.C:
		}
	}
}

// deleteExpressService deletes the Express service (which removes what Express made for it:
// its listener rule, target groups, security groups, scaling and alarms) and waits until ECS
// reports it INACTIVE or gone.
func (d *Deployer) deleteExpressService(ctx context.Context, account string, draining bool) error {
	arn := d.expressServiceARN(account)
	if !draining {
		if _, err := d.deps.ECS.DeleteExpressGatewayService(ctx, &ecs.DeleteExpressGatewayServiceInput{ServiceArn: aws.String(arn)}); err != nil && !expressMissing(err) {
			return fmt.Errorf("deleting Express service %s: %w", d.cfg.Service, explain(err))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, stackTimeout)
	defer cancel()
	tick := time.NewTicker(d.cfg.Wait.PollInterval)
	defer tick.Stop()
	for {
		out, err := d.deps.ECS.DescribeExpressGatewayService(ctx, &ecs.DescribeExpressGatewayServiceInput{ServiceArn: aws.String(arn)})
		switch {
		case expressMissing(err):
			return nil
		case err != nil && !transient(err):
			return fmt.Errorf("waiting for Express service %s to be deleted: %w", d.cfg.Service, explain(err))
		case err == nil && (out.Service == nil || out.Service.Status == nil || out.Service.Status.StatusCode == ecstypes.ExpressGatewayServiceStatusCodeInactive):
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for Express service %s to be deleted: %w", d.cfg.Service, ctx.Err())
		case <-tick.C:
		}
	}
}

// expressStatusURL is the Express service's URL for deploy status ("" when there is none).
func (d *Deployer) expressStatusURL(ctx context.Context) (string, error) {
	id, err := d.deps.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("checking AWS credentials: %w", explain(err))
	}
	svc, err := d.describeExpress(ctx, aws.ToString(id.Account))
	if err != nil {
		return "", err
	}
	return expressURL(svc), nil
}

// expressPolicyStatements are what the caller needs for an Express service beyond service
// mode: the four Express calls, passing the infrastructure role to ECS, and, when the
// managed environment makes that role, reading, updating and deleting it (not creating it).
func expressPolicyStatements(cfg Config, part string) []PolicyStatement {
	all := []string{"*"}
	passToECS := func(sid string, roles []string) PolicyStatement {
		return PolicyStatement{Sid: sid, Effect: "Allow", Action: []string{"iam:PassRole"}, Resource: roles,
			Condition: map[string]map[string]any{"StringEquals": {"iam:PassedToService": infrastructurePrincipal}}}
	}
	st := []PolicyStatement{{Sid: "DeployTheExpressService", Effect: "Allow", Resource: all, Action: []string{
		"ecs:CreateExpressGatewayService", "ecs:DeleteExpressGatewayService", "ecs:DescribeExpressGatewayService", "ecs:UpdateExpressGatewayService"}}}
	if arn := cfg.Express.InfrastructureRoleARN; arn != "" {
		return append(st,
			PolicyStatement{Sid: "CheckTheInfrastructureRole", Effect: "Allow", Action: []string{"iam:GetRole"}, Resource: []string{arn}},
			passToECS("PassTheInfrastructureRoleToECS", []string{arn}))
	}
	if !cfg.Managed() {
		return st
	}
	role := []string{"arn:" + part + ":iam::*:role" + infrastructureRolePath + "*"}
	return append(st,
		PolicyStatement{Sid: "ReadTheInfrastructureRole", Effect: "Allow", Resource: role, Action: []string{
			"iam:GetRole", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole", "iam:ListRolePolicies", "iam:ListRoleTags"}},
		// Creating it (iam:CreateRole, iam:AttachRolePolicy) is left to an administrator's first
		// express deploy: IAM cannot condition a role's trust policy, so whoever may create one
		// with the Express managed policy could make it trust themselves and hold that policy.
		PolicyStatement{Sid: "UpdateAndRemoveTheInfrastructureRole", Effect: "Allow", Resource: role, Action: []string{
			"iam:DeleteRole", "iam:DeleteRolePolicy", "iam:DetachRolePolicy", "iam:TagRole", "iam:UntagRole", "iam:UpdateRole", "iam:UpdateRoleDescription"}},
		passToECS("PassTheInfrastructureRoleToECS", role))
}

// rollbackExpress points the Express service at an earlier task definition: a deployment like
// any other (a canary, with Express's alarm).
func (r *run) rollbackExpress(ctx context.Context, svc *ecstypes.Service, target string) error {
	arn := aws.ToString(svc.ServiceArn) // the Express service's ARN is its ECS service's
	if parts := strings.SplitN(arn, ":", 6); len(parts) == 6 {
		r.account = parts[4]
	}
	if _, err := r.deps.ECS.UpdateExpressGatewayService(ctx, &ecs.UpdateExpressGatewayServiceInput{
		ServiceArn: aws.String(arn), TaskDefinitionArn: aws.String(target),
	}); err != nil {
		return fmt.Errorf("updating Express service %s to %s: %w", r.cfg.Service, shortARN(target), explain(err))
	}
	return nil
}

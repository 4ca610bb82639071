package deploy

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	aas "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling"
	aastypes "github.com/aws/aws-sdk-go-v2/service/applicationautoscaling/types"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// ErrCanceled means the user answered no to a confirmation.
var ErrCanceled = errors.New("canceled")

// DestroyOptions are the switches of `facectl deploy destroy`.
type DestroyOptions struct {
	// PurgeImages also deletes the ECR images of the service's task definitions that no other
	// service of the cluster runs.
	PurgeImages bool
	// Confirm is asked with the list of what will be removed before anything is; nil means
	// yes. Returning false cancels with ErrCanceled.
	Confirm func(plan []string) (bool, error)
}

// DestroyResult says what a destroy removed and what it left alone, and why.
type DestroyResult struct {
	Cluster string   `json:"cluster"`
	Service string   `json:"service"`
	Removed []string `json:"removed"`
	Kept    []string `json:"kept"`
	Seconds float64  `json:"seconds"`
}

// destroyStep is one removal: what it says and how it is done.
type destroyStep struct {
	what string
	run  func(ctx context.Context) error
}

// Destroy removes what facectl deploy created for the service, in order: the scaling
// policies and scalable target, the service (scaled to 0, deleted, waited for), the DNS
// validation record of the stack's certificate (domain.go), the service stack, the cluster
// stack when no other service uses the cluster, the execution role's boundary, and with
// PurgeImages the service's images. Everything is looked up first, so running it twice, or
// after a deploy that failed half way, removes what is there and says so. Resources facectl
// did not create (a cluster or target group you named, a stack without facectl's tag) are
// never touched.
func (d *Deployer) Destroy(ctx context.Context, opts DestroyOptions) (res DestroyResult, err error) {
	started := time.Now()
	res = DestroyResult{Cluster: d.cfg.Cluster, Service: d.cfg.Service, Removed: []string{}, Kept: []string{}}
	defer func() {
		res.Seconds = time.Since(started).Round(time.Millisecond).Seconds()
		err = explain(err)
	}()
	id, err := d.deps.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return res, fmt.Errorf("checking AWS credentials: %w", explain(err))
	}
	d.log.Info("destroy: looking up what facectl created", "service", d.cfg.Service, "cluster", d.cfg.Cluster, "account", aws.ToString(id.Account), "region", d.deps.Region)

	var steps []destroyStep
	add := func(what string, run func(context.Context) error) { steps = append(steps, destroyStep{what, run}) }
	// The cluster's other services decide both whether the cluster stack goes and which images
	// stay: looked up once.
	others := sync.OnceValues(func() ([]ecstypes.Service, error) { return d.otherServices(ctx) })

	// Auto scaling first, so it does not scale the service back up.
	target, err := d.describeScalableTarget(ctx)
	if err != nil {
		return res, err
	}
	if target != nil && !d.cfg.IsExpress() { // an Express service's scaling goes with it
		pols, err := d.deps.Scaling.DescribeScalingPolicies(ctx, &aas.DescribeScalingPoliciesInput{
			ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceId: aws.String(d.scalingResourceID()), ScalableDimension: scalableDimension,
		})
		if err != nil {
			return res, fmt.Errorf("describing scaling policies: %w", explain(err))
		}
		for _, p := range pols.ScalingPolicies {
			name := aws.ToString(p.PolicyName)
			add("scaling policy "+name, func(ctx context.Context) error {
				_, err := d.deps.Scaling.DeleteScalingPolicy(ctx, &aas.DeleteScalingPolicyInput{
					PolicyName: aws.String(name), ServiceNamespace: aastypes.ServiceNamespaceEcs,
					ResourceId: aws.String(d.scalingResourceID()), ScalableDimension: scalableDimension,
				})
				return wrapIf(err, "deleting scaling policy "+name)
			})
		}
		add("scalable target "+d.scalingResourceID(), func(ctx context.Context) error {
			_, err := d.deps.Scaling.DeregisterScalableTarget(ctx, &aas.DeregisterScalableTargetInput{
				ServiceNamespace: aastypes.ServiceNamespaceEcs, ResourceId: aws.String(d.scalingResourceID()), ScalableDimension: scalableDimension,
			})
			return wrapIf(err, "deregistering scalable target")
		})
	}

	svc, err := d.serviceForDestroy(ctx)
	if err != nil {
		return res, err
	}
	if svc != nil {
		if err := d.checkServiceOwner(ctx, svc); err != nil {
			return res, err
		}
		status := aws.ToString(svc.Status)
		kind := "ECS service"
		if d.cfg.IsExpress() {
			kind = "ECS Express service"
		}
		add(fmt.Sprintf("%s %s (%s, %d tasks)", kind, d.cfg.Service, status, svc.RunningCount), func(ctx context.Context) error {
			if d.cfg.IsExpress() {
				return d.deleteExpressService(ctx, aws.ToString(id.Account), status == "DRAINING")
			}
			return d.deleteService(ctx, status == "DRAINING")
		})
	}

	stacks := []struct{ name, what, for_, legacy string }{
		{d.cfg.ServiceStackName(), "service stack", d.cfg.serviceStackFor(), d.cfg.legacyServiceStackName()},
		{d.cfg.ClusterStackName(), "cluster stack", d.cfg.clusterStackFor(), d.cfg.legacyClusterStackName()},
	}
	if !d.managedEnv {
		// Your own network: facectl made no stack for it.
		stacks = nil
	}
	for i, s := range stacks {
		spec, st, err := d.findStack(ctx, stackSpec{Name: s.name, For: s.for_}, s.legacy)
		if err != nil {
			return res, err
		}
		if st == nil {
			continue
		}
		s.name = spec.Name
		if err := checkOwner(st, stackSpec{Name: s.name, For: s.for_}); err != nil {
			res.Kept = append(res.Kept, fmt.Sprintf("stack %s: not created by facectl for %s", s.name, s.for_))
			continue
		}
		stackID, name, what := aws.ToString(st.StackId), s.name, s.what
		if i == 1 {
			users, err := others()
			if err != nil {
				return res, err
			}
			if len(users) > 0 {
				res.Kept = append(res.Kept, fmt.Sprintf("%s %s (cluster %s): still used by %s", what, name, clusterName(d.cfg.Cluster), strings.Join(serviceNames(users), ", ")))
				continue
			}
		}
		if i == 0 {
			// Before the stack, whose outputs name them: a destroy run again after a failed
			// stack deletion still finds them.
			out := stackOutputs(st)
			remove, kept, err := d.validationRecordsForDestroy(ctx, out["CertificateArn"])
			if err != nil {
				return res, err
			}
			res.Kept = append(res.Kept, kept...)
			for _, r := range remove {
				add(fmt.Sprintf("Route 53 record %s (CNAME, the DNS validation of the stack's certificate)", r.name), func(ctx context.Context) error {
					return d.deleteValidationRecord(ctx, out["HostedZoneId"], r)
				})
			}
		}
		add(fmt.Sprintf("%s %s (%s)", what, name, st.StackStatus), func(ctx context.Context) error {
			if st.StackStatus == cfntypes.StackStatusDeleteInProgress {
				d.log.Info("stack is already being deleted: waiting", "stack", name)
			}
			return d.deleteStack(ctx, stackID, name)
		})
	}

	if d.managedEnv && d.cfg.Task.ExecutionRoleARN == "" {
		// After the service stack, whose execution role it bounds (IAM refuses while one uses it).
		arn, ours, err := d.boundaryForDestroy(ctx, aws.ToString(id.Account))
		if err != nil {
			return res, err
		}
		switch {
		case ours:
			add("IAM policy "+d.cfg.BoundaryName()+" (the execution role's permissions boundary)", func(ctx context.Context) error {
				return d.deleteBoundary(ctx, arn)
			})
		case arn != "":
			res.Kept = append(res.Kept, fmt.Sprintf("IAM policy %s: not created by facectl (no %s tag)", d.cfg.BoundaryName(), boundaryTag))
		}
	}

	if opts.PurgeImages && d.cfg.Image.URI == "" {
		// Every revision the service registered, not only the running one: the images of
		// older deploys (rollback targets) are the service's too.
		mine, err := d.ownImageDigests(ctx)
		if err != nil {
			return res, err
		}
		digests, kept, shared, err := d.imagesToPurge(ctx, mine, others)
		if err != nil {
			return res, err
		}
		if kept > 0 {
			res.Kept = append(res.Kept, fmt.Sprintf("%d image(s) in ECR repository %s: still run by %s", kept, d.cfg.Image.Repository, strings.Join(shared, ", ")))
		}
		if len(digests) > 0 {
			add(fmt.Sprintf("%d image(s) in ECR repository %s", len(digests), d.cfg.Image.Repository), func(ctx context.Context) error {
				return d.deleteImages(ctx, digests)
			})
		}
	} else if d.cfg.Image.URI == "" {
		res.Kept = append(res.Kept, fmt.Sprintf("ECR repository %s and its images (--purge-images deletes the service's images)", d.cfg.Image.Repository))
	}

	if len(steps) == 0 {
		d.log.Info("destroy: nothing left to remove", "service", d.cfg.Service)
		return res, nil
	}
	plan := make([]string, len(steps))
	for i, s := range steps {
		plan[i] = s.what
	}
	if opts.Confirm != nil {
		yes, err := opts.Confirm(plan)
		if err != nil {
			return res, err
		}
		if !yes {
			return res, ErrCanceled
		}
	}
	for _, s := range steps {
		d.log.Info("destroy: removing", "what", s.what)
		if err := s.run(ctx); err != nil {
			return res, err
		}
		res.Removed = append(res.Removed, s.what)
	}
	d.log.Info("destroy: done", "removed", len(res.Removed))
	return res, nil
}

func wrapIf(err error, action string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", action, explain(err))
	}
	return nil
}

// serviceForDestroy returns the service unless it is gone (missing or INACTIVE).
func (d *Deployer) serviceForDestroy(ctx context.Context) (*ecstypes.Service, error) {
	out, err := d.deps.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(d.cfg.Cluster), Services: []string{d.cfg.Service},
		Include: []ecstypes.ServiceField{ecstypes.ServiceFieldTags}})
	var nf *ecstypes.ClusterNotFoundException
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describing service %s: %w", d.cfg.Service, explain(err))
	}
	for i := range out.Services {
		if aws.ToString(out.Services[i].Status) != "INACTIVE" {
			return &out.Services[i], nil
		}
	}
	return nil, nil
}

// ErrNotOwned means destroy found a resource of the configured name that facectl did not
// create; it touches nothing.
var ErrNotOwned = errors.New("not created by facectl")

// checkServiceOwner refuses a service facectl did not create for this cluster: one without
// facectl's tags, unless its task definition is a revision facectl registered for this
// service (a service created by a facectl that did not tag services yet).
func (d *Deployer) checkServiceOwner(ctx context.Context, svc *ecstypes.Service) error {
	cluster, service := owner(svc.Tags)
	if service != "" {
		if service == d.cfg.Service && (cluster == "" || cluster == clusterName(d.cfg.Cluster)) {
			return nil
		}
		return fmt.Errorf("%w: ECS service %s in cluster %s is tagged for service %s in cluster %s: refusing to scale it down or delete it",
			ErrNotOwned, d.cfg.Service, d.cfg.Cluster, service, cluster)
	}
	out, err := d.deps.ECS.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: svc.TaskDefinition, Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags},
	})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("describing the task definition of service %s: %w", d.cfg.Service, explain(err))
	}
	if err == nil {
		if c, s := owner(out.Tags); s == d.cfg.Service && (c == "" || c == clusterName(d.cfg.Cluster)) {
			return nil
		}
	}
	return fmt.Errorf("%w: ECS service %s in cluster %s has no facectl tags and does not run a task definition facectl registered for it: "+
		"refusing to scale it down or delete it (delete it yourself if it is yours)", ErrNotOwned, d.cfg.Service, d.cfg.Cluster)
}

// deleteService scales the service to 0, deletes it and waits until ECS reports it INACTIVE
// and none of its tasks is still running or stopping: a stopping Fargate task keeps its network
// interface, which holds the tasks' security group, and the service stack's delete would fail
// on it ("has a dependent object").
func (d *Deployer) deleteService(ctx context.Context, draining bool) error {
	name := d.cfg.Service
	if !draining {
		if _, err := d.deps.ECS.UpdateService(ctx, &ecs.UpdateServiceInput{
			Cluster: aws.String(d.cfg.Cluster), Service: aws.String(name), DesiredCount: aws.Int32(0),
		}); err != nil {
			return fmt.Errorf("scaling service %s to 0: %w", name, explain(err))
		}
		if _, err := d.deps.ECS.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String(d.cfg.Cluster), Service: aws.String(name)}); err != nil {
			return fmt.Errorf("deleting service %s: %w", name, explain(err))
		}
	}
	timeout := d.cfg.Wait.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(d.cfg.Wait.PollInterval)
	defer tick.Stop()
	state := "not looked at yet"
	gone := false
	for {
		var err error
		if !gone {
			var svc *ecstypes.Service
			if svc, err = d.serviceForDestroy(ctx); err == nil {
				gone = svc == nil
				if svc != nil {
					state = aws.ToString(svc.Status)
				}
			}
		}
		if err == nil && gone {
			var live int
			if live, err = d.liveTasks(ctx); err == nil {
				if live == 0 {
					return nil
				}
				state = fmt.Sprintf("INACTIVE, %d task(s) still running or stopping", live)
			}
		}
		if err != nil {
			if pollFailure(ctx, err) != nil {
				return fmt.Errorf("waiting for service %s to be deleted: %w", name, err)
			}
			d.log.Warn("could not read the service; trying again", "service", name, "err", explain(err))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for service %s to be deleted (still %s): %w", name, state, ctx.Err())
		case <-tick.C:
		}
	}
}

// liveTasks counts the service's tasks that have not reached STOPPED. A stopping task's
// desired status is already STOPPED, so both lists are read; the tasks are found by the
// service's group ("service:<name>"), as ListTasks by service name fails once it is deleted.
func (d *Deployer) liveTasks(ctx context.Context) (int, error) {
	var arns []string
	for _, status := range []ecstypes.DesiredStatus{ecstypes.DesiredStatusRunning, ecstypes.DesiredStatusStopped} {
		var token *string
		for {
			out, err := d.deps.ECS.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(d.cfg.Cluster), Family: aws.String(d.cfg.TaskFamily()), DesiredStatus: status, NextToken: token})
			if err != nil {
				return 0, fmt.Errorf("listing the tasks of service %s: %w", d.cfg.Service, explain(err))
			}
			arns = append(arns, out.TaskArns...)
			if out.NextToken == nil {
				break
			}
			token = out.NextToken
		}
	}
	live := 0
	for i := 0; i < len(arns); i += 100 { // DescribeTasks takes at most 100
		out, err := d.deps.ECS.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(d.cfg.Cluster), Tasks: arns[i:min(i+100, len(arns))]})
		if err != nil {
			return 0, fmt.Errorf("describing the tasks of service %s: %w", d.cfg.Service, explain(err))
		}
		for _, t := range out.Tasks {
			if aws.ToString(t.Group) == "service:"+d.cfg.Service && aws.ToString(t.LastStatus) != "STOPPED" {
				live++
			}
		}
	}
	return live, nil
}

// otherServices returns the cluster's services other than this one that are not INACTIVE
// (ListServices may still list a deleted one).
func (d *Deployer) otherServices(ctx context.Context) ([]ecstypes.Service, error) {
	var names []string
	var token *string
	for {
		page, err := d.deps.ECS.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String(d.cfg.Cluster), NextToken: token})
		var nf *ecstypes.ClusterNotFoundException
		if errors.As(err, &nf) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing the services of cluster %s: %w", d.cfg.Cluster, explain(err))
		}
		for _, arn := range page.ServiceArns {
			if n := arn[strings.LastIndex(arn, "/")+1:]; n != d.cfg.Service {
				names = append(names, n)
			}
		}
		if page.NextToken == nil {
			break
		}
		token = page.NextToken
	}
	var out []ecstypes.Service
	for i := 0; i < len(names); i += 10 { // DescribeServices takes at most 10
		page, err := d.deps.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(d.cfg.Cluster), Services: names[i:min(i+10, len(names))]})
		if err != nil {
			return nil, fmt.Errorf("describing the cluster's other services: %w", explain(err))
		}
		for _, s := range page.Services {
			if aws.ToString(s.Status) != "INACTIVE" {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

func serviceNames(svcs []ecstypes.Service) []string {
	out := make([]string, len(svcs))
	for i, s := range svcs {
		out[i] = aws.ToString(s.ServiceName)
	}
	return out
}

// ownImageDigests returns the digests of this repository's images that the task definition
// revisions (active or not) this service registered in its family run.
func (d *Deployer) ownImageDigests(ctx context.Context) (map[string]bool, error) {
	family := d.cfg.TaskFamily()
	seen := map[string]bool{}
	for _, status := range []ecstypes.TaskDefinitionStatus{ecstypes.TaskDefinitionStatusActive, ecstypes.TaskDefinitionStatusInactive} {
		var token *string
		for {
			out, err := d.deps.ECS.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String(family), Status: status, NextToken: token})
			if err != nil {
				return nil, fmt.Errorf("listing revisions of %s: %w", family, explain(err))
			}
			for _, arn := range out.TaskDefinitionArns {
				if f, _ := splitRevision(arn); f == family {
					seen[arn] = true
				}
			}
			if out.NextToken == nil {
				break
			}
			token = out.NextToken
		}
	}
	digests := map[string]bool{}
	for _, arn := range keys(seen) {
		out, err := d.deps.ECS.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
			TaskDefinition: aws.String(arn), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags},
		})
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("describing task definition %s: %w", arn, explain(err))
		}
		if ok, _ := d.ownRevision(family, out.Tags); ok && out.TaskDefinition != nil {
			for _, c := range out.TaskDefinition.ContainerDefinitions {
				if dg := d.repositoryDigest(aws.ToString(c.Image)); dg != "" {
					digests[dg] = true
				}
			}
		}
	}
	return digests, nil
}

// repositoryDigest is the digest of image if it is this repository's image by digest, else "".
func (d *Deployer) repositoryDigest(image string) string {
	if m := imageDigestRE.FindString(image); m != "" && strings.Contains(image, "/"+d.cfg.Image.Repository+"@") {
		return m
	}
	return ""
}

// imagesToPurge removes from mine (the service's image digests) those that anything else in
// the account and region may still run: any deployment of any other service in any cluster
// (the repository is shared by every cluster), any ACTIVE revision another existing facectl
// service registered (its rollback targets), and any ACTIVE revision facectl did not register
// (a task may be run from it). It
// returns what is left, how many were kept for that reason and by whom.
func (d *Deployer) imagesToPurge(ctx context.Context, mine map[string]bool, _ func() ([]ecstypes.Service, error)) ([]string, int, []string, error) {
	if len(mine) == 0 {
		return nil, 0, nil, nil
	}
	shared := map[string]bool{}
	sharedWith := map[string]bool{}
	described := map[string]bool{}
	protect := func(arn, who string, td *TaskDefinition) {
		described[arn] = true
		if td == nil {
			return
		}
		for _, c := range td.ContainerDefinitions {
			if dg := d.repositoryDigest(c.Image); dg != "" && (mine[dg] || shared[dg]) {
				delete(mine, dg)
				shared[dg] = true
				sharedWith[who] = true
			}
		}
	}
	services, err := d.servicesInAccount(ctx)
	if err != nil {
		return nil, 0, nil, err
	}
	alive := map[string]bool{} // cluster/service and /service of the services that exist
	for _, s := range services {
		alive[clusterName(aws.ToString(s.ClusterArn))+"/"+aws.ToString(s.ServiceName)] = true
		alive["/"+aws.ToString(s.ServiceName)] = true
	}
	for _, s := range services {
		who := aws.ToString(s.ServiceName)
		if c := clusterName(aws.ToString(s.ClusterArn)); c != clusterName(d.cfg.Cluster) {
			who = "service " + who + " in cluster " + c
		}
		tds := []string{aws.ToString(s.TaskDefinition)}
		for _, dep := range s.Deployments {
			tds = append(tds, aws.ToString(dep.TaskDefinition))
		}
		for _, arn := range tds {
			if arn == "" || described[arn+" "+who] {
				continue
			}
			td, err := d.describeTaskDefinition(ctx, arn)
			if err != nil {
				return nil, 0, nil, err
			}
			protect(arn+" "+who, who, td)
		}
	}
	var token *string
	for {
		out, err := d.deps.ECS.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{Status: ecstypes.TaskDefinitionStatusActive, NextToken: token})
		if err != nil {
			return nil, 0, nil, fmt.Errorf("listing the account's active task definitions: %w", explain(err))
		}
		for _, arn := range out.TaskDefinitionArns {
			got, err := d.deps.ECS.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
				TaskDefinition: aws.String(arn), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags},
			})
			if isNotFound(err) {
				continue
			}
			if err != nil {
				return nil, 0, nil, fmt.Errorf("describing task definition %s: %w", arn, explain(err))
			}
			family, rev := splitRevision(arn)
			if own, _ := d.ownRevision(family, got.Tags); own && family == d.cfg.TaskFamily() || got.TaskDefinition == nil {
				continue
			}
			// A revision facectl registered is a rollback target only while its service
			// exists; one facectl did not register may be run by anything, so it counts.
			if c, svc := owner(got.Tags); svc != "" && !alive[c+"/"+svc] {
				continue
			}
			td := taskDefinitionFromECS(got.TaskDefinition)
			protect(arn, fmt.Sprintf("task definition %s:%d", family, rev), &td)
		}
		if out.NextToken == nil {
			break
		}
		token = out.NextToken
	}
	return keys(mine), len(shared), keys(sharedWith), nil
}

// servicesInAccount returns every service other than this one, in every cluster of the account
// and region, that is not INACTIVE.
func (d *Deployer) servicesInAccount(ctx context.Context) ([]ecstypes.Service, error) {
	var clusters []string
	var token *string
	for {
		page, err := d.deps.ECS.ListClusters(ctx, &ecs.ListClustersInput{NextToken: token})
		if err != nil {
			return nil, fmt.Errorf("listing the account's clusters: %w", explain(err))
		}
		clusters = append(clusters, page.ClusterArns...)
		if page.NextToken == nil {
			break
		}
		token = page.NextToken
	}
	var out []ecstypes.Service
	for _, cluster := range clusters {
		var names []string
		token = nil
		for {
			page, err := d.deps.ECS.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String(cluster), NextToken: token})
			var nf *ecstypes.ClusterNotFoundException
			if errors.As(err, &nf) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("listing the services of cluster %s: %w", cluster, explain(err))
			}
			names = append(names, page.ServiceArns...)
			if page.NextToken == nil {
				break
			}
			token = page.NextToken
		}
		for i := 0; i < len(names); i += 10 { // DescribeServices takes at most 10
			page, err := d.deps.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: names[i:min(i+10, len(names))]})
			if err != nil {
				return nil, fmt.Errorf("describing the services of cluster %s: %w", cluster, explain(err))
			}
			for _, s := range page.Services {
				if s.ClusterArn == nil {
					s.ClusterArn = aws.String(cluster)
				}
				self := aws.ToString(s.ServiceName) == d.cfg.Service && clusterName(aws.ToString(s.ClusterArn)) == clusterName(d.cfg.Cluster)
				if aws.ToString(s.Status) != "INACTIVE" && !self {
					out = append(out, s)
				}
			}
		}
	}
	return out, nil
}

// batchDeleteImageMax is the most image IDs one BatchDeleteImage takes
// (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_BatchDeleteImage.html: imageIds, 1-100 items).
const batchDeleteImageMax = 100

// deleteImages deletes the digests from the repository, at most batchDeleteImageMax a call.
func (d *Deployer) deleteImages(ctx context.Context, digests []string) error {
	for start := 0; start < len(digests); start += batchDeleteImageMax {
		batch := digests[start:min(start+batchDeleteImageMax, len(digests))]
		ids := make([]ecrtypes.ImageIdentifier, len(batch))
		for i, dg := range batch {
			ids[i] = ecrtypes.ImageIdentifier{ImageDigest: aws.String(dg)}
		}
		out, err := d.deps.ECR.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String(d.cfg.Image.Repository), ImageIds: ids})
		if err != nil {
			return wrapIf(err, "deleting images")
		}
		for _, f := range out.Failures {
			// An image already gone is what destroy wants.
			if f.FailureCode != ecrtypes.ImageFailureCodeImageNotFound {
				return fmt.Errorf("deleting image %s: %s: %s", aws.ToString(f.ImageId.ImageDigest), f.FailureCode, aws.ToString(f.FailureReason))
			}
		}
	}
	return nil
}

var imageDigestRE = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

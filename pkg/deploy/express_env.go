package deploy

import (
	"context"
	"encoding/json"
	"fmt"

	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
)

// The managed environment of an Express service is the cluster stack, as in service mode, and
// a service stack with only what Express does not make: the task execution role, the
// infrastructure role and the log group. Express makes the load balancer, its listener and
// certificate, the security groups and the scaling.

// ExpressServiceTemplate renders the service stack's template in Express Mode. The log group
// and the execution role are the service mode template's own, so the two never drift apart.
func (d *Deployer) ExpressServiceTemplate() string {
	var base struct {
		Resources map[string]any `json:"Resources"`
		Outputs   map[string]any `json:"Outputs"`
	}
	_ = json.Unmarshal([]byte(d.ServiceTemplate(envNetwork{})), &base)
	c := d.cfg
	res := map[string]any{"LogGroup": base.Resources["LogGroup"]}
	outputs := map[string]any{"LogGroup": base.Outputs["LogGroup"]}
	if c.Task.ExecutionRoleARN == "" {
		res["ExecutionRole"] = base.Resources["ExecutionRole"]
		outputs["ExecutionRoleArn"] = base.Outputs["ExecutionRoleArn"]
	}
	if c.Express.InfrastructureRoleARN == "" {
		res["InfrastructureRole"] = map[string]any{"Type": "AWS::IAM::Role", "Properties": map[string]any{
			"Description": fmt.Sprintf("facectl: ECS infrastructure role of Express service %s (its load balancer, security groups, scaling)", c.Service),
			// The trust policy of https://docs.aws.amazon.com/AmazonECS/latest/developerguide/infrastructure_IAM_role.html.
			"AssumeRolePolicyDocument": map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
				"Effect": "Allow", "Principal": map[string]any{"Service": infrastructurePrincipal}, "Action": "sts:AssumeRole",
			}}},
			"ManagedPolicyArns": []any{map[string]any{"Fn::Sub": "arn:${AWS::Partition}:" + expressInfrastructurePolicy}},
			// The deploy policy lets CloudFormation create roles under this path only with
			// this one managed policy (see expressPolicyStatements).
			"Path": infrastructureRolePath,
		}}
		outputs["InfrastructureRoleArn"] = map[string]any{"Value": map[string]any{"Fn::GetAtt": []string{"InfrastructureRole", "Arn"}}}
	}
	return templateJSON(map[string]any{
		"AWSTemplateFormatVersion": "2010-09-09",
		"Description":              fmt.Sprintf("facectl: environment of Express service %s in cluster %s (the Express service itself is managed by facectl deploy)", c.Service, clusterName(c.Cluster)),
		"Resources":                res,
		"Outputs":                  outputs,
	})
}

// planExpressEnvironment decides what to do with the cluster and service stacks, as
// planEnvironment does in service mode, and asks once about everything that will change.
func (r *run) planExpressEnvironment(ctx context.Context) ([]stackStep, error) {
	if !r.managedEnv {
		return nil, nil
	}
	r.log.Info("environment: checking the CloudFormation stacks (Express Mode)")
	var steps []stackStep
	cs, st, err := r.findStack(ctx, stackSpec{Name: r.cfg.ClusterStackName(), For: r.cfg.clusterStackFor(), Body: r.clusterTemplate(), What: "cluster stack"}, r.cfg.legacyClusterStackName())
	if err != nil {
		return nil, err
	}
	if st == nil && r.clusterExists {
		r.res.add("cluster", clusterName(r.cfg.Cluster), "none", "exists, not created by facectl: used as is")
	} else {
		step, err := r.planStack(ctx, cs, st)
		if err != nil {
			return nil, err
		}
		steps = append(steps, step)
	}
	ss, st, err := r.findStack(ctx, stackSpec{Name: r.cfg.ServiceStackName(), For: r.cfg.serviceStackFor(), Body: r.ExpressServiceTemplate(), What: "service stack"}, r.cfg.legacyServiceStackName())
	if err != nil {
		return nil, err
	}
	if st == nil || st.StackStatus == cfntypes.StackStatusRollbackComplete {
		if err := r.checkLogGroupFree(ctx); err != nil {
			return nil, err
		}
	}
	step, err := r.planStack(ctx, ss, st)
	if err != nil {
		return nil, err
	}
	steps = append(steps, step)
	if !r.dryRun {
		var ask []string
		for _, s := range steps {
			ask = append(ask, s.describe()...)
		}
		if len(ask) > 0 {
			if err := r.ask(ask); err != nil {
				return nil, err
			}
		}
	}
	return steps, nil
}

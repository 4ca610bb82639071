package deploy

import (
	"encoding/json"
	"fmt"
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

// serviceStackBody is the service stack's template of the configured mode.
func (d *Deployer) serviceStackBody(n envNetwork) string {
	if d.cfg.IsExpress() {
		return d.ExpressServiceTemplate()
	}
	return d.ServiceTemplate(n)
}

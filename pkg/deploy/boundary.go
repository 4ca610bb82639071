package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// boundaryAdminActions are the calls a deploy makes only to create or update the execution
// role's permissions boundary. The deploy policy leaves them out on purpose: whoever can write
// the boundary can widen it, and with it every role created within it. They succeed for an
// administrator; anyone else is told the two commands an administrator runs.
var boundaryAdminActions = []string{"iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:TagPolicy"}

// boundaryTag marks the boundary policies facectl created, so destroy deletes only those.
const boundaryTag = "facectl:boundary-for"

// boundaryStep is what a deploy does with the permissions boundary: create it, add a version
// with the current document, or nothing.
type boundaryStep struct {
	arn, name, doc string
	verb           string // "create", "update" or "" (up to date)
}

// boundaryARN is the ARN of the boundary policy in account.
func (d *Deployer) boundaryARN(account string) string {
	return "arn:" + awsPartition(d.deps.Region) + ":iam::" + account + ":policy/" + d.cfg.BoundaryName()
}

// awsPartition is partitionOf for a region that is known, "aws" when it is not.
func awsPartition(region string) string {
	if p := partitionOf(region); p != "*" {
		return p
	}
	return "aws"
}

// planBoundary reads the boundary the service stack's execution role is created within. It
// must exist before the stack creates the role (IAM refuses a role whose boundary is missing),
// and must allow what the role needs now (a new secret is read only when the boundary names it).
func (r *run) planBoundary(ctx context.Context) (*boundaryStep, error) {
	if !r.managedEnv || r.cfg.Task.ExecutionRoleARN != "" {
		return nil, nil
	}
	// The document is the one `facectl deploy policy --boundary` prints for the same
	// configuration, so what an administrator creates from it is up to date here.
	s := &boundaryStep{arn: r.boundaryARN(r.account), name: r.cfg.BoundaryName(), doc: BoundaryPolicy(r.cfg).JSON()}
	pol, err := r.deps.IAM.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(s.arn)})
	var noSuch *iamtypes.NoSuchEntityException
	switch {
	case errors.As(err, &noSuch):
		s.verb = "create"
		r.res.add("permissions boundary", s.name, "create", "IAM policy bounding the execution role (facectl deploy policy --boundary)")
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("reading the execution role's permissions boundary %s: %w", s.arn, explain(err))
	}
	ver, err := r.deps.IAM.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(s.arn), VersionId: pol.Policy.DefaultVersionId})
	if err != nil {
		return nil, fmt.Errorf("reading the execution role's permissions boundary %s: %w", s.arn, explain(err))
	}
	current := aws.ToString(ver.PolicyVersion.Document)
	if dec, err := url.QueryUnescape(current); err == nil {
		current = dec // IAM returns documents URL-encoded
	}
	if sameJSON(current, s.doc) {
		r.res.add("permissions boundary", s.name, "none", "up to date")
		return s, nil
	}
	if !hasTag(pol.Policy.Tags, boundaryTag, r.cfg.serviceStackFor()) {
		// An administrator's own boundary is theirs to keep; facectl only says what it expects.
		r.log.Warn("the permissions boundary differs from facectl deploy policy --boundary and was not made by facectl: kept as it is", "policy", s.arn)
		r.res.add("permissions boundary", s.name, "none", "yours (not tagged "+boundaryTag+"): kept as it is")
		return s, nil
	}
	s.verb = "update"
	r.res.add("permissions boundary", s.name, "update", "new default version: what the execution role needs changed (secrets, log group, region)")
	return s, nil
}

// describe is the step's line in the confirmation prompt, "" when nothing changes.
func (s *boundaryStep) describe() []string {
	if s == nil || s.verb == "" {
		return nil
	}
	return []string{fmt.Sprintf("%s IAM policy %s (the execution role's permissions boundary)", s.verb, s.name)}
}

// applyBoundary creates or updates the boundary. It runs right after the confirmation and
// before any other write, so a caller who may not write it is stopped with nothing changed.
func (r *run) applyBoundary(ctx context.Context, s *boundaryStep) error {
	if s == nil || s.verb == "" {
		return nil
	}
	var err error
	if s.verb == "create" {
		r.log.Info("environment: creating the execution role's permissions boundary", "policy", s.name)
		_, err = r.deps.IAM.CreatePolicy(ctx, &iam.CreatePolicyInput{
			PolicyName:     aws.String(s.name),
			PolicyDocument: aws.String(s.doc),
			Description:    aws.String(fmt.Sprintf("facectl: permissions boundary of the execution role of service %s in cluster %s", r.cfg.Service, clusterName(r.cfg.Cluster))),
			Tags:           []iamtypes.Tag{{Key: aws.String(boundaryTag), Value: aws.String(r.cfg.serviceStackFor())}},
		})
		var exists *iamtypes.EntityAlreadyExistsException
		if errors.As(err, &exists) {
			err = nil // another deploy of the same service made it meanwhile: it is the same document
		}
	} else {
		r.log.Info("environment: updating the execution role's permissions boundary", "policy", s.name)
		err = r.addBoundaryVersion(ctx, s)
	}
	if err == nil {
		return nil
	}
	err = explain(err)
	if errors.Is(err, ErrAccessDenied) {
		return fmt.Errorf("%w: the execution role is created within the permissions boundary %s, which must %s first, and these credentials may not write IAM policies "+
			"(on purpose: the deploy policy does not let them, or they could widen the boundary). Nothing was changed. An administrator runs, once per service and again when its secrets change:\n"+
			"  facectl deploy policy --boundary > boundary.json   # with this deploy's configuration (config file, flags)\n  %s\n"+
			"then deploy again; or set deploy.task.execution_role_arn to a role of your own (%v)",
			ErrAccessDenied, s.name, map[string]string{"create": "be created", "update": "allow what the role needs now"}[s.verb],
			r.boundaryAdminCommand(s), err)
	}
	return fmt.Errorf("writing the permissions boundary %s: %w", s.name, err)
}

// boundaryAdminCommand is the AWS CLI command that writes the boundary as s needs it.
func (r *run) boundaryAdminCommand(s *boundaryStep) string {
	if s.verb == "create" {
		return fmt.Sprintf("aws iam create-policy --policy-name %s --policy-document file://boundary.json --tags Key=%s,Value=%s", s.name, boundaryTag, r.cfg.serviceStackFor())
	}
	return fmt.Sprintf("aws iam create-policy-version --policy-arn %s --policy-document file://boundary.json --set-as-default", s.arn)
}

// addBoundaryVersion makes the current document the boundary's default version. A policy has
// at most five versions: the oldest non-default one makes room.
func (r *run) addBoundaryVersion(ctx context.Context, s *boundaryStep) error {
	out, err := r.deps.IAM.ListPolicyVersions(ctx, &iam.ListPolicyVersionsInput{PolicyArn: aws.String(s.arn)})
	if err != nil {
		return err
	}
	if len(out.Versions) >= 5 {
		old := out.Versions
		sort.Slice(old, func(i, j int) bool { return aws.ToTime(old[i].CreateDate).Before(aws.ToTime(old[j].CreateDate)) })
		for _, v := range old {
			if !v.IsDefaultVersion {
				if _, err := r.deps.IAM.DeletePolicyVersion(ctx, &iam.DeletePolicyVersionInput{PolicyArn: aws.String(s.arn), VersionId: v.VersionId}); err != nil {
					return err
				}
				break
			}
		}
	}
	_, err = r.deps.IAM.CreatePolicyVersion(ctx, &iam.CreatePolicyVersionInput{PolicyArn: aws.String(s.arn), PolicyDocument: aws.String(s.doc), SetAsDefault: true})
	return err
}

// boundaryForDestroy returns the destroy step for the boundary policy when facectl created it
// for this service (its tag says so); a policy an administrator made is kept.
func (d *Deployer) boundaryForDestroy(ctx context.Context, account string) (arn string, ours bool, err error) {
	arn = d.boundaryARN(account)
	out, err := d.deps.IAM.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
	var noSuch *iamtypes.NoSuchEntityException
	if errors.As(err, &noSuch) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("reading the permissions boundary %s: %w", arn, explain(err))
	}
	return arn, hasTag(out.Policy.Tags, boundaryTag, d.cfg.serviceStackFor()), nil
}

func hasTag(tags []iamtypes.Tag, key, value string) bool {
	for _, t := range tags {
		if aws.ToString(t.Key) == key && aws.ToString(t.Value) == value {
			return true
		}
	}
	return false
}

// deleteBoundary deletes the boundary policy and its older versions (IAM deletes a policy only
// once it has no other version).
func (d *Deployer) deleteBoundary(ctx context.Context, arn string) error {
	out, err := d.deps.IAM.ListPolicyVersions(ctx, &iam.ListPolicyVersionsInput{PolicyArn: aws.String(arn)})
	if err != nil {
		return wrapIf(err, "listing the versions of "+arn)
	}
	for _, v := range out.Versions {
		if v.IsDefaultVersion {
			continue
		}
		if _, err := d.deps.IAM.DeletePolicyVersion(ctx, &iam.DeletePolicyVersionInput{PolicyArn: aws.String(arn), VersionId: v.VersionId}); err != nil {
			return wrapIf(err, "deleting a version of "+arn)
		}
	}
	_, err = d.deps.IAM.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: aws.String(arn)})
	var noSuch *iamtypes.NoSuchEntityException
	if errors.As(err, &noSuch) {
		return nil
	}
	return wrapIf(err, "deleting the permissions boundary "+arn)
}

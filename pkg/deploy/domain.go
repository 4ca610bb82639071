package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// --domain without --certificate-arn, in the managed environment: the service stack requests
// the domain's ACM certificate with DNS validation in the domain's Route 53 hosted zone
// (CloudFormation writes the validation record itself,
// https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-certificatemanager-certificate.html,
// DomainValidationOptions.HostedZoneId), creates the alias record to the load balancer and
// serves HTTPS with HTTP redirected. Deleting the stack removes the alias record and the
// certificate; the certificate's DNS validation record, which CloudFormation writes but never
// deletes, destroy deletes itself when no other certificate uses it (validationRecordsForDestroy).
// Nothing else in the zone is touched.

// hostedZone finds the public Route 53 hosted zone that load_balancer.domain belongs to: the
// one whose name is the longest suffix of the domain. None is an error saying what to do.
func (r *run) hostedZone(ctx context.Context) (string, error) {
	domain := strings.TrimSuffix(strings.ToLower(r.cfg.LoadBalancer.Domain), ".")
	if r.deps.Route53 == nil {
		return "", fmt.Errorf("deploy.load_balancer.domain: no Route 53 client to look up its hosted zone")
	}
	labels := strings.Split(domain, ".")
	for i := 0; i < len(labels)-1; i++ {
		name := strings.Join(labels[i:], ".") + "."
		out, err := r.deps.Route53.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{DNSName: aws.String(name), MaxItems: aws.Int32(1)})
		if err != nil {
			return "", fmt.Errorf("deploy.load_balancer.domain: looking up the hosted zone of %s: %w", domain, explain(err))
		}
		for _, z := range out.HostedZones {
			if strings.EqualFold(aws.ToString(z.Name), name) && (z.Config == nil || !z.Config.PrivateZone) {
				id := strings.TrimPrefix(aws.ToString(z.Id), "/hostedzone/")
				r.log.Info("preflight: the stack makes the certificate and record of the domain", "domain", domain, "hosted_zone", id, "zone", name)
				return id, nil
			}
		}
	}
	return "", fmt.Errorf("deploy.load_balancer.domain: account %s has no public Route 53 hosted zone for %s, so facectl cannot make its certificate and record: "+
		"create the zone (aws route53 create-hosted-zone --name %s --caller-reference facectl-%s) and delegate the domain to it, "+
		"or bring a certificate with --certificate-arn and point %s at the load balancer yourself", r.account, domain, domain, domain, domain)
}

// certificateRef is the HTTPS listener's certificate: the one configured, or the stack's.
func certificateRef(configured string) any {
	if configured != "" {
		return configured
	}
	return map[string]any{"Ref": "Certificate"}
}

// domainResources adds the domain's certificate and alias record to the service stack's
// resources.
func domainResources(res map[string]any, domain, zoneID string) {
	res["Certificate"] = map[string]any{"Type": "AWS::CertificateManager::Certificate", "Properties": map[string]any{
		"DomainName": domain, "ValidationMethod": "DNS",
		"DomainValidationOptions": []any{map[string]any{"DomainName": domain, "HostedZoneId": zoneID}},
	}}
	// An alias A record to the load balancer
	// (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-route53-recordset.html).
	res["DomainRecord"] = map[string]any{"Type": "AWS::Route53::RecordSet", "Properties": map[string]any{
		"HostedZoneId": zoneID, "Name": domain, "Type": "A",
		"AliasTarget": map[string]any{
			"DNSName":      map[string]any{"Fn::GetAtt": []string{"LoadBalancer", "DNSName"}},
			"HostedZoneId": map[string]any{"Fn::GetAtt": []string{"LoadBalancer", "CanonicalHostedZoneID"}},
		},
	}}
}

// domainHandlerPermissions are the calls CloudFormation makes with the caller's credentials for
// the domain's two resources. Both are CloudFormation's own older resource types, whose
// handler permissions no registry schema lists: these are the ACM and Route 53 calls their
// pages describe (request, describe, tag and delete the certificate; write and watch the
// validation and alias records).
var domainHandlerPermissions = map[string][]string{
	"AWS::CertificateManager::Certificate": {
		"acm:RequestCertificate", "acm:DescribeCertificate", "acm:DeleteCertificate",
		"acm:AddTagsToCertificate", "acm:RemoveTagsFromCertificate", "acm:ListTagsForCertificate",
		"route53:ChangeResourceRecordSets", "route53:GetChange", "route53:ListResourceRecordSets",
	},
	"AWS::Route53::RecordSet": {
		"route53:ChangeResourceRecordSets", "route53:GetChange", "route53:ListResourceRecordSets", "route53:GetHostedZone",
	},
}

// domainPolicyStatements let preflight find the hosted zone and CloudFormation make the
// certificate and records of the domain: records only of the domain and its validation names
// (route53:ChangeResourceRecordSetsNormalizedRecordNames,
// https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/specifying-rrset-conditions.html).
func domainPolicyStatements(cfg Config, part string) []PolicyStatement {
	domain := strings.TrimSuffix(strings.ToLower(cfg.LoadBalancer.Domain), ".")
	seen := map[string]bool{}
	for _, actions := range domainHandlerPermissions {
		for _, a := range actions {
			seen[a] = true
		}
	}
	delete(seen, "route53:ChangeResourceRecordSets")
	seen["acm:ListCertificates"] = true // destroy: the certificates that share the validation record
	reads, writes := splitReads(keys(seen))
	calledVia := calledViaCloudFormation()
	records := calledViaCloudFormation()
	records["ForAllValues:StringLike"] = map[string]any{"route53:ChangeResourceRecordSetsNormalizedRecordNames": []string{domain, "_*." + domain}}
	return []PolicyStatement{
		{Sid: "FindTheDomainsHostedZone", Effect: "Allow", Action: append([]string{"route53:ListHostedZonesByName"}, reads...), Resource: []string{"*"}},
		{Sid: "MakeTheDomainsCertificateThroughCloudFormation", Effect: "Allow", Action: writes, Resource: []string{"*"}, Condition: calledVia},
		{Sid: "WriteOnlyTheDomainsRecordsThroughCloudFormation", Effect: "Allow", Action: []string{"route53:ChangeResourceRecordSets"},
			Resource: []string{"arn:" + part + ":route53:::hostedzone/*"}, Condition: records},
		// destroy's own call: only deleting, only CNAMEs, only the validation names.
		{Sid: "DeleteTheDomainsValidationRecord", Effect: "Allow", Action: []string{"route53:ChangeResourceRecordSets"},
			Resource: []string{"arn:" + part + ":route53:::hostedzone/*"}, Condition: map[string]map[string]any{
				"ForAllValues:StringLike":   {"route53:ChangeResourceRecordSetsNormalizedRecordNames": []string{"_*." + domain}},
				"ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsActions": []string{"DELETE"}, "route53:ChangeResourceRecordSetsRecordTypes": []string{"CNAME"}},
			}},
	}
}

// validationRecord is a certificate's DNS validation CNAME and the domain name it validates.
type validationRecord struct {
	domain, name, value string
}

// validationRecordsForDestroy finds the DNS validation records of the certificate the service
// stack made (its CertificateArn output). CloudFormation leaves them in the zone when it deletes
// the certificate
// (https://github.com/aws-cloudformation/cloudformation-coverage-roadmap/issues/1603), and ACM
// gives every certificate of the same name in the account the same record, so a record another
// certificate still uses is kept (deleting it would stop that certificate's renewal).
func (d *Deployer) validationRecordsForDestroy(ctx context.Context, certARN string) (remove []validationRecord, kept []string, err error) {
	if certARN == "" || d.deps.ACM == nil || d.deps.Route53 == nil {
		return nil, nil, nil
	}
	ours, err := d.validationRecords(ctx, certARN)
	if err != nil || len(ours) == 0 {
		return nil, nil, err
	}
	usedBy := map[string]string{} // record name -> another certificate validated by it
	var next *string
	for {
		out, err := d.deps.ACM.ListCertificates(ctx, &acm.ListCertificatesInput{NextToken: next,
			// Without Includes, ListCertificates lists only RSA_2048 certificates.
			Includes: &acmtypes.Filters{KeyTypes: acmtypes.KeyAlgorithm("").Values()}})
		if err != nil {
			return nil, nil, fmt.Errorf("listing the account's certificates (to keep validation records they share): %w", explain(err))
		}
		for _, c := range out.CertificateSummaryList {
			other := aws.ToString(c.CertificateArn)
			if other == certARN || !coversAny(c, ours) {
				continue
			}
			recs, err := d.validationRecords(ctx, other)
			if err != nil {
				return nil, nil, err
			}
			for _, r := range recs {
				usedBy[r.name] = other
			}
		}
		if next = out.NextToken; next == nil {
			break
		}
	}
	for _, r := range ours {
		if other, ok := usedBy[r.name]; ok {
			kept = append(kept, fmt.Sprintf("Route 53 record %s (CNAME): it also validates certificate %s", r.name, other))
			continue
		}
		remove = append(remove, r)
	}
	return remove, kept, nil
}

// validationRecords are the DNS validation CNAMEs of a certificate; none when it is gone.
func (d *Deployer) validationRecords(ctx context.Context, arn string) ([]validationRecord, error) {
	out, err := d.deps.ACM.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(arn)})
	var nf *acmtypes.ResourceNotFoundException
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describing certificate %s: %w", arn, explain(err))
	}
	var recs []validationRecord
	for _, o := range out.Certificate.DomainValidationOptions {
		if rr := o.ResourceRecord; rr != nil && rr.Type == acmtypes.RecordTypeCname {
			recs = append(recs, validationRecord{domain: aws.ToString(o.DomainName), name: normalizedName(aws.ToString(rr.Name)), value: aws.ToString(rr.Value)})
		}
	}
	return recs, nil
}

// coversAny says whether a certificate summary names a domain one of recs validates: only
// such a certificate can share their records.
func coversAny(c acmtypes.CertificateSummary, recs []validationRecord) bool {
	for _, r := range recs {
		if strings.EqualFold(aws.ToString(c.DomainName), r.domain) || slices.ContainsFunc(c.SubjectAlternativeNameSummaries, func(n string) bool { return strings.EqualFold(n, r.domain) }) {
			return true
		}
	}
	return false
}

// normalizedName is a record name as Route 53 lists it: lower case, with the final dot.
func normalizedName(name string) string {
	return strings.TrimSuffix(strings.ToLower(name), ".") + "."
}

// deleteValidationRecord deletes the record when it is still the certificate's: one whose value
// someone changed is theirs now and kept. A record already gone is done.
func (d *Deployer) deleteValidationRecord(ctx context.Context, zoneID string, r validationRecord) error {
	out, err := d.deps.Route53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{
		HostedZoneId: aws.String(zoneID), StartRecordName: aws.String(r.name), StartRecordType: r53types.RRTypeCname, MaxItems: aws.Int32(1),
	})
	if err != nil {
		return fmt.Errorf("reading Route 53 record %s: %w", r.name, explain(err))
	}
	if len(out.ResourceRecordSets) == 0 {
		return nil
	}
	rs := out.ResourceRecordSets[0]
	if normalizedName(aws.ToString(rs.Name)) != r.name || rs.Type != r53types.RRTypeCname {
		d.log.Info("the certificate's validation record is already gone", "record", r.name)
		return nil
	}
	if len(rs.ResourceRecords) != 1 || normalizedName(aws.ToString(rs.ResourceRecords[0].Value)) != normalizedName(r.value) {
		d.log.Warn("the validation record no longer points where ACM put it: kept", "record", r.name)
		return nil
	}
	_, err = d.deps.Route53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zoneID),
		ChangeBatch: &r53types.ChangeBatch{
			Comment: aws.String("facectl deploy destroy: the DNS validation record of a deleted certificate"),
			Changes: []r53types.Change{{Action: r53types.ChangeActionDelete, ResourceRecordSet: &rs}},
		},
	})
	var bad *r53types.InvalidChangeBatch
	if errors.As(err, &bad) && strings.Contains(strings.Join(bad.Messages, " ")+bad.ErrorMessage(), "not found") {
		return nil // deleted in between
	}
	return wrapIf(err, "deleting Route 53 record "+r.name)
}

package deploy

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
)

// --domain without --certificate-arn, in the managed environment: the service stack requests
// the domain's ACM certificate with DNS validation in the domain's Route 53 hosted zone
// (CloudFormation writes the validation record itself,
// https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-certificatemanager-certificate.html,
// DomainValidationOptions.HostedZoneId), creates the alias record to the load balancer and
// serves HTTPS with HTTP redirected. Deleting the stack removes the record and the certificate
// it made, and nothing else in the zone.

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
	reads, writes := splitReads(keys(seen))
	calledVia := calledViaCloudFormation()
	records := calledViaCloudFormation()
	records["ForAllValues:StringLike"] = map[string]any{"route53:ChangeResourceRecordSetsNormalizedRecordNames": []string{domain, "_*." + domain}}
	return []PolicyStatement{
		{Sid: "FindTheDomainsHostedZone", Effect: "Allow", Action: append([]string{"route53:ListHostedZonesByName"}, reads...), Resource: []string{"*"}},
		{Sid: "MakeTheDomainsCertificateThroughCloudFormation", Effect: "Allow", Action: writes, Resource: []string{"*"}, Condition: calledVia},
		{Sid: "WriteOnlyTheDomainsRecordsThroughCloudFormation", Effect: "Allow", Action: []string{"route53:ChangeResourceRecordSets"},
			Resource: []string{"arn:" + part + ":route53:::hostedzone/*"}, Condition: records},
	}
}

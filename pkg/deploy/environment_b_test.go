package deploy

import (
	"encoding/json"
	"strings"
	"testing"
)

var testNet = envNetwork{VPC: "vpc-1", Subnets: []string{"subnet-1", "subnet-2"}, LBSubnets: []string{"subnet-1", "subnet-2"}, PublicIP: true}

func serviceTemplateOf(t *testing.T, cfg Config) map[string]any {
	t.Helper()
	d, err := New(cfg, stubDepsForTemplate(t))
	if err != nil {
		t.Fatal(err)
	}
	var tmpl map[string]any
	if err := json.Unmarshal([]byte(d.ServiceTemplate(testNet)), &tmpl); err != nil {
		t.Fatal(err)
	}
	return tmpl
}

// TestNLBWithCertificateHasNoPlaintextListener: an NLB cannot redirect HTTP to HTTPS, so a
// port-80 listener beside the TLS one would carry API keys in clear (issue 15 item 2).
func TestNLBWithCertificateHasNoPlaintextListener(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Service = "api"
	cfg.LoadBalancer.Type = "network"
	cfg.LoadBalancer.CertificateARN = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
	tmpl := serviceTemplateOf(t, cfg)
	for id, r := range tmpl["Resources"].(map[string]any) {
		r := r.(map[string]any)
		if r["Type"] == "AWS::ElasticLoadBalancingV2::Listener" && r["Properties"].(map[string]any)["Port"] != 443.0 {
			t.Errorf("listener %s: %v, want only 443 (TLS)", id, r["Properties"])
		}
	}
	if sg := mustJSON(resourceProps(t, tmpl, "LoadBalancerSecurityGroup")); strings.Contains(sg, `"FromPort":80,`) {
		t.Errorf("load balancer security group opens 80: %s", sg)
	}
	if l := resourceProps(t, tmpl, "SecureListener"); l["Protocol"] != "TLS" {
		t.Errorf("secure listener = %v", l)
	}
}

// TestSecretsKMSKeyAndPartialARN (issue 15 item 17): a secret encrypted with a
// customer-managed key needs kms:Decrypt (through Secrets Manager only), and a Secrets Manager
// ARN given without its random suffix must still match the secret's real ARN.
func TestSecretsKMSKeyAndPartialARN(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Service = "api"
	cfg.Task.Secrets = []Secret{
		{Name: "A", ValueFrom: "arn:aws:secretsmanager:us-east-1:123456789012:secret:facectl/api-key"},
		{Name: "B", ValueFrom: "arn:aws:secretsmanager:us-east-1:123456789012:secret:facectl-b-AbCdEf:token::"},
	}
	const key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	cfg.Task.SecretsKMSKeys = []string{key}
	role := resourceProps(t, serviceTemplateOf(t, cfg), "ExecutionRole")
	var doc PolicyDocument
	b, _ := json.Marshal(role["Policies"].([]any)[0].(map[string]any)["PolicyDocument"])
	if err := json.Unmarshal([]byte(strings.NewReplacer(`{"Fn::Sub":"secretsmanager.${AWS::Region}.amazonaws.com"}`, `"secretsmanager.us-east-1.amazonaws.com"`).Replace(string(b))), &doc); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	for _, tc := range []struct {
		req  policyRequest
		want bool
	}{
		{policyRequest{Action: "secretsmanager:GetSecretValue", Resource: "arn:aws:secretsmanager:us-east-1:123456789012:secret:facectl/api-key-Xy12Zq"}, true},
		{policyRequest{Action: "secretsmanager:GetSecretValue", Resource: "arn:aws:secretsmanager:us-east-1:123456789012:secret:facectl-b-AbCdEf"}, true},
		{policyRequest{Action: "secretsmanager:GetSecretValue", Resource: "arn:aws:secretsmanager:us-east-1:123456789012:secret:facectl/api-key-other-Xy12Zq"}, false},
		{policyRequest{Action: "kms:Decrypt", Resource: key, Context: map[string]string{"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}, true},
		{policyRequest{Action: "kms:Decrypt", Resource: key}, false},
		{policyRequest{Action: "kms:Decrypt", Resource: key, Context: map[string]string{"kms:ViaService": "s3.us-east-1.amazonaws.com"}}, false},
	} {
		if got := doc.evaluate(tc.req); got != tc.want {
			t.Errorf("%+v: allowed = %v, want %v\n%s", tc.req, got, tc.want, b)
		}
	}
}

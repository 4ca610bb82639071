package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// certShim sits in front of moto_server and plays CloudFormation's handler for the one type of
// the service stack that moto's CloudFormation lacks, AWS::CertificateManager::Certificate
// (moto answers a listener that Refs one with an internal error). Everything else, including the
// stack's Route 53 alias record and HTTPS listener, is moto's own CloudFormation. The handler
// does what the resource's reference page and CloudFormation's known behaviour say
// (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-certificatemanager-certificate.html):
//   - it refuses properties the reference does not list, a missing DomainName, a ValidationMethod
//     other than DNS or EMAIL, and DNS validation without one DomainValidationOption with a
//     HostedZoneId for each name (CloudFormation would wait for a validation that never comes);
//     the zone must exist and be the domain's or a parent's (else ACM never sees the record);
//   - on create it requests the certificate from moto's ACM and UPSERTs its validation CNAME
//     in the zone, and the stack sees the certificate's ARN wherever it Refs it;
//   - on delete it deletes the certificate and, like CloudFormation, leaves the validation
//     record in the zone (aws-cloudformation/cloudformation-coverage-roadmap#1603);
//   - GetTemplate answers the template as it was sent, so an unchanged redeploy is unchanged.
type certShim struct {
	t     *testing.T
	srv   *httptest.Server
	proxy *httputil.ReverseProxy
	acm   *acm.Client
	r53   *route53.Client

	mu sync.Mutex
	// stacks by stack name and by stack ID.
	stacks map[string]*shimStack
	// made and gone count the certificates the handler requested and deleted.
	made, gone int
}

func (s *certShim) requested() int { s.mu.Lock(); defer s.mu.Unlock(); return s.made }
func (s *certShim) deleted() int   { s.mu.Lock(); defer s.mu.Unlock(); return s.gone }

type shimStack struct {
	name, id string
	original string            // the template as facectl sent it
	certs    map[string]string // logical ID -> certificate ARN
}

// startCertShim proxies to the moto_server at endpoint; clients is a config with moto's
// endpoint for the handler's own ACM and Route 53 calls.
func startCertShim(t *testing.T, endpoint string, clients aws.Config) *certShim {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	s := &certShim{t: t, proxy: httputil.NewSingleHostReverseProxy(target), acm: acm.NewFromConfig(clients), r53: route53.NewFromConfig(clients), stacks: map[string]*shimStack{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *certShim) URL() string { return s.srv.URL }

func (s *certShim) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	req := parseAWSRequest(r, body)
	if req.service != "cloudformation" {
		s.proxy.ServeHTTP(w, r)
		return
	}
	if req.json {
		s.t.Errorf("cert shim: CloudFormation %s in the JSON protocol; the shim speaks only the query protocol", req.op)
	}
	switch req.op {
	case "CreateStack", "UpdateStack", "CreateChangeSet":
		s.write(w, r, req)
	case "GetTemplate":
		s.getTemplate(w, r, req)
	case "DeleteStack":
		s.deleteStack(w, r, req)
	default:
		s.proxy.ServeHTTP(w, r)
	}
}

// forward passes the (possibly rewritten) form on to moto and returns its answer.
func (s *certShim) forward(r *http.Request, form url.Values) *httptest.ResponseRecorder {
	body := form.Encode()
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(strings.NewReader(body))
	r2.ContentLength = int64(len(body))
	r2.Header.Set("Content-Length", strconv.Itoa(len(body)))
	rec := httptest.NewRecorder()
	s.proxy.ServeHTTP(rec, r2)
	return rec
}

func relay(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

func (s *certShim) lookup(nameOrID string) *shimStack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stacks[nameOrID]
}

var stackIDRE = regexp.MustCompile(`<StackId>([^<]+)</StackId>`)

// write handles CreateStack, UpdateStack and CreateChangeSet.
func (s *certShim) write(w http.ResponseWriter, r *http.Request, req awsRequest) {
	original := req.form.Get("TemplateBody")
	var tmpl map[string]any
	if err := json.Unmarshal([]byte(original), &tmpl); err != nil {
		s.proxy.ServeHTTP(w, r) // not facectl's JSON: moto's to judge
		return
	}
	resources, _ := tmpl["Resources"].(map[string]any)
	certs := map[string]map[string]any{}
	for id, v := range resources {
		res, _ := v.(map[string]any)
		if res["Type"] == "AWS::CertificateManager::Certificate" {
			props, _ := res["Properties"].(map[string]any)
			certs[id] = props
		}
	}
	stackName := req.form.Get("StackName")
	prev := s.lookup(stackName)
	if len(certs) == 0 && prev == nil {
		s.proxy.ServeHTTP(w, r)
		return
	}
	ctx := r.Context()
	for id, props := range certs {
		if err := s.validate(ctx, id, props); err != nil {
			writeAWSError(w, true, "cloudformation", http.StatusBadRequest, "ValidationError", err.Error())
			return
		}
	}
	// The certificates the stack will have: the ones it has, or new ones.
	arns := map[string]string{}
	var made []string
	for id, props := range certs {
		if prev != nil && prev.certs[id] != "" {
			arns[id] = prev.certs[id] // same logical ID: CloudFormation keeps the resource
			continue
		}
		if req.op == "CreateChangeSet" {
			arns[id] = "arn:aws:acm:us-east-1:123456789012:certificate/to-be-created"
			continue
		}
		arn, err := s.request(ctx, props)
		if err != nil {
			writeAWSError(w, true, "cloudformation", http.StatusBadRequest, "ValidationError", "certificate "+id+": "+err.Error())
			return
		}
		arns[id] = arn
		made = append(made, arn)
	}
	for id := range certs {
		delete(resources, id)
	}
	rewritten, _ := json.Marshal(replaceRefs(tmpl, arns))
	form := url.Values{}
	for k, v := range req.form {
		form[k] = v
	}
	form.Set("TemplateBody", string(rewritten))
	rec := s.forward(r, form)
	if rec.Code/100 != 2 {
		for _, arn := range made { // the create failed: CloudFormation rolls the certificate back
			s.deleteCertificate(ctx, arn)
		}
		relay(w, rec)
		return
	}
	if req.op != "CreateChangeSet" {
		s.mu.Lock()
		st := prev
		if st == nil {
			st = &shimStack{name: stackName}
			if m := stackIDRE.FindSubmatch(rec.Body.Bytes()); m != nil {
				st.id = string(m[1])
			}
		}
		removed := st.certs
		st.original, st.certs = original, arns
		s.stacks[st.name] = st
		if st.id != "" {
			s.stacks[st.id] = st
		}
		s.mu.Unlock()
		for id, arn := range removed {
			if _, kept := arns[id]; !kept {
				s.deleteCertificate(ctx, arn)
			}
		}
	}
	relay(w, rec)
}

// certificateProperties are the properties the resource's reference page lists.
var certificateProperties = map[string]bool{
	"CertificateAuthorityArn": true, "CertificateExport": true, "CertificateTransparencyLoggingPreference": true,
	"DomainName": true, "DomainValidationOptions": true, "KeyAlgorithm": true, "SubjectAlternativeNames": true,
	"Tags": true, "ValidationMethod": true,
}

func (s *certShim) validate(ctx context.Context, id string, props map[string]any) error {
	for k := range props {
		if !certificateProperties[k] {
			return fmt.Errorf("Template format error: Unrecognized property %s of resource %s (AWS::CertificateManager::Certificate)", k, id)
		}
	}
	domain, _ := props["DomainName"].(string)
	if domain == "" {
		return fmt.Errorf("Property DomainName of resource %s is required and must be a string", id)
	}
	method, _ := props["ValidationMethod"].(string)
	if method != "" && method != "DNS" && method != "EMAIL" {
		return fmt.Errorf("Property ValidationMethod of resource %s: %q is not DNS or EMAIL", id, method)
	}
	if method != "DNS" {
		return fmt.Errorf("resource %s: validation by EMAIL (the default) waits for a person to answer a mail: facectl must ask for DNS", id)
	}
	opts, _ := props["DomainValidationOptions"].([]any)
	zoneOf := map[string]string{}
	for _, o := range opts {
		opt, _ := o.(map[string]any)
		for k := range opt {
			if k != "DomainName" && k != "HostedZoneId" && k != "ValidationDomain" {
				return fmt.Errorf("Unrecognized property %s in DomainValidationOptions of resource %s", k, id)
			}
		}
		name, _ := opt["DomainName"].(string)
		zone, _ := opt["HostedZoneId"].(string)
		if name == "" {
			return fmt.Errorf("DomainValidationOptions of resource %s: DomainName is required", id)
		}
		if strings.HasPrefix(zone, "/hostedzone/") {
			return fmt.Errorf("DomainValidationOptions of resource %s: HostedZoneId %q must be the ID alone, without /hostedzone/", id, zone)
		}
		if _, dup := zoneOf[name]; dup {
			return fmt.Errorf("DomainValidationOptions of resource %s: %s is given twice", id, name)
		}
		zoneOf[name] = zone
	}
	names := []string{domain}
	if sans, ok := props["SubjectAlternativeNames"].([]any); ok {
		for _, n := range sans {
			names = append(names, fmt.Sprint(n))
		}
	}
	for _, name := range names {
		zone := zoneOf[name]
		if zone == "" {
			return fmt.Errorf("resource %s: no DomainValidationOption with a HostedZoneId for %s, so CloudFormation would wait for its validation record until the stack times out", id, name)
		}
		hz, err := s.r53.GetHostedZone(ctx, &route53.GetHostedZoneInput{Id: aws.String(zone)})
		if err != nil {
			return fmt.Errorf("resource %s: hosted zone %s: %v", id, zone, err)
		}
		zoneName := strings.TrimSuffix(aws.ToString(hz.HostedZone.Name), ".")
		if name != zoneName && !strings.HasSuffix(name, "."+zoneName) {
			return fmt.Errorf("resource %s: hosted zone %s (%s) is not where %s's records live: ACM would never see the validation record", id, zone, zoneName, name)
		}
	}
	return nil
}

// request is the handler's create: the certificate, and its validation record in the zone.
func (s *certShim) request(ctx context.Context, props map[string]any) (string, error) {
	domain := props["DomainName"].(string)
	out, err := s.acm.RequestCertificate(ctx, &acm.RequestCertificateInput{DomainName: aws.String(domain), ValidationMethod: acmtypes.ValidationMethodDns})
	if err != nil {
		return "", err
	}
	arn := aws.ToString(out.CertificateArn)
	s.mu.Lock()
	s.made++
	s.mu.Unlock()
	desc, err := s.acm.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: out.CertificateArn})
	if err != nil {
		return "", err
	}
	zone := ""
	for _, o := range props["DomainValidationOptions"].([]any) {
		if opt := o.(map[string]any); opt["DomainName"] == domain {
			zone = opt["HostedZoneId"].(string)
		}
	}
	for _, o := range desc.Certificate.DomainValidationOptions {
		rr := o.ResourceRecord
		if rr == nil {
			return "", fmt.Errorf("ACM gave no validation record for %s", aws.ToString(o.DomainName))
		}
		_, err := s.r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(zone), ChangeBatch: &r53types.ChangeBatch{
			Changes: []r53types.Change{{Action: r53types.ChangeActionUpsert, ResourceRecordSet: &r53types.ResourceRecordSet{
				Name: rr.Name, Type: r53types.RRTypeCname, TTL: aws.Int64(300), ResourceRecords: []r53types.ResourceRecord{{Value: rr.Value}},
			}}},
		}})
		if err != nil {
			return "", fmt.Errorf("writing the validation record: %v", err)
		}
	}
	return arn, nil
}

func (s *certShim) deleteCertificate(ctx context.Context, arn string) {
	if _, err := s.acm.DeleteCertificate(context.WithoutCancel(ctx), &acm.DeleteCertificateInput{CertificateArn: aws.String(arn)}); err != nil {
		s.t.Errorf("cert shim: deleting certificate %s: %v", arn, err)
		return
	}
	s.mu.Lock()
	s.gone++
	s.mu.Unlock()
}

var templateBodyRE = regexp.MustCompile(`(?s)<TemplateBody>.*?</TemplateBody>`)

func (s *certShim) getTemplate(w http.ResponseWriter, r *http.Request, req awsRequest) {
	st := s.lookup(req.form.Get("StackName"))
	rec := httptest.NewRecorder()
	s.proxy.ServeHTTP(rec, r)
	if st != nil && rec.Code == http.StatusOK {
		body := templateBodyRE.ReplaceAllLiteral(rec.Body.Bytes(), []byte("<TemplateBody>"+html.EscapeString(st.original)+"</TemplateBody>"))
		rec.Body = bytes.NewBuffer(body)
		rec.Header().Del("Content-Length")
	}
	relay(w, rec)
}

func (s *certShim) deleteStack(w http.ResponseWriter, r *http.Request, req awsRequest) {
	st := s.lookup(req.form.Get("StackName"))
	rec := httptest.NewRecorder()
	s.proxy.ServeHTTP(rec, r)
	if st != nil && rec.Code == http.StatusOK {
		// moto deletes the stack's resources before it answers, the listener among them.
		for _, arn := range st.certs {
			s.deleteCertificate(r.Context(), arn)
		}
		s.mu.Lock()
		delete(s.stacks, st.name)
		delete(s.stacks, st.id)
		s.mu.Unlock()
	}
	relay(w, rec)
}

// replaceRefs replaces {"Ref": id} with the certificate's ARN (facectl's templates reach the
// certificate only by Ref).
func replaceRefs(v any, arns map[string]string) any {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			if id, ok := x["Ref"].(string); ok && arns[id] != "" {
				return arns[id]
			}
		}
		out := map[string]any{}
		for k, e := range x {
			out[k] = replaceRefs(e, arns)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = replaceRefs(e, arns)
		}
		return out
	}
	return v
}

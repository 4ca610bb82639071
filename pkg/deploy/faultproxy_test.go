package deploy

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// faultProxy sits between the SDK and moto and answers as a real AWS account sometimes does
// and moto never does:
//   - a fraction of calls are throttled with the service's own error code (ThrottlingException
//     for the JSON protocols, Throttling or EC2's RequestLimitExceeded for the query ones) or
//     answered with a 500, without reaching moto;
//   - for a few reads after a write, reads answer from before it: DescribeServices shows the
//     service as it was before UpdateService/DeleteService (or not at all after
//     CreateService), Application Auto Scaling does not know a service ECS just created, and
//     DescribeStacks shows the stack's previous status (or no stack) after Create/Update/
//     DeleteStack.
//
// Everything is decided by per-operation counters and a seed, never by time or a shared random
// stream, so a test sees the same faults on every run whatever the goroutines' interleaving.
// ECS's eventual consistency: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html;
// Application Auto Scaling's "ECS service doesn't exist" after CreateService:
// hashicorp/terraform-provider-aws#11693.
type faultProxy struct {
	t      *testing.T
	srv    *httptest.Server
	target *url.URL
	proxy  *httputil.ReverseProxy

	// Seed varies which calls fail; Rate is the fraction of calls failed; MaxStreak bounds the
	// faults in a row of one operation, so that the SDK's retryer (3 attempts) always gets a call
	// through; StaleReads is how many reads after a write answer from before it.
	Seed       uint64
	Rate       float64
	MaxStreak  int
	StaleReads int
	// Script fails the first calls of an operation ("ecs.DescribeServices") whatever the rate:
	// Script[op][i] is the fault of its (i+1)th call ("" for none, "throttle", "500", and
	// "denied": AWS's answer to credentials the action is not granted to).
	Script map[string][]string
	// After throttles, once the operation named by a key has succeeded, the next N calls of
	// another operation, whatever the rate: After["ecs.DeleteService"] = {"ecs.DescribeServices", 4}.
	After map[string]afterRule

	mu     sync.Mutex
	n      map[string]int
	streak map[string]int
	// last holds the last answer to a read of one resource, to be served stale after a write;
	// stale counts the stale answers still owed per resource.
	last  map[string]cachedAnswer
	stale map[string]int
	// owed are throttles owed to an operation by an After rule.
	owed map[string]int
	// stats are the counts since the last Stats call, total those of the whole test.
	stats, total faultStats
}

// faultHeader marks the answers the proxy made up instead of passing the call on.
const faultHeader = "X-Facectl-Fault"

// afterRule throttles the next N calls of Op.
type afterRule struct {
	Op string
	N  int
}

type cachedAnswer struct {
	status int
	header http.Header
	body   []byte
}

// faultStats counts what the proxy did: calls received, faults injected, stale answers given.
type faultStats struct {
	Calls, Throttled, ServerErrors, Stale int
	// Denied counts the scripted access-denied answers (not retried: they are final).
	Denied int
	// ByOp counts the calls per operation.
	ByOp map[string]int
}

// Retries is how many calls were answered with a fault or a stale read, each of which the
// client had to repeat (or wait out) to get on.
func (s faultStats) Retries() int { return s.Throttled + s.ServerErrors + s.Stale }

func (s faultStats) String() string {
	return fmt.Sprintf("%d calls, %d throttled, %d server errors, %d stale reads (%d retries)", s.Calls, s.Throttled, s.ServerErrors, s.Stale, s.Retries())
}

// startFaultProxy proxies to the moto_server at endpoint with the default fault mix: 10% of
// calls faulted (at most two in a row of one operation) and two stale reads after each write.
func startFaultProxy(t *testing.T, endpoint string) *faultProxy {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{t: t, target: target, Seed: 1, Rate: 0.1, MaxStreak: 2, StaleReads: 2,
		n: map[string]int{}, streak: map[string]int{}, last: map[string]cachedAnswer{}, stale: map[string]int{}, owed: map[string]int{}}
	p.proxy = httputil.NewSingleHostReverseProxy(target)
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() {
		p.srv.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		t.Logf("fault proxy: %s", p.total)
	})
	return p
}

// throughFaults returns a copy of awsCfg whose calls go through the call recorder and the
// fault proxy, with the SDK's own retryer (as LoadAWSConfig sets it) but its backoff capped at
// a few milliseconds: the faults are real, the waits between attempts need not be.
func throughFaults(awsCfg aws.Config, p *faultProxy) (*callRecorder, aws.Config) {
	rec := &callRecorder{base: awsCfg.HTTPClient}
	cfg := awsCfg.Copy()
	cfg.HTTPClient = rec
	cfg.BaseEndpoint = aws.String(p.URL())
	base := cfg.Retryer
	if base == nil {
		base = func() aws.Retryer { return retry.NewStandard() }
	}
	cfg.Retryer = func() aws.Retryer { return retry.AddWithMaxBackoffDelay(base(), 5*time.Millisecond) }
	return rec, cfg
}

// URL is the endpoint the SDK is pointed at.
func (p *faultProxy) URL() string { return p.srv.URL }

// count applies f to both sets of counts; p.mu is held.
func (p *faultProxy) count(f func(*faultStats)) {
	f(&p.stats)
	f(&p.total)
}

// Configure changes the fault settings between runs (under the proxy's lock).
func (p *faultProxy) Configure(f func(*faultProxy)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

// Stats returns the counts since the last call.
func (p *faultProxy) Stats() faultStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	p.stats = faultStats{}
	return s
}

// awsRequest is what the proxy needs to know of a call.
type awsRequest struct {
	service, op string // "ecs", "DescribeServices"
	json        bool
	body        []byte
	form        url.Values
	params      map[string]any
}

func parseAWSRequest(r *http.Request, body []byte) awsRequest {
	req := awsRequest{body: body}
	if m := credentialScopeRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		req.service = m[1]
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		req.op, req.json = target[strings.LastIndex(target, ".")+1:], true
		_ = json.Unmarshal(body, &req.params)
	} else {
		req.form, _ = url.ParseQuery(string(body))
		req.op = req.form.Get("Action")
	}
	return req
}

func (r awsRequest) name() string { return r.service + "." + r.op }

func (r awsRequest) str(key string) string {
	if r.json {
		s, _ := r.params[key].(string)
		return s
	}
	return r.form.Get(key)
}

// lastPart is the name at the end of an ARN (or the name itself).
func lastPart(s string) string { return s[strings.LastIndex(s, "/")+1:] }

// resource names what a call reads or writes, for the stale answers: "ecs-service:<cluster>/<service>",
// "scaling:<resource id>" or "stack:<name or id>"; "" for calls the proxy keeps consistent.
func (r awsRequest) resources() []string {
	switch r.name() {
	case "ecs.DescribeServices":
		svcs, _ := r.params["services"].([]any)
		if len(svcs) != 1 {
			return nil
		}
		s, _ := svcs[0].(string)
		return []string{"ecs-service:" + lastPart(orDefault(r.str("cluster"), "default")) + "/" + lastPart(s)}
	case "ecs.CreateService":
		return []string{"ecs-service:" + lastPart(orDefault(r.str("cluster"), "default")) + "/" + r.str("serviceName")}
	case "ecs.UpdateService", "ecs.DeleteService":
		return []string{"ecs-service:" + lastPart(orDefault(r.str("cluster"), "default")) + "/" + lastPart(r.str("service"))}
	case "application-autoscaling.RegisterScalableTarget":
		return []string{"scaling:" + r.str("ResourceId")}
	case "cloudformation.DescribeStacks", "cloudformation.CreateStack", "cloudformation.UpdateStack", "cloudformation.DeleteStack":
		if n := r.str("StackName"); n != "" {
			return []string{"stack:" + n}
		}
	case "cloudformation.ExecuteChangeSet":
		if n := r.str("StackName"); n != "" {
			return []string{"stack:" + n}
		}
	}
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// roll is the deterministic "random" number in [0,1) of the nth call of op.
func (p *faultProxy) roll(op string, n int) float64 {
	h := fnv.New64a()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], p.Seed)
	binary.LittleEndian.PutUint64(b[8:], uint64(n))
	h.Write(b[:])
	h.Write([]byte(op))
	x := h.Sum64() // splitmix64's finaliser: FNV alone spreads nearby inputs poorly
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / float64(1<<53)
}

func (p *faultProxy) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	req := parseAWSRequest(r, body)
	op := req.name()

	p.mu.Lock()
	p.count(func(s *faultStats) {
		s.Calls++
		if s.ByOp == nil {
			s.ByOp = map[string]int{}
		}
		s.ByOp[op]++
	})
	p.n[op]++
	n := p.n[op]
	fault := ""
	if p.owed[op] > 0 {
		p.owed[op]--
		fault = "throttle"
	} else if s := p.Script[op]; n <= len(s) {
		fault = s[n-1]
	} else if x := p.roll(op, n); x < p.Rate && p.streak[op] < p.MaxStreak {
		fault = "throttle"
		if p.roll(op+"#kind", n) < 0.3 {
			fault = "500"
		}
	}
	if fault == "denied" {
		p.count(func(s *faultStats) { s.Denied++ })
	} else if fault != "" {
		p.streak[op]++
		if fault == "500" {
			p.count(func(s *faultStats) { s.ServerErrors++ })
		} else {
			p.count(func(s *faultStats) { s.Throttled++ })
		}
	} else {
		p.streak[op] = 0
	}
	var staleAnswer *cachedAnswer
	staleKey := ""
	if fault == "" {
		staleKey, staleAnswer = p.staleFor(req)
	}
	p.mu.Unlock()

	if fault != "" {
		w.Header().Set(faultHeader, fault) // the call recorder leaves these out: they never reached AWS
	}
	switch {
	case fault == "throttle":
		writeThrottle(w, req)
		return
	case fault == "denied":
		writeAWSError(w, !req.json, req.service, http.StatusForbidden, "AccessDenied",
			"User: arn:aws:iam::123456789012:user/deployer is not authorized to perform: "+req.service+":"+req.op)
		return
	case fault == "500":
		writeAWSError(w, !req.json, req.service, http.StatusInternalServerError, internalCode(req.service), "We encountered an internal error. Please try again.")
		return
	case staleAnswer != nil:
		for k, v := range staleAnswer.header {
			w.Header()[k] = v
		}
		w.WriteHeader(staleAnswer.status)
		w.Write(staleAnswer.body)
		return
	case staleKey != "":
		p.writeNotYet(w, req)
		return
	}

	rec := &recordingWriter{ResponseWriter: w, status: 200}
	p.proxy.ServeHTTP(rec, r)
	p.observe(req, rec)
}

func internalCode(service string) string {
	switch service {
	case "ec2":
		return "InternalError"
	case "ecs":
		return "ServerException"
	}
	return "InternalFailure"
}

// writeThrottle answers with the service's own throttling error.
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/throttling.html (EC2: RequestLimitExceeded, 503);
// CloudFormation, ELBv2, IAM, STS: Throttling (400); the JSON protocols: ThrottlingException (400).
func writeThrottle(w http.ResponseWriter, req awsRequest) {
	switch {
	case req.service == "ec2":
		writeAWSError(w, true, "ec2", http.StatusServiceUnavailable, "RequestLimitExceeded", "Request limit exceeded.")
	case !req.json:
		writeAWSError(w, true, req.service, http.StatusBadRequest, "Throttling", "Rate exceeded")
	default:
		writeAWSError(w, false, req.service, http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
	}
}

// staleFor decides whether req gets a stale answer: the cached pre-write answer, or (key set,
// answer nil) "not there yet". It is called with p.mu held.
func (p *faultProxy) staleFor(req awsRequest) (string, *cachedAnswer) {
	if isWriteOp(req.op) && req.name() != "application-autoscaling.RegisterScalableTarget" {
		return "", nil
	}
	for _, key := range req.resources() {
		if p.stale[key] > 0 {
			p.stale[key]--
			p.count(func(s *faultStats) { s.Stale++ })
			if a, ok := p.last[key]; ok {
				return key, &a
			}
			return key, nil
		}
	}
	return "", nil
}

// writeNotYet answers a read of something just created as AWS does before it sees it.
func (p *faultProxy) writeNotYet(w http.ResponseWriter, req awsRequest) {
	switch req.name() {
	case "ecs.DescribeServices":
		svcs, _ := req.params["services"].([]any)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		b, _ := json.Marshal(map[string]any{"services": []any{}, "failures": []any{map[string]any{"arn": svcs[0], "reason": "MISSING"}}})
		w.Write(b)
	case "application-autoscaling.RegisterScalableTarget":
		writeAWSError(w, false, req.service, http.StatusBadRequest, "ValidationException", "ECS service doesn't exist: "+req.str("ResourceId"))
	default: // DescribeStacks
		writeAWSError(w, true, req.service, http.StatusBadRequest, "ValidationError", "Stack with id "+req.str("StackName")+" does not exist")
	}
}

func isWriteOp(op string) bool {
	for _, p := range []string{"Create", "Update", "Delete", "Register", "Execute"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}

// observe caches read answers and, after a successful write, owes stale reads of its resource.
func (p *faultProxy) observe(req awsRequest, rec *recordingWriter) {
	if rec.status != http.StatusOK {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.After[req.name()]; ok {
		p.owed[r.Op] += r.N
	}
	answer := cachedAnswer{status: rec.status, header: rec.Header().Clone(), body: rec.buf.Bytes()}
	switch req.name() {
	case "ecs.DescribeServices":
		for _, k := range req.resources() {
			p.last[k] = answer
		}
	case "cloudformation.DescribeStacks":
		// Cached under the name and the ID, as callers ask by either.
		var out struct {
			Stacks []struct {
				StackName string `xml:"StackName"`
				StackID   string `xml:"StackId"`
			} `xml:"DescribeStacksResult>Stacks>member"`
		}
		if xml.Unmarshal(answer.body, &out) == nil && len(out.Stacks) == 1 {
			p.last["stack:"+out.Stacks[0].StackName] = answer
			p.last["stack:"+out.Stacks[0].StackID] = answer
		}
	case "ecs.CreateService":
		for _, k := range req.resources() {
			delete(p.last, k) // read before its creation: not there
			p.stale[k] = p.StaleReads
			svc := strings.TrimPrefix(k, "ecs-service:")
			p.stale["scaling:service/"+svc] = p.StaleReads
		}
	case "ecs.UpdateService", "ecs.DeleteService":
		for _, k := range req.resources() {
			p.stale[k] = p.StaleReads
		}
	case "cloudformation.CreateStack":
		var out struct {
			StackID string `xml:"CreateStackResult>StackId"`
		}
		_ = xml.Unmarshal(answer.body, &out)
		for _, k := range []string{"stack:" + req.str("StackName"), "stack:" + out.StackID} {
			delete(p.last, k)
			p.stale[k] = p.StaleReads
		}
	case "cloudformation.UpdateStack", "cloudformation.DeleteStack", "cloudformation.ExecuteChangeSet":
		name := req.str("StackName")
		a, ok := p.last["stack:"+name]
		if !ok {
			return
		}
		// Owe stale reads under both keys of the stack.
		for k, v := range p.last {
			if strings.HasPrefix(k, "stack:") && bytes.Equal(v.body, a.body) {
				p.stale[k] = p.StaleReads
			}
		}
	}
}

// opsByCount lists the operations by number of calls, for the test log.
func (s faultStats) opsByCount() string {
	ops := make([]string, 0, len(s.ByOp))
	for op := range s.ByOp {
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool {
		return s.ByOp[ops[i]] > s.ByOp[ops[j]] || s.ByOp[ops[i]] == s.ByOp[ops[j]] && ops[i] < ops[j]
	})
	var parts []string
	for _, op := range ops {
		parts = append(parts, fmt.Sprintf("%s %d", op, s.ByOp[op]))
	}
	return strings.Join(parts, ", ")
}

type recordingWriter struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (r *recordingWriter) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recordingWriter) Write(b []byte) (int, error) {
	r.buf.Write(b)
	return r.ResponseWriter.Write(b)
}

package testenv

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// fractional matches the numbers moto sends with a fraction where AWS sends integers, which the
// Go SDK refuses: AWS Batch's "vcpus": 1.0 in job descriptions and CloudWatch Logs' event times.
var fractional = regexp.MustCompile(`"(vcpus|timestamp|ingestionTime)": ?([0-9]+)\.[0-9]+`)

// MotoNumbers wraps next so that those numbers arrive as the integers AWS sends.
func MotoNumbers(next http.RoundTripper) http.RoundTripper { return motoNumbers{next} }

type motoNumbers struct{ next http.RoundTripper }

func (t motoNumbers) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || !strings.HasPrefix(req.URL.Path, "/v1/describejobs") && !strings.HasSuffix(req.Header.Get("X-Amz-Target"), ".GetLogEvents") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	body = fractional.ReplaceAll(body, []byte(`"$1": $2`))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// MotoNumbersProxy serves moto at motoURL through MotoNumbers on 127.0.0.1, for AWS clients
// whose transport a test cannot set (facectl run in-process); it stops when the test ends.
func MotoNumbersProxy(t testing.TB, motoURL string) string {
	t.Helper()
	target, err := url.Parse(motoURL)
	if err != nil {
		t.Fatal(err)
	}
	p := httputil.NewSingleHostReverseProxy(target)
	p.Transport = MotoNumbers(http.DefaultTransport)
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL
}

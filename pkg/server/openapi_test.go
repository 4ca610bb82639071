package server

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestOpenAPIMatchesRealResponses sends real requests to a server and checks each answer
// against the document it serves: the status is declared for the operation, the content
// type is one the response declares, every header the response declares is sent, and error
// codes are in the Error schema's list. The document used to declare X-Face-Count and its
// siblings on JSON answers that did not send them, to omit /upload's biggest, best and
// annotate, and to list no 404 or 405.
func TestOpenAPIMatchesRealResponses(t *testing.T) {
	r, g := newGateServer(t, 1, 4, time.Second)
	close(g.release)
	_, raw := get(t, r.url+"/api/v1/openapi.json")
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	// resolve follows a local $ref ("#/components/...").
	resolve := func(v any) map[string]any {
		m, _ := v.(map[string]any)
		if ref, ok := m["$ref"].(string); ok {
			var cur any = doc
			for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
				cur = cur.(map[string]any)[part]
			}
			m, _ = cur.(map[string]any)
		}
		return m
	}
	at := func(v any, keys ...string) any {
		for _, k := range keys {
			m := resolve(v)
			if m == nil {
				return nil
			}
			v = m[k]
		}
		return v
	}
	var codes []string
	for _, c := range at(doc, "components", "schemas", "Error", "properties", "error", "properties", "code", "enum").([]any) {
		codes = append(codes, c.(string))
	}
	form, formCT := multipartBody(t, "image", "photo.jpg", tinyJPEG)
	for _, tc := range []struct {
		name, method, path, opPath, ct, accept string
		body                                   []byte
		params                                 []string // query parameters the document must declare
	}{
		{"detect JSON", "POST", "/api/v1/detect?max_faces=2", "", "image/jpeg", "", tinyJPEG, []string{"max_faces"}},
		{"detect image", "POST", "/api/v1/detect", "", "image/jpeg", "image/jpeg", tinyJPEG, nil},
		{"detect annotate", "POST", "/api/v1/detect?annotate=true", "", "image/jpeg", "", tinyJPEG, []string{"annotate"}},
		{"blur", "POST", "/api/v1/blur?mode=pixelate", "", "image/jpeg", "", tinyJPEG, []string{"mode"}},
		{"upload", "POST", "/upload?biggest=true&best=true&annotate=true", "", formCT, "text/html", form.Bytes(), []string{"biggest", "best", "annotate"}},
		{"bad parameter", "POST", "/api/v1/detect?max_faces=x", "", "image/jpeg", "", tinyJPEG, nil},
		{"unsupported type", "POST", "/api/v1/detect", "", "text/plain", "", []byte("hello"), nil},
		{"unsupported format", "POST", "/api/v1/blur", "", "image/gif", "", []byte("GIF89a......"), nil},
		{"wrong method", "GET", "/api/v1/detect", "", "", "", nil, nil},
		{"unknown path", "GET", "/api/v1/nothing", "/api/v1/detect", "", "", nil, nil},
		{"health", "GET", "/healthz", "", "", "", nil, nil},
		{"ready", "GET", "/readyz", "", "", "", nil, nil},
		{"page", "GET", "/", "", "", "", nil, nil},
		{"metrics", "GET", "/metrics", "", "", "", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, r.url+tc.path, bytes.NewReader(tc.body))
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			path, _, _ := strings.Cut(tc.path, "?")
			if tc.opPath != "" {
				path = tc.opPath // a path the document cannot list: its 404 is declared everywhere
			}
			method := strings.ToLower(tc.method)
			if resp.StatusCode == 405 || tc.opPath != "" {
				method = "post" // the operation the path does have
			}
			op := at(doc, "paths", path, method)
			if op == nil {
				t.Fatalf("the document has no %s %s", method, path)
			}
			for _, p := range tc.params {
				found := false
				for _, pv := range at(op, "parameters").([]any) {
					found = found || resolve(pv)["name"] == p
				}
				if !found {
					t.Errorf("%s %s: parameter %q not declared", method, path, p)
				}
			}
			status := strconv.Itoa(resp.StatusCode)
			decl := resolve(at(op, "responses", status))
			if decl == nil {
				t.Fatalf("%s %s answered %d, which the document does not declare (%s)", method, path, resp.StatusCode, body)
			}
			mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			if content, ok := decl["content"].(map[string]any); ok {
				if _, ok := content[mt]; !ok {
					t.Errorf("%d answered %s, the document declares %v", resp.StatusCode, mt, keys(content))
				}
			}
			if hdrs, ok := decl["headers"].(map[string]any); ok {
				for h := range hdrs {
					if resp.Header.Get(h) == "" {
						t.Errorf("%d declares header %s, the answer has none", resp.StatusCode, h)
					}
				}
			}
			if resp.StatusCode >= 400 {
				code := errorCode(t, body)
				found := false
				for _, c := range codes {
					found = found || c == code
				}
				if !found {
					t.Errorf("error code %q is not in the document's list", code)
				}
			}
		})
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

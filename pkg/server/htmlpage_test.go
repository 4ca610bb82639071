package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHTMLPageEscapesValuesAndKeepsSections(t *testing.T) {
	p, err := parsePage("t", `<p title="{{v}}">{{v}}</p>{{#a}}<i>{{raw}}</i>{{#b}}B{{/b}}{{/a}}{{#c}}C{{missing}}{{/c}}.`)
	if err != nil {
		t.Fatal(err)
	}
	render := func(v pageValues) string {
		t.Helper()
		var b strings.Builder
		if err := p.render(&b, v); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	hostile := `"><script>alert('x')</script>&`
	got := render(pageValues{
		Text: map[string]string{"v": hostile},
		HTML: map[string]string{"raw": "<b>ok</b>"},
		Show: map[string]bool{"a": true, "b": false, "c": false},
	})
	want := `<p title="&#34;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;">&#34;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;</p><i><b>ok</b></i>.`
	if got != want {
		t.Errorf("render:\n got %s\nwant %s", got, want)
	}
	// A hidden outer section hides the inner one whatever it says.
	if got := render(pageValues{Text: map[string]string{"v": "x"}, Show: map[string]bool{"a": false, "b": true, "c": false}}); got != `<p title="x">x</p>.` {
		t.Errorf("hidden section rendered: %s", got)
	}
	// A shown section needs every value inside it; a section needs its own.
	var b strings.Builder
	if err := p.render(&b, pageValues{Text: map[string]string{"v": "x"}, HTML: map[string]string{"raw": ""}, Show: map[string]bool{"a": true, "b": true, "c": true}}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing value inside a shown section: err %v", err)
	}
	if err := p.render(&b, pageValues{Text: map[string]string{"v": "x"}, Show: map[string]bool{"a": false}}); err == nil || !strings.Contains(err.Error(), "section c") {
		t.Errorf("missing section flag: err %v", err)
	}
}

func TestHTMLPageRejectsMalformedPages(t *testing.T) {
	for _, src := range []string{`{{#a}}x`, `x{{/a}}`, `{{#a}}{{#b}}{{/a}}{{/b}}`, `{{ v }}`, `{{V}}`, `{{.Field}}`, `a {{Typo}} b {{ok}}`, `{{#a}}{{x{{/a}}`} {
		if _, err := parsePage("t", src); err == nil {
			t.Errorf("parsePage(%q) accepted a malformed page", src)
		}
	}
}

// The server's own pages: every value they need is filled, and what a client can influence
// (an error message that quotes its input) is escaped.
func TestPagesRenderWithEveryValue(t *testing.T) {
	s := &Server{cfg: Config{MaxBodyBytes: 10 << 20}, allowed: map[string]bool{"yunet": true, "lbp": true}, detector: "yunet", keys: [][]byte{[]byte("k")}}
	rec := httptest.NewRecorder()
	if err := s.index(rec, httptest.NewRequest(http.MethodGet, "/", nil)); err != nil {
		t.Fatal(err)
	}
	page := rec.Body.String()
	for _, want := range []string{
		`data-max-bytes="10485760" data-max-human="10 MiB"`, `name="api_key" type="password"`,
		`<select id="detector"><option value="lbp">lbp</option><option value="yunet" selected>yunet</option></select>`,
		"up to 10 MiB.",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("index page lacks %s", want)
		}
	}
	s.keys, s.allowed = nil, map[string]bool{"yunet": true}
	rec = httptest.NewRecorder()
	if err := s.index(rec, httptest.NewRequest(http.MethodGet, "/", nil)); err != nil {
		t.Fatal(err)
	}
	if page := rec.Body.String(); strings.Contains(page, "api_key") || strings.Contains(page, "<select") || strings.Contains(page, "{{") {
		t.Errorf("index page without keys and with one detector shows a key field or a detector choice:\n%s", page)
	}

	rec = httptest.NewRecorder()
	s.writeErrorPage(rec, httptest.NewRequest(http.MethodPost, "/upload", nil), errorf(http.StatusBadRequest, "bad", `unknown detector "<img src=x onerror=alert(1)>"`))
	page = rec.Body.String()
	if rec.Code != http.StatusBadRequest || strings.Contains(page, "<img src=x") ||
		!strings.Contains(page, "unknown detector &#34;&lt;img src=x onerror=alert(1)&gt;&#34;") || !strings.Contains(page, "<title>Bad Request — facectl</title>") {
		t.Errorf("error page %d:\n%s", rec.Code, page)
	}
	if strings.Contains(page, "Request ID") {
		t.Errorf("error page outside a request shows a request ID section:\n%s", page)
	}
	rec = httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/upload", nil)
	req = req.WithContext(context.WithValue(req.Context(), keyRequestID, "req-42"))
	s.writeErrorPage(rec, req, errorf(http.StatusRequestEntityTooLarge, "too_large", "too large"))
	if page := rec.Body.String(); !strings.Contains(page, `<p class="hint">Request ID: <code>req-42</code></p>`) {
		t.Errorf("error page lacks the request ID:\n%s", page)
	}
}

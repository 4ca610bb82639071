package server

import (
	"bytes"
	"crypto/subtle"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
)

// keyRule is what a route asks of the API key when keys are configured.
type keyRule int

const (
	keyNone         keyRule = iota // no key: health, readiness, metrics, the page and its assets
	keyHeader                      // a key in the headers
	keyHeaderOrForm                // a key in the headers, or as the upload form's first field
)

// withKey rejects requests without a valid API key when keys are configured and the route
// needs one. The key may come as `Authorization: Bearer KEY` or `X-API-Key: KEY`; the rule when
// both are sent is that the request is accepted if either holds a valid key (a proxy may add one
// of its own). Every key is compared in constant time, so timing reveals neither which key nor
// how much matched.
//
// On a keyHeaderOrForm route a multipart request without a key header may carry the key as the
// form field api_key instead, placed before the photo (the page does): the intake checks it from
// the first bytes of the body, before the request takes any place or memory (see keyFromForm).
func (s *Server) withKey(rt *route, next layer) layer {
	if len(s.keys) == 0 || rt.key == keyNone {
		return next
	}
	return func(rec *recorder, r *http.Request) {
		if rt.key == keyHeaderOrForm && s.keyFromForm(r) {
			next(rec, r)
			return
		}
		var sent []string
		if k := r.Header.Get("X-API-Key"); k != "" {
			sent = append(sent, k)
		}
		if auth := r.Header.Get("Authorization"); auth != "" {
			if scheme, tok, ok := strings.Cut(auth, " "); ok && strings.EqualFold(scheme, "Bearer") {
				sent = append(sent, strings.TrimSpace(tok))
			} else {
				sent = append(sent, auth) // another scheme: never a valid key, but a key was sent
			}
		}
		ok := false
		for _, k := range sent {
			ok = s.validKey(k) || ok
		}
		if !ok {
			msg := "an API key is required (Authorization: Bearer KEY or X-API-Key: KEY)"
			if len(sent) > 0 {
				msg = "the API key is not valid"
			}
			s.writeError(rec, r, rt.errors, s.unauthorized(msg))
			return
		}
		next(rec, r)
	}
}

// keyFromForm reports whether the request's key is to be read from its form: keys are
// configured, no key header was sent and the body is a form. Only keyHeaderOrForm routes ask.
func (s *Server) keyFromForm(r *http.Request) bool {
	return len(s.keys) > 0 && r.Header.Get("X-API-Key") == "" && r.Header.Get("Authorization") == "" && isMultipart(r)
}

// validKey compares k with every configured key in constant time.
func (s *Server) validKey(k string) bool {
	match := 0
	for _, key := range s.keys {
		match |= subtle.ConstantTimeCompare([]byte(k), key)
	}
	return k != "" && match == 1
}

func (s *Server) unauthorized(msg string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: msg,
		Header: http.Header{"Www-Authenticate": {`Bearer realm="facectl"`}}}
}

func isMultipart(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "multipart/form-data"
}

// checkFormKey checks the API key of a form that sent none in its headers (see withKey): the
// first part of the body, already read in head, must be the field api_key holding a valid key.
func (s *Server) checkFormKey(r *http.Request, head []byte) error {
	missing := s.unauthorized("an API key is required: enter it in the form's API key field")
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return missing
	}
	p, err := multipart.NewReader(bytes.NewReader(head), params["boundary"]).NextPart()
	if err != nil || p.FormName() != "api_key" {
		return missing
	}
	key, err := io.ReadAll(io.LimitReader(p, 1024))
	if err != nil || len(key) == 0 {
		return missing
	}
	if !s.validKey(string(bytes.TrimSpace(key))) {
		return s.unauthorized("the API key is not valid")
	}
	return nil
}

package server

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
)

// checkFormKey checks the API key of an /upload form that sent none in its headers (see
// requireKey): the first part of the body, already read in head, must be the field api_key
// holding a valid key.
func (s *Server) checkFormKey(r *http.Request, head []byte) error {
	if on, _ := r.Context().Value(keyFormAuth).(bool); !on {
		return nil
	}
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

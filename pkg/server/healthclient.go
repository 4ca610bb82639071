package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// CheckHealth asks a running server whether it is ready: GET <base>/readyz within timeout,
// any non-2xx answer or transport failure is an error. base is the server's URL
// ("http://127.0.0.1:8080"); a URL that already ends in a path (…/healthz) is used as is.
// It backs `facectl health`, the container health check that needs no curl in the image.
func CheckHealth(ctx context.Context, base string, timeout time.Duration) error {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("checking health: %q is not an http(s) URL", base)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/readyz"
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("checking health of %s: %w", u, err)
	}
	req.Header.Set("User-Agent", "facectl-health")
	// A fresh client without proxies from the environment: the check is about this host.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("checking health of %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("checking health of %s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

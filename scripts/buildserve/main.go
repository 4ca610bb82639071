// Command buildserve serves this machine's Go module cache as a Go module proxy (GOPROXY) and a
// directory holding the YuNet model, on 127.0.0.1, for `docker build --network host` on machines
// whose containers reach no registry (see scripts/image.sh). It prints its base URL on the first
// line of stdout and runs until stdin is closed or it gets SIGINT/SIGTERM.
//
//	go run ./scripts/buildserve -models ../shared/models
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "buildserve:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("buildserve", flag.ContinueOnError)
	models := fs.String("models", "", "directory served under /models/ (optional)")
	modcache := fs.String("modcache", "", "Go module cache (default: go env GOMODCACHE)")
	addr := fs.String("addr", "127.0.0.1:0", "listen address (keep it on loopback)")
	prefer := fs.String("prefer", "", "listen address to try first, falling back to -addr when it is taken "+
		"(a fixed one keeps the build's GOPROXY and MODEL_URL arguments, and so Docker's layer cache, the same between builds)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *modcache == "" {
		out, err := exec.CommandContext(ctx, "go", "env", "GOMODCACHE").Output()
		if err != nil {
			return fmt.Errorf("finding the module cache: %w", err)
		}
		*modcache = strings.TrimSpace(string(out))
	}
	mux := http.NewServeMux()
	mux.Handle("/mod/", http.StripPrefix("/mod/", http.FileServer(http.Dir(filepath.Join(*modcache, "cache", "download")))))
	if *models != "" {
		mux.Handle("/models/", http.StripPrefix("/models/", http.FileServer(http.Dir(*models))))
	}
	var ln net.Listener
	var err error
	if *prefer != "" {
		ln, err = net.Listen("tcp", *prefer)
	}
	if ln == nil {
		ln, err = net.Listen("tcp", *addr)
	}
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	srv := &http.Server{Handler: logRequests(mux), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "http://%s\n", ln.Addr())
	go func() {
		// Stop when whoever started us closes our stdin (the script or test exits).
		_, _ = io.Copy(io.Discard, stdin)
		_ = srv.Close()
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

// logRequests logs failed requests, which usually mean a module missing from the cache.
func logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		if rec.status >= 400 && !strings.HasSuffix(r.URL.Path, "/@v/list") {
			slog.Warn("buildserve: not served", "path", r.URL.Path, "status", rec.status)
		}
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

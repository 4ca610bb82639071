//go:build !cgo

package cli

// The commands' face engine when no OpenCV is linked (cgo off: the macOS and Windows builds):
// detect and serve run in facectl's container image through the local Docker engine, with the
// same flags, the config file and FACECTL_ settings handed over.

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/facectl/facectl/pkg/buildinfo"
	"github.com/facectl/facectl/pkg/imagerun"
	"github.com/facectl/facectl/pkg/server"
)

// engineImage is the image detect and serve run in: FACECTL_IMAGE, else the one of this
// binary's version.
func engineImage() string {
	if img := os.Getenv("FACECTL_IMAGE"); img != "" {
		return img
	}
	v, _, _ := buildinfo.Info()
	return imagerun.DefaultImage(v)
}

// engineVersions says that this build has no OpenCV, and where detect and serve run instead.
func engineVersions() (opencv, gocvVersion string) {
	return "none linked (detect and serve run in the container image " + engineImage() + ")", "none"
}

// runInImage runs the command in the image, mapping its exit status to facectl's.
func (a *app) runInImage(cmd *cobra.Command, run imagerun.Run) error {
	if path, err := a.configFile(); err != nil {
		return err
	} else if path != "" {
		run.Args = append(run.Args, "--config", path)
		run.Reads = append(run.Reads, path)
	}
	r := &imagerun.Runner{Image: engineImage(), In: a.streams.In, Out: a.streams.Out, Err: a.streams.Err}
	ctx := cmd.Context()
	if err := r.Check(ctx); err != nil {
		return fmt.Errorf("facectl %s needs OpenCV, which this build of facectl does not link, or a Docker engine to run it in facectl's image %s: %w", cmd.Name(), r.Image, err)
	}
	err := r.Exec(ctx, run)
	var exit *imagerun.ExitError
	switch {
	case errors.As(err, &exit):
		return &exitError{code: exit.Code}
	case errors.Is(err, ctx.Err()) && ctx.Err() != nil:
		return &exitError{code: 130}
	}
	return err
}

// passedFlags are the flags the user set on cmd, as arguments for the same command in the
// image, with replace's values instead of the user's for the flags it names.
func passedFlags(cmd *cobra.Command, replace map[string]string) []string {
	var out []string
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Name == "config" {
			return // the config file is handed over by runInImage, found on the host
		}
		if v, ok := replace[f.Name]; ok {
			out = append(out, "--"+f.Name+"="+v)
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, item := range sv.GetSlice() {
				out = append(out, "--"+f.Name+"="+item)
			}
			return
		}
		out = append(out, "--"+f.Name+"="+f.Value.String())
	})
	return out
}

// serveWith serves from the image, publishing the listen and metrics addresses on the host.
func (a *app) serveWith(cmd *cobra.Command, cfg server.Config, det *detectorSection, log *slog.Logger) error {
	run := imagerun.Run{}
	replace := map[string]string{}
	for _, l := range []struct{ flag, addr string }{{"addr", cfg.Addr}, {"metrics-addr", cfg.MetricsAddr}} {
		if l.addr == "" {
			continue
		}
		host, port, err := net.SplitHostPort(l.addr)
		if err != nil {
			return &usageError{err: fmt.Errorf("--%s %q: %w", l.flag, l.addr, err)}
		}
		n, err := strconv.Atoi(port)
		if err != nil || n <= 0 {
			return &usageError{err: fmt.Errorf("--%s %q: the container needs a fixed port", l.flag, l.addr)}
		}
		// Inside the container the server listens on every interface; the host side keeps the
		// address the user chose.
		replace[l.flag] = ":" + port
		run.Ports = append(run.Ports, imagerun.Port{HostIP: strings.Trim(host, "[]"), HostPort: n, ContainerPort: n})
	}
	if det.Model != "" {
		run.Reads = append(run.Reads, det.Model)
	}
	run.Args = append([]string{"serve"}, passedFlags(cmd, replace)...)
	// Settings that came from the environment keep coming from it; the addresses do not.
	run.Env = append(run.Env, "FACECTL_SERVER_ADDR="+replace["addr"])
	if m, ok := replace["metrics-addr"]; ok {
		run.Env = append(run.Env, "FACECTL_SERVER_METRICS_ADDR="+m)
	}
	log.Info("serving from the container image", "image", engineImage(), "addr", cfg.Addr)
	return a.runInImage(cmd, run)
}

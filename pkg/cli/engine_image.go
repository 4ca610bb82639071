//go:build !cgo

package cli

// The commands' face engine when no OpenCV is linked (cgo off: the macOS and Windows builds):
// detect and serve run in facectl's container image through the local Docker engine, with the
// same flags, the config file and FACECTL_ settings handed over.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/facectl/facectl/pkg/batch"
	"github.com/facectl/facectl/pkg/buildinfo"
	"github.com/facectl/facectl/pkg/imagerun"
	"github.com/facectl/facectl/pkg/s3io"
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

// imageEngine runs detect and serve in facectl's container image; configFile is the host's
// config file, handed to the container.
type imageEngine struct {
	configFile func() (string, error)
}

func newEngine(f *Factory) Engine { return imageEngine{configFile: f.configFile} }

// Versions says that this build has no OpenCV, and where detect and serve run instead.
func (imageEngine) Versions() (opencv, gocvVersion string) {
	return "none linked (detect and serve run in the container image " + engineImage() + ")", "none"
}

// runInImage runs the command name in the image, mapping its exit status to facectl's.
func (e imageEngine) runInImage(ctx context.Context, streams IOStreams, name string, run imagerun.Run) error {
	if path, err := e.configFile(); err != nil {
		return err
	} else if path != "" {
		run.Args = append(run.Args, "--config", path)
		run.Reads = append(run.Reads, path)
	}
	r := &imagerun.Runner{Image: engineImage(), In: streams.In, Out: streams.Out, Err: streams.Err}
	if err := r.Check(ctx); err != nil {
		return fmt.Errorf("facectl %s needs OpenCV, which this build of facectl does not link, or a Docker engine to run it in facectl's image %s: %w", name, r.Image, err)
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

// checkDetector checks the detector settings here, before any container starts, as the OpenCV
// build does; the model is the image's unless the user names one.
func checkDetector(det *detectorSection) error {
	cfg := det.Config
	if cfg.Model == "" {
		cfg.Model = "the image's model"
	}
	if err := cfg.Validate(); err != nil {
		return &usageError{err: fmt.Errorf("detector settings: %w", err)}
	}
	return nil
}

// passedFlags are the flags the user set, as arguments for the same command in the image, with
// replace's values instead of the user's for the flags it names.
func passedFlags(fs *pflag.FlagSet, replace map[string]string) []string {
	var out []string
	fs.Visit(func(f *pflag.Flag) {
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

// Serve serves from the image, publishing the listen and metrics addresses on the host.
func (e imageEngine) Serve(ctx context.Context, opts *ServeOptions) error {
	cfg, det := opts.Server, opts.Detector
	if err := checkDetector(det); err != nil {
		return err
	}
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
	run.Args = append([]string{"serve"}, passedFlags(opts.Flags, replace)...)
	// Settings that came from the environment keep coming from it; the addresses do not.
	run.Env = append(run.Env, "FACECTL_SERVER_ADDR="+replace["addr"])
	if m, ok := replace["metrics-addr"]; ok {
		run.Env = append(run.Env, "FACECTL_SERVER_METRICS_ADDR="+m)
	}
	opts.Log.Info("serving from the container image", "image", engineImage(), "addr", cfg.Addr)
	return e.runInImage(ctx, opts.IO, "serve", run)
}

// Detect runs detect in the image: local inputs mounted read-only, local outputs read-write,
// standard input and output connected; s3:// arguments go through as they are.
func (e imageEngine) Detect(ctx context.Context, o *DetectOptions) error {
	det := o.Detector
	if err := checkDetector(det); err != nil {
		return err
	}
	run := imagerun.Run{}
	local := func(p string) bool { return p != "" && p != batch.Stdin && !s3io.IsURL(p) }
	for _, arg := range o.Args {
		switch {
		case arg == batch.Stdin:
			run.Stdin = true
		case local(arg):
			run.Reads = append(run.Reads, arg)
		}
	}
	for _, d := range o.outputDirs() {
		if local(d) {
			run.Writes = append(run.Writes, d)
		}
	}
	if local(o.Results) {
		run.WriteFiles = append(run.WriteFiles, o.Results)
	}
	// A model or cascades of the user's own (from a flag, the environment or the config file) are
	// mounted; by default the image's own are used.
	if det.Model != "" {
		run.Reads = append(run.Reads, det.Model)
	}
	if det.CascadeDir != defaultDetectorSection().CascadeDir {
		run.Reads = append(run.Reads, det.CascadeDir)
	}
	// The format chosen for this terminal, which the container (writing to a pipe) cannot see.
	run.Args = append([]string{"detect"}, passedFlags(o.Flags, nil)...)
	if !o.Flags.Changed("format") && !o.Quiet {
		run.Args = append(run.Args, "--format="+o.Format)
	}
	run.Args = append(append(run.Args, "--"), o.Args...)
	run.Env, run.Reads = awsFiles(run.Env, run.Reads)
	o.Log.Debug("detecting in the container image", "image", engineImage())
	return e.runInImage(ctx, o.IO, "detect", run)
}

// awsFiles hands the AWS SDK's shared configuration files to the container, for s3://
// arguments (the AWS_* variables themselves are passed through by imagerun).
func awsFiles(env, reads []string) ([]string, []string) {
	home, err := os.UserHomeDir()
	if err != nil {
		return env, reads
	}
	for name, file := range map[string]string{"AWS_CONFIG_FILE": "config", "AWS_SHARED_CREDENTIALS_FILE": "credentials"} {
		if os.Getenv(name) != "" {
			continue
		}
		if p := filepath.Join(home, ".aws", file); fileExists(p) {
			env, reads = append(env, name+"="+p), append(reads, p)
		}
	}
	return env, reads
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/facectl/facectl/pkg/deploy"
	"github.com/facectl/facectl/pkg/s3io"
)

// IOStreams are the command's standard streams and whether each is a terminal.
type IOStreams struct {
	In              io.Reader
	Out, Err        io.Writer
	InTTY, OutTTY   bool
	ErrTTY          bool
	TermWidthStderr int
}

// SystemStreams are os.Stdin, os.Stdout and os.Stderr.
func SystemStreams() IOStreams {
	isTTY := func(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
	s := IOStreams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr,
		InTTY: isTTY(os.Stdin), OutTTY: isTTY(os.Stdout), ErrTTY: isTTY(os.Stderr)}
	if s.ErrTTY {
		if w, _, err := term.GetSize(int(os.Stderr.Fd())); err == nil {
			s.TermWidthStderr = w
		}
	}
	return s
}

// Factory holds what the commands share: the streams, the config file (--config), the face
// engine of detect and serve, and the clients the other commands talk through. Each command's
// constructor copies what it needs into its options.
type Factory struct {
	IOStreams IOStreams
	// ConfigPath is --config, set while the root command parses its flags.
	ConfigPath string
	// Engine runs detect and serve: in this process with the linked OpenCV (cgo builds), or in
	// facectl's container image (the portable build).
	Engine Engine
	// HTTPClient downloads the model for model pull.
	HTTPClient func() *http.Client
	// ObjectStore is detect's S3 client for s3:// inputs and outputs.
	ObjectStore func(ctx context.Context, cfg s3io.Config) (objectStore, error)
	// DeployDeps builds the deployer's collaborators (AWS clients, docker when full) for the
	// deploy section cfg.
	DeployDeps func(ctx context.Context, cfg deploy.Config, log *slog.Logger, full bool) (deploy.Deps, error)
}

// Engine runs the commands that need OpenCV. The options are parsed and validated; the engine
// loads the model, reads the inputs and serves.
type Engine interface {
	Detect(ctx context.Context, opts *DetectOptions) error
	Serve(ctx context.Context, opts *ServeOptions) error
	// Versions are the OpenCV and gocv versions the engine runs, for facectl version.
	Versions() (opencv, gocv string)
}

// NewFactory is the factory of a facectl run on streams.
func NewFactory(streams IOStreams) *Factory {
	f := &Factory{
		IOStreams:   streams,
		HTTPClient:  func() *http.Client { return &http.Client{Timeout: 5 * time.Minute} },
		ObjectStore: func(ctx context.Context, cfg s3io.Config) (objectStore, error) { return s3io.New(ctx, cfg) },
	}
	f.Engine = newEngine(f)
	f.DeployDeps = f.deployDeps
	return f
}

// deployDeps is the deployer's collaborators against AWS (or --endpoint-url); full is for
// deploy itself, which also builds and pushes with docker.
func (f *Factory) deployDeps(ctx context.Context, cfg deploy.Config, log *slog.Logger, full bool) (deploy.Deps, error) {
	awsCfg, err := deploy.LoadAWSConfig(ctx, cfg)
	if err != nil {
		return deploy.Deps{}, &usageError{err: err}
	}
	deps := deploy.NewDeps(awsCfg)
	deps.Log, deps.Events = log, printEvent(f.IOStreams.Err)
	if full {
		deps.Docker = &deploy.DockerCLI{Progress: f.IOStreams.Err}
	}
	return deps, nil
}

// load loads the configuration of cmd (targets plus the log section) and builds its logger.
// defaultLogFormat is "json" for serve and "text" elsewhere.
func (f *Factory) load(cmd *cobra.Command, targets map[string]any, defaultLogFormat string) (*slog.Logger, error) {
	logCfg := defaultLogSection()
	targets["log"] = logCfg
	if err := f.loadConfig(cmd, targets); err != nil {
		return nil, err
	}
	return newLogger(f.IOStreams.Err, logCfg, defaultLogFormat)
}

// newLogger builds the slog handler for a command from the log section: text on stderr for
// commands, JSON for serve unless --log-format says otherwise.
func newLogger(w io.Writer, cfg *logSection, defaultFormat string) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Level)); err != nil {
		return nil, &usageError{err: fmt.Errorf("--log-level %q: want debug, info, warn or error", cfg.Level)}
	}
	format := cfg.Format
	if format == "" {
		format = defaultFormat
	}
	opts := &slog.HandlerOptions{Level: level, AddSource: cfg.Source}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, &usageError{err: fmt.Errorf("--log-format %q: want text or json", format)}
	}
}

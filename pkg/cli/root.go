// Package cli is facectl's command line: cobra commands, flags and viper configuration. It is the
// only package that imports cobra or viper; commands fill typed configs owned by the library
// packages and call them.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1 // the command ran but something failed (a file, a deploy)
	ExitUsage   = 2 // bad flags, arguments or configuration; also `detect -q` finding no face
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

// usageError marks errors that exit with ExitUsage.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// exitError carries an exit code for a failure that has already been reported.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// app holds what every command shares: streams and global flags.
type app struct {
	streams    IOStreams
	configPath string
}

// logger builds the slog handler for a command from the log section: text on stderr for
// commands, JSON for serve unless --log-format says otherwise.
func (a *app) logger(cfg *logSection, defaultFormat string) (*slog.Logger, error) {
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
		return slog.New(slog.NewJSONHandler(a.streams.Err, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(a.streams.Err, opts)), nil
	default:
		return nil, &usageError{err: fmt.Errorf("--log-format %q: want text or json", format)}
	}
}

// NewRootCmd builds the facectl command tree.
func NewRootCmd(streams IOStreams) *cobra.Command {
	return newRootCmd(&app{streams: streams})
}

func newRootCmd(a *app) *cobra.Command {
	streams := a.streams
	root := &cobra.Command{
		Use:   "facectl",
		Short: "Detect faces in photos, serve it as a web service, deploy it to ECS Fargate",
		Long: `facectl finds faces in photos with the YuNet neural network (or OpenCV's classic cascades).

It works on local files (facectl detect), as an HTTP service with an upload page and a JSON API
(facectl serve), and deploys that service to Amazon ECS on Fargate (facectl deploy).`,
		Example: `  facectl detect photo.jpg
  facectl detect --format json ~/Pictures > faces.json
  facectl serve --addr :8080`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	pf := root.PersistentFlags()
	pf.StringVar(&a.configPath, "config", "", "config file (default: ./facectl.yaml, then $XDG_CONFIG_HOME/facectl/config.yaml, then /etc/facectl/config.yaml)")
	addSettingFlags(pf, "log", true)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err: err} })

	for _, newCmd := range commands {
		root.AddCommand(newCmd(a))
	}
	root.SuggestionsMinimumDistance = 2
	// Runnable, so that anything that is not a subcommand fails Args as "unknown command".
	root.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return errors.New(msg)
	}
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	markArgErrors(root)
	return root
}

// markArgErrors makes every command's argument errors usage errors (exit 2), as the flag errors
// are through SetFlagErrorFunc; cobra returns both as plain errors otherwise.
func markArgErrors(c *cobra.Command) {
	if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				var ue *usageError
				if errors.As(err, &ue) {
					return err
				}
				return &usageError{err: err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		markArgErrors(sub)
	}
}

// commands are the subcommand constructors; each command's file adds its own in an init function,
// so adding a command touches no other file.
var commands []func(*app) *cobra.Command

// Main runs facectl with args and returns the process exit code.
func Main(ctx context.Context, args []string, streams IOStreams) int {
	root := NewRootCmd(streams)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return exitCode(err, streams.Err)
}

// exitCode maps an error to an exit code in one place, printing it unless already reported.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	msg := strings.TrimSpace(err.Error())
	fmt.Fprintf(stderr, "facectl: %s\n", strings.ReplaceAll(msg, "\n", "\n  "))
	var ue *usageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	if errors.Is(err, context.Canceled) {
		return 130
	}
	return ExitFailure
}

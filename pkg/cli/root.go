// Package cli is facectl's command line: cobra commands, flags and viper configuration. It is the
// only package that imports cobra or viper; commands fill typed configs owned by the library
// packages and call them.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1 // the command ran but something failed (a file, a deploy)
	ExitUsage   = 2 // bad flags, arguments or configuration; also `detect -q` finding no face
)

// usageError marks errors that exit with ExitUsage.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// exitError carries an exit code for a failure that has already been reported.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// NewCmdRoot builds the facectl command tree.
func NewCmdRoot(f *Factory) *cobra.Command {
	streams := f.IOStreams
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
	pf.StringVar(&f.ConfigPath, "config", "", "config file (default: ./facectl.yaml, then $XDG_CONFIG_HOME/facectl/config.yaml, then /etc/facectl/config.yaml)")
	addSettingFlags(pf, "log", true)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err: err} })

	deploy := NewCmdDeploy(f, nil)
	deploy.AddCommand(
		NewCmdDeployInit(f, nil),
		NewCmdDeployStatus(f, nil),
		NewCmdDeployRollback(f, nil),
		NewCmdDeployPolicy(f, nil),
		NewCmdDeployDestroy(f, nil),
		NewCmdDeployLogs(f, nil),
	)
	batch := NewCmdBatch(f)
	batch.AddCommand(
		NewCmdBatchRun(f, nil),
		NewCmdBatchShard(f, nil),
		NewCmdBatchStatus(f, nil),
		NewCmdBatchCancel(f, nil),
		NewCmdBatchLogs(f, nil),
		NewCmdBatchDestroy(f, nil),
		NewCmdBatchPolicy(f, nil),
	)
	model := NewCmdModel(f)
	model.AddCommand(
		NewCmdModelPull(f, nil),
		NewCmdModelPath(f, nil),
	)
	root.AddCommand(
		NewCmdDetect(f, nil),
		NewCmdServe(f, nil),
		NewCmdHealth(f, nil),
		deploy,
		batch,
		model,
		NewCmdVersion(f, nil),
	)
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

// Main runs facectl with args and returns the process exit code.
func Main(ctx context.Context, args []string, streams IOStreams) int {
	root := NewCmdRoot(NewFactory(streams))
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

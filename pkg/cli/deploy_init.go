package cli

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/facectl/facectl/pkg/deploy"
)

// DeployInitOptions are facectl deploy init's inputs.
type DeployInitOptions struct {
	IO     IOStreams
	Config deploy.Config
	Log    *slog.Logger
	File   string
	Force  bool
}

// NewCmdDeployInit is facectl deploy init; runF, when not nil, runs instead of deployInitRun.
func NewCmdDeployInit(f *Factory, runF func(*DeployInitOptions) error) *cobra.Command {
	opts := &DeployInitOptions{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "init [flags]",
		Short: "Write a commented starting config file for facectl deploy",
		Long: `Write a config file with the deploy: section filled with the defaults (and any values given
by flags or FACECTL_DEPLOY_* variables), each key explained. As written it deploys into the
managed environment (CloudFormation stacks in the default VPC); name subnets, security groups
and an execution role to use your own network instead. Then run facectl deploy --dry-run.`,
		Example: `  facectl deploy init
  facectl deploy init --file deploy.yaml --cluster prod --region eu-west-1
  facectl deploy init --file - > facectl.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Config = deploy.DefaultConfig()
			log, err := f.load(cmd, map[string]any{"deploy": &opts.Config}, "text")
			if err != nil {
				return err
			}
			opts.Log = log
			if runF != nil {
				return runF(opts)
			}
			return deployInitRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.File, "file", "facectl.yaml", "file to write (- for stdout)")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "overwrite an existing file")
	return cmd
}

func deployInitRun(opts *DeployInitOptions) error {
	var b bytes.Buffer
	writeInitConfig(&b, opts.Config)
	if opts.File == "-" {
		_, err := opts.IO.Out.Write(b.Bytes())
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if opts.Force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	path := opts.File
	f, err := os.OpenFile(path, flags, 0o644)
	if errors.Is(err, os.ErrExist) {
		return &usageError{err: fmt.Errorf("%s exists: use --force to overwrite it or --file to write elsewhere", path)}
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	opts.Log.Info("wrote the starting config: facectl deploy --dry-run shows what it would create", "file", path)
	return nil
}

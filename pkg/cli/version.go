package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/facectl/facectl/pkg/buildinfo"
)

// VersionOptions are facectl version's inputs.
type VersionOptions struct {
	IO     IOStreams
	Engine Engine
}

// NewCmdVersion is facectl version; runF, when not nil, runs instead of versionRun.
func NewCmdVersion(f *Factory, runF func(*VersionOptions) error) *cobra.Command {
	opts := &VersionOptions{IO: f.IOStreams, Engine: f.Engine}
	return &cobra.Command{
		Use:     "version",
		Short:   "Print facectl's version, commit, build date and OpenCV version",
		Example: "  facectl version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return versionRun(opts)
		},
	}
}

func versionRun(opts *VersionOptions) error {
	v, c, d := buildinfo.Info()
	opencv, gocvVersion := opts.Engine.Versions()
	_, err := fmt.Fprintf(opts.IO.Out, "facectl %s\ncommit:  %s\nbuilt:   %s\ngo:      %s %s/%s\nopencv:  %s\ngocv:    %s\n",
		v, orNone(c), orNone(d), runtime.Version(), runtime.GOOS, runtime.GOARCH, opencv, gocvVersion)
	return err
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

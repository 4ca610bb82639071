package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/facectl/facectl/pkg/buildinfo"
)

func init() { commands = append(commands, newVersionCmd) }

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print facectl's version, commit, build date and OpenCV version",
		Example: "  facectl version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, c, d := buildinfo.Info()
			opencv, gocvVersion := engineVersions()
			_, err := fmt.Fprintf(a.streams.Out, "facectl %s\ncommit:  %s\nbuilt:   %s\ngo:      %s %s/%s\nopencv:  %s\ngocv:    %s\n",
				v, orNone(c), orNone(d), runtime.Version(), runtime.GOOS, runtime.GOARCH, opencv, gocvVersion)
			return err
		},
	}
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

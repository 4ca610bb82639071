// Package buildinfo holds the version stamped into the binary at link time:
//
//	go build -ldflags "-X github.com/facectl/facectl/pkg/buildinfo.Version=v1.2.3 \
//	  -X github.com/facectl/facectl/pkg/buildinfo.Commit=abc1234 \
//	  -X github.com/facectl/facectl/pkg/buildinfo.Date=2026-11-27T00:00:00Z"
package buildinfo

import "runtime/debug"

// Link-time values; see the package comment.
var (
	Version = "dev"
	Commit  = ""
	Date    = ""
)

// Info is the version, the commit and the build date, falling back to what the Go toolchain
// recorded (VCS revision and time) when the linker flags were not set.
func Info() (version, commit, date string) {
	version, commit, date = Version, Commit, Date
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && commit == "":
				commit = s.Value
			case s.Key == "vcs.time" && date == "":
				date = s.Value
			}
		}
	}
	if len(commit) > 12 {
		commit = commit[:12]
	}
	return version, commit, date
}

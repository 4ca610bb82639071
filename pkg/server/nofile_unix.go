//go:build unix

package server

import "syscall"

// openFileLimit returns the process's soft limit of open files (0 when unknown). The Go
// runtime has already raised it to the hard limit at start.
func openFileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return lim.Cur
}

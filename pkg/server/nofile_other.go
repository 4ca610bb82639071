//go:build !unix

package server

// openFileLimit is unknown here: only MaxConnections caps the connections.
func openFileLimit() uint64 { return 0 }

//go:build !matprofile

package server

// liveMats cannot count Mats without the matprofile build tag.
func liveMats() (int, bool) { return 0, false }

//go:build matprofile

package server

import "gocv.io/x/gocv"

// liveMats is the number of gocv Mats alive (the matprofile build tag enables counting).
func liveMats() (int, bool) { return gocv.MatProfile.Count(), true }

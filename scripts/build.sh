#!/usr/bin/env bash
# Builds facectl as users get it: cgo against the system's OpenCV, version stamped, and linked
# only against the OpenCV libraries it uses (as in the Dockerfile): the gocv wrappers facectl
# never calls are garbage-collected, then scripts/docker/prune-needed.sh drops the libraries only
# they needed (highgui, videoio, ...), which halves start-up. Needs build-essential and patchelf.
#
#   scripts/build.sh [OUTPUT]     # default ./facectl
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-facectl}
case $out in */*) ;; *) out=./$out ;; esac
export PATH=/usr/local/go/bin:$PATH
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
CGO_CFLAGS="-O2 -g -ffunction-sections -fdata-sections" \
CGO_CXXFLAGS="-O2 -g -ffunction-sections -fdata-sections" \
CGO_LDFLAGS="-Wl,--gc-sections" \
go build -trimpath -o "$out" -ldflags "-s -w \
  -X github.com/facectl/facectl/pkg/buildinfo.Version=$version \
  -X github.com/facectl/facectl/pkg/buildinfo.Commit=$commit \
  -X github.com/facectl/facectl/pkg/buildinfo.Date=$(date -u +%Y-%m-%dT%H:%M:%SZ)" ./cmd/facectl
sh scripts/docker/prune-needed.sh "$out" >/dev/null
"$out" version >/dev/null

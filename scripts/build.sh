#!/usr/bin/env bash
# Builds facectl as users get it: cgo against the system's OpenCV, version stamped, and linked
# only against the OpenCV libraries it uses: the gocv wrappers facectl never calls are
# garbage-collected, then scripts/docker/prune-needed.sh drops the libraries only they needed
# (highgui, videoio, ...), which halves start-up. Needs build-essential and patchelf. The flags
# are those of scripts/buildflags/ (shared with the Dockerfile, which runs this script, and
# .goreleaser.yaml).
#
#   scripts/build.sh [OUTPUT]     # default ./facectl
#
# VERSION, COMMIT and DATE override what is stamped (default: git describe, git's short commit, now).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-facectl}
case $out in */*) ;; *) out=./$out ;; esac
export PATH=/usr/local/go/bin:$PATH
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
commit=${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
date=${DATE:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}
. scripts/buildflags/env.sh
# shellcheck disable=SC2086 # GO_BUILD_FLAGS is a list of flags
go build $GO_BUILD_FLAGS -o "$out" -ldflags "$(go_ldflags "$version" "$commit" "$date")" ./cmd/facectl
sh scripts/docker/prune-needed.sh "$out" >/dev/null
"$out" version >/dev/null

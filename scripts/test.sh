#!/usr/bin/env bash
# Sets up everything the tests need (scripts/setup.sh --test, the local base images) and runs every
# test: the Go test suite with the real model, OpenCV, Docker, registry, moto and Chromium; the
# native-memory (matprofile) leak tests; short fuzz runs; and the release config check.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --test
export PATH=/usr/local/go/bin:$PATH
export FACECTL_TEST_MODEL=${FACECTL_TEST_MODEL:-/usr/share/facectl/models/face_detection_yunet_2023mar.onnx}
export FACECTL_TEST_ARTIFACTS=${FACECTL_TEST_ARTIFACTS:-$PWD/.artifacts}
mkdir -p "$FACECTL_TEST_ARTIFACTS"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ -x scripts/base-images.sh ]; then
  step "local base images"
  scripts/base-images.sh
fi

step "go vet"
go vet ./...

step "go test"
go test -count=1 -timeout 45m ./... 2>&1 | tee "$FACECTL_TEST_ARTIFACTS/go-test.log"

step "go test without cgo: the server's handler tests against a fake engine"
# Only pkg/vision and pkg/render may use OpenCV; the server and everything above it builds and
# tests without cgo (the real-engine tests are behind the cgo build constraint).
CGO_ENABLED=0 go test -count=1 ./pkg/server/...

step "native memory: matprofile leak tests"
go test -count=1 -tags matprofile -run 'Leak|NoMat' ./pkg/vision/... ./pkg/server/...

step "fuzz (short)"
# Seed corpora run in every `go test`; these explore beyond them for a short while. A server
# execution is a real decode+detect, so its minimisation is bounded too.
go test -run '^$' -fuzz '^FuzzInspect$' -fuzztime 30s -fuzzminimizetime 2s ./pkg/imageio
go test -run '^$' -fuzz '^FuzzDetectInput$' -fuzztime 60s -fuzzminimizetime 10s ./pkg/server

if [ -f .goreleaser.yaml ]; then
  step "goreleaser check"
  go run github.com/goreleaser/goreleaser/v2@v2.15.1 check
fi
step "all tests passed"

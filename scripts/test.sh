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

# arm64 binaries and containers run here through QEMU (the arm64 image's build check and tests).
step "QEMU for arm64 (binfmt_misc)"
if [ "$(dpkg --print-architecture)" != arm64 ]; then
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable qemu-aarch64
  grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64
fi

# The container tests' images, built here so their time is reported on its own and the tests
# reuse them (FACECTL_TEST_IMAGE*). Docker's layer cache makes a rebuild of unchanged sources fast.
step "container images (linux/amd64, linux/arm64)"
for platform in linux/amd64 linux/arm64; do
  arch=${platform#linux/}
  tag=facectl:container-test-$arch
  start=$SECONDS
  PLATFORM=$platform VERSION=container-test COMMIT=test DATE=2000-01-01T00:00:00Z \
    FACECTL_SHARED_MODELS="$(dirname "$FACECTL_TEST_MODEL")" \
    scripts/image.sh "$tag" >"$FACECTL_TEST_ARTIFACTS/image-build-$arch.log" 2>&1 ||
    { tail -40 "$FACECTL_TEST_ARTIFACTS/image-build-$arch.log"; exit 1; }
  echo "$tag: $(tail -1 "$FACECTL_TEST_ARTIFACTS/image-build-$arch.log") in $((SECONDS - start))s"
done
if [ "$(dpkg --print-architecture)" = amd64 ]; then
  export FACECTL_TEST_IMAGE=facectl:container-test-amd64 FACECTL_TEST_IMAGE_ARM64=facectl:container-test-arm64
fi

step "go vet"
go vet ./...

step "go test"
go test -count=1 -timeout 45m ./... 2>&1 | tee "$FACECTL_TEST_ARTIFACTS/go-test.log"

step "go test -race: the deployer (the stacks and the image build run side by side)"
go test -count=1 -race ./pkg/deploy/...

step "go test without cgo: the server's handler tests against a fake engine, the CLI's tests"
# Only pkg/vision, pkg/render and pkg/codec may use OpenCV; the server and everything above it builds and
# tests without cgo (the real-engine tests are behind the cgo build constraint). The CLI without cgo is
# the portable build (macOS, Windows), whose detect and serve run in the image.
CGO_ENABLED=0 go test -count=1 ./pkg/server/... ./pkg/cli/... ./pkg/imagerun/...

step "native memory: matprofile leak tests"
go test -count=1 -tags matprofile -run 'Leak|NoMat' ./pkg/vision/... ./pkg/codec/... ./pkg/server/...

step "fuzz (short)"
# Seed corpora run in every `go test`; these explore beyond them for a short while. A server
# execution is a real decode+detect, so its minimisation is bounded too. The budgets are counts
# (15–30 s and 60–90 s here), not durations: Go 1.26's fuzz coordinator can report a spurious
# "context deadline exceeded" failure when a -fuzztime duration runs out (go.dev/issue/75804,
# fixed in Go 1.27; seen in this script's FuzzDetectInput once).
go test -run '^$' -fuzz '^FuzzInspect$' -fuzztime 300000x -fuzzminimizetime 2s ./pkg/imagecheck
go test -run '^$' -fuzz '^FuzzDetectInput$' -fuzztime 250000x -fuzzminimizetime 10s ./pkg/server

if [ -f .goreleaser.yaml ]; then
  step "goreleaser check"
  go run github.com/goreleaser/goreleaser/v2@v2.15.1 check
  # Cross-compiles every portable release target (linux, darwin, windows x amd64, arm64) and fails
  # when one does not build or an archive, checksums.txt or the cask is missing: 1.5 min warm here,
  # 27 min cold (GoReleaser itself and six cold builds on 2 busy cores).
  step "release snapshot (portable archives, checksums, Homebrew cask)"
  start=$SECONDS
  scripts/release-snapshot.sh
  echo "release snapshot in $((SECONDS - start))s"
fi
step "all tests passed"

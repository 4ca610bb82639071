#!/usr/bin/env bash
# image.sh [TAG]: builds the facectl container image (default tag facectl:dev) from ./Dockerfile,
# for this machine's architecture or for PLATFORM (linux/amd64 or linux/arm64).
#
# Another architecture is cross-compiled in the Dockerfile's build stage (Debian multiarch); the
# build's last check runs the target's binary, so an arm64 build on amd64 needs QEMU through
# binfmt_misc (apt-get install qemu-user-static binfmt-support; scripts/test.sh sets it up).
# With BuildKit (docker buildx) this is `docker build --platform`. The classic builder (Debian's
# docker.io 20.10 has no buildx) cannot copy between stages of different platforms when given
# --platform, so it gets the platform as build arguments instead (BUILDPLATFORM, TARGETARCH) and,
# as the runtime base, an empty image of the target architecture (scripts/docker/scratch-image.sh).
#
# By default it builds as this project's machines must, without pulling images or reaching the
# internet: it makes the base images (scripts/base-images.sh), serves this machine's Go module
# cache and ../shared/models on 127.0.0.1 (scripts/buildserve) and builds with --network host,
# GOPROXY and MODEL_URL pointing there. FACECTL_IMAGE_ONLINE=1 builds plainly, as a user with
# internet would (official base images, proxy.golang.org, the model's official URL).
# Extra `docker build` arguments go in DOCKER_BUILD_ARGS (e.g. "--no-cache").
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

tag=${1:-facectl:dev}
models=${FACECTL_SHARED_MODELS:-../shared/models}
model=$(. pkg/modelfile/yunet.env && echo "$MODEL_NAME")
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
commit=${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
date=${DATE:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}

host_platform=linux/$(dpkg --print-architecture 2>/dev/null || go env GOARCH)
platform=${PLATFORM:-$host_platform}
case $platform in
linux/amd64 | linux/arm64) ;;
*) echo "image.sh: PLATFORM=$platform: only linux/amd64 and linux/arm64 are supported" >&2; exit 2 ;;
esac

# The build's last step runs the target's binary: say what is missing now, not minutes into the build
# with "Exec format error" (FACECTL_BINFMT_DIR stands in for /proc/sys/fs/binfmt_misc in its test).
if [[ $platform != "$host_platform" ]]; then
	qemu=qemu-$(case ${platform#linux/} in arm64) echo aarch64 ;; amd64) echo x86_64 ;; esac)
	if ! grep -qs '^enabled' "${FACECTL_BINFMT_DIR:-/proc/sys/fs/binfmt_misc}/$qemu"; then
		cat >&2 <<EOT
image.sh: building for $platform on $host_platform runs $platform binaries, and this machine cannot yet
(no enabled binfmt_misc entry $qemu). Set it up once per boot, as root:
  apt-get install -y qemu-user-static binfmt-support
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable $qemu
EOT
		exit 2
	fi
fi

args=(--build-arg "VERSION=$version" --build-arg "COMMIT=$commit" --build-arg "DATE=$date")
if docker buildx version >/dev/null 2>&1; then
	export DOCKER_BUILDKIT=1
	args+=(--platform "$platform")
else
	args+=(--build-arg "BUILDPLATFORM=$host_platform" --build-arg "TARGETARCH=${platform#linux/}")
	if [[ $platform != "$host_platform" ]]; then
		scripts/docker/scratch-image.sh "$platform"
		args+=(--build-arg "RUNTIME_BASE=facectl/scratch:${platform//\//-}")
	fi
fi
if [[ ${FACECTL_IMAGE_ONLINE:-0} != 1 ]]; then
	scripts/base-images.sh
	# Every module the build needs must be in the local cache.
	go mod download
	# A fixed address when it is free: the build arguments that carry it (GOPROXY, MODEL_URL) are
	# part of Docker's cache key for every later RUN, so a random port would rebuild everything.
	srvargs=(-prefer "${FACECTL_BUILDSERVE_ADDR:-127.0.0.1:39217}")
	[[ -f $models/$model ]] && srvargs+=(-models "$(cd "$models" && pwd)")
	coproc BUILDSERVE { exec go run ./scripts/buildserve "${srvargs[@]}"; }
	trap 'kill "$BUILDSERVE_PID" 2>/dev/null || true' EXIT
	read -r url <&"${BUILDSERVE[0]}" || { echo "image.sh: buildserve did not start" >&2; exit 1; }
	args+=(--network host --build-arg "GOPROXY=$url/mod")
	if [[ -f $models/$model ]]; then
		args+=(--build-arg "MODEL_URL=$url/models/$model")
	fi
fi
# shellcheck disable=SC2086
docker build ${DOCKER_BUILD_ARGS:-} "${args[@]}" -t "$tag" .
echo "image.sh: built $tag for $(docker image inspect -f '{{.Os}}/{{.Architecture}}' "$tag")" \
	"($(docker image inspect -f '{{.Size}}' "$tag" | numfmt --to=si)B)"

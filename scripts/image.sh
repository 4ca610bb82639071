#!/usr/bin/env bash
# image.sh [TAG]: builds the facectl container image (default tag facectl:dev) from ./Dockerfile.
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

args=(--build-arg "VERSION=$version" --build-arg "COMMIT=$commit" --build-arg "DATE=$date")
if [[ ${FACECTL_IMAGE_ONLINE:-0} != 1 ]]; then
	scripts/base-images.sh
	# Every module the build needs must be in the local cache.
	go mod download
	srvargs=()
	[[ -f $models/$model ]] && srvargs=(-models "$(cd "$models" && pwd)")
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
echo "image.sh: built $tag ($(docker image inspect -f '{{.Size}}' "$tag" | numfmt --to=si)B)"

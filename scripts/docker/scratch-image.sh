#!/usr/bin/env bash
# scratch-image.sh PLATFORM [NAME]: makes NAME (default facectl/scratch:linux-ARCH), an empty
# image whose configuration says PLATFORM (linux/arm64), unless it exists. The Dockerfile's
# runtime stage starts FROM it (RUNTIME_BASE) when the classic builder builds for another
# architecture: that builder stamps FROM scratch with the host's architecture unless given
# --platform, and with --platform it refuses to copy from the build stage, which runs on the
# host's. `docker import --platform` does not set the architecture either (docker 20.10), so the
# image is loaded from a hand-made `docker save` archive: one empty layer and a config.
set -euo pipefail
platform=$1
os=${platform%%/*}
arch=${platform#*/}
name=${2:-facectl/scratch:$os-$arch}
if docker image inspect "$name" >/dev/null 2>&1; then
	exit 0
fi
variant=""
[[ $arch == arm64 ]] && variant='"variant":"v8",'
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/empty" "$work/archive"
tar --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$work/empty" -cf "$work/layer.tar" .
diff=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
mkdir "$work/archive/$diff"
mv "$work/layer.tar" "$work/archive/$diff/layer.tar"
cat >"$work/config.json" <<JSON
{"architecture":"$arch",$variant"os":"$os","created":"1970-01-01T00:00:00Z","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:$diff"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"scripts/docker/scratch-image.sh $platform"}]}
JSON
cfg=$(sha256sum "$work/config.json" | cut -d' ' -f1)
mv "$work/config.json" "$work/archive/$cfg.json"
printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]\n' "$cfg" "$name" "$diff" >"$work/archive/manifest.json"
tar -C "$work/archive" -c . | docker load >/dev/null
got=$(docker image inspect -f '{{.Os}}/{{.Architecture}}' "$name")
[[ $got == "$platform" ]] || { echo "scratch-image.sh: $name is $got, not $platform" >&2; exit 1; }
echo "scratch-image.sh: made $name ($platform)" >&2

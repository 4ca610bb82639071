#!/usr/bin/env bash
# base-images.sh makes the two base images the Dockerfile starts from, locally, for machines
# that cannot pull from a registry (this project's development and CI machines):
#
#   debian:bookworm-slim   runtime base (RUNTIME_IMAGE): debootstrap minbase + the slim
#                          image's dpkg excludes and apt settings
#   golang:1.26-bookworm   build base (GO_IMAGE): bookworm + gcc/g++/make/pkg-config/git/curl
#                          + this machine's Go toolchain at /usr/local/go
#
# The names are those of the official images, so the same Dockerfile builds here and for users
# who can pull. An image that already exists is reused (a pulled official image included); one
# made by an older version of this script is rebuilt. FORCE=1 rebuilds both.
#
# Needs: root, docker, debootstrap (apt-get install -y debootstrap), Go at GOROOT_HOST, and
# Debian's mirror. Non-interactive; safe to run repeatedly (a few milliseconds when cached).
set -euo pipefail

RUNTIME_IMAGE=${RUNTIME_IMAGE:-debian:bookworm-slim}
GO_IMAGE=${GO_IMAGE:-golang:1.26-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
GOROOT_HOST=${GOROOT_HOST:-/usr/local/go}
CACHE_DIR=${FACECTL_BASE_CACHE:-/var/cache/facectl-base-images}
FORCE=${FORCE:-0}
# Bump when the recipe below changes so cached images are rebuilt.
RECIPE=3
LABEL_KEY=io.facectl.base-images.recipe

log() { printf 'base-images: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# needs_build IMAGE: 0 when IMAGE is missing, made by an older recipe, or FORCE=1.
needs_build() {
	local img=$1 recipe
	[[ $FORCE == 1 ]] && return 0
	docker image inspect "$img" >/dev/null 2>&1 || return 0
	recipe=$(docker image inspect -f "{{ index .Config.Labels \"$LABEL_KEY\" }}" "$img" 2>/dev/null || true)
	# No label: not made by this script (e.g. the official image pulled by a user): reuse it.
	[[ -z $recipe || $recipe == "<no value>" || $recipe == "$RECIPE" ]] && return 1
	return 0
}

build_runtime=0
build_go=0
needs_build "$RUNTIME_IMAGE" && build_runtime=1
needs_build "$GO_IMAGE" && build_go=1
if [[ $build_runtime == 0 && $build_go == 0 ]]; then
	log "reusing $RUNTIME_IMAGE and $GO_IMAGE"
	exit 0
fi

[[ $(id -u) == 0 ]] || die "must run as root (debootstrap and chroot)"
command -v docker >/dev/null || die "docker not found (apt-get install -y docker.io)"
command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install -y debootstrap)"
if [[ $build_go == 1 ]]; then
	[[ -x $GOROOT_HOST/bin/go ]] || die "no Go toolchain at GOROOT_HOST=$GOROOT_HOST"
	GO_VERSION=$("$GOROOT_HOST/bin/go" env GOVERSION)
	GO_VERSION=${GO_VERSION#go}
fi

start=$SECONDS
work=$(mktemp -d /var/tmp/facectl-base.XXXXXX)
mounts=()
cleanup() {
	local m
	for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

# chroot_run ROOTFS CMD...: runs CMD in ROOTFS with /proc mounted (only for the duration of
# the call, so no later copy or tar of ROOTFS can descend into it) and no service starts.
chroot_run() {
	local root=$1 rc=0
	shift
	mount -t proc proc "$root/proc"
	mounts+=("$root/proc")
	chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
		LANG=C.UTF-8 HOME=/root "$@" </dev/null >>"$work/chroot.log" 2>&1 || rc=$?
	umount -l "$root/proc"
	if [[ $rc != 0 ]]; then
		tail -20 "$work/chroot.log" >&2
		die "in $root: $* failed ($rc)"
	fi
}

# import ROOTFS IMAGE CHANGES...: imports ROOTFS as IMAGE with Dockerfile-style changes.
import() {
	local root=$1 img=$2
	shift 2
	local args=(--change "LABEL $LABEL_KEY=$RECIPE")
	local c
	for c in "$@"; do args+=(--change "$c"); done
	mountpoint -q "$root/proc" && die "$root/proc is still mounted"
	rm -f "$root/etc/resolv.conf" "$root/etc/hostname" "$root/usr/sbin/policy-rc.d"
	: >"$root/etc/machine-id"
	tar --numeric-owner --xattrs --one-file-system -C "$root" --exclude='./proc/*' --exclude='./sys/*' \
		--exclude='./dev/*' -c . | docker import "${args[@]}" - "$img" >/dev/null
	log "imported $img ($(docker image inspect -f '{{.Size}}' "$img" | numfmt --to=iec))"
}

mkdir -p "$CACHE_DIR"
root=$work/rootfs
log "debootstrap bookworm (minbase) from $MIRROR"
debootstrap --variant=minbase --cache-dir="$CACHE_DIR" bookworm "$root" "$MIRROR" \
	>"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

# The official images' sources and apt settings (deb822, bookworm + updates + security).
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
echo 'Acquire::GzipIndexes "true";' >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$root/etc/resolv.conf"
log "apt-get upgrade (bookworm-updates, bookworm-security)"
chroot_run "$root" sh -c 'apt-get update -qq && apt-get -y -qq upgrade'

if [[ $build_go == 1 ]]; then
	groot=$work/go-rootfs
	mountpoint -q "$root/proc" && die "$root/proc is still mounted"
	cp -a --one-file-system "$root" "$groot"
	log "installing the build tools the official golang image has"
	chroot_run "$groot" sh -c 'apt-get install -y -qq --no-install-recommends \
		ca-certificates curl wget git gnupg netbase procps openssh-client \
		g++ gcc libc6-dev make pkg-config && apt-get clean && rm -rf /var/lib/apt/lists/*'
	log "copying Go $GO_VERSION from $GOROOT_HOST"
	mkdir -p "$groot/usr/local/go" "$groot/go/bin" "$groot/go/src"
	chmod 1777 "$groot/go" "$groot/go/bin" "$groot/go/src"
	tar -C "$GOROOT_HOST" -c . | tar -C "$groot/usr/local/go" -x
	import "$groot" "$GO_IMAGE" \
		"ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
		"ENV GOLANG_VERSION=$GO_VERSION" "ENV GOTOOLCHAIN=local" "ENV GOPATH=/go" \
		"WORKDIR /go" 'CMD ["bash"]'
fi

if [[ $build_runtime == 1 ]]; then
	# The slim variant: no docs, man pages or locales, now or in packages installed later.
	mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
	cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
DPKG
	find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
	find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
	rm -rf "$root/usr/share/groff"/* "$root/usr/share/info"/* "$root/usr/share/linda"/* \
		"$root/usr/share/lintian"/* "$root/usr/share/man"/*
	find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
	chroot_run "$root" sh -c 'apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/*.log'
	import "$root" "$RUNTIME_IMAGE" \
		"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" 'CMD ["bash"]'
fi
log "done in $((SECONDS - start))s"

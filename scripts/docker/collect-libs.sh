#!/bin/sh
# collect-libs.sh BINARY ROOT: runs in a throw-away stage FROM the runtime base. It installs the
# Debian runtime packages that own BINARY's OpenCV libraries (and opencv-data for the cascades),
# then copies into ROOT only what BINARY loads: every library of its `ldd` closure that the
# runtime base does not already have, OpenCV's LBP and Haar cascades, the owning packages'
# copyright files, and their dpkg status entries under /var/lib/dpkg/status.d/ (the layout
# distroless uses, which image scanners read). The final stage copies ROOT over a clean runtime
# base, so the packages' other dependencies (Mesa and LLVM behind libGLX, GDAL's data, ...) that
# BINARY never loads stay out of the image.
set -eu
bin=$1
root=$2
export DEBIAN_FRONTEND=noninteractive

# The libraries the base already has, with their contents, to tell them apart afterwards.
libsums() {
	find /usr/lib /usr/local/lib -xdev \( -name '*.so' -o -name '*.so.*' \) \( -type f -o -type l \) 2>/dev/null |
		while read -r f; do readlink -f "$f"; done | sort -u | xargs -r sha256sum
}
libsums >/tmp/base-libs.txt

# Package names for the OpenCV libraries the binary needs (libopencv-core406, ...), from the
# library names: each libopencv_<module>.so.406 ships in libopencv-<module>406.
pkgs=$(ldd "$bin" | awk '$1 ~ /^libopencv_/ { print $1 }' |
	sed -E 's/^libopencv_([a-z0-9_]+)\.so\.([0-9]+).*/libopencv-\1\2/; s/_/-/g' | sort -u | tr '\n' ' ')
echo "collect-libs: installing $pkgs opencv-data"
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $pkgs opencv-data >/dev/null

mkdir -p "$root/usr/lib/x86_64-linux-gnu" "$root/var/lib/dpkg/status.d" "$root/usr/share/doc"
if ldd "$bin" | grep 'not found'; then
	echo "collect-libs: $bin has unresolved libraries after installing $pkgs" >&2
	exit 1
fi
owners=""
for p in $(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'); do
	real=$(readlink -f "$p")
	sum=$(sha256sum "$real" | awk '{print $1}')
	if grep -qx "$sum  $real" /tmp/base-libs.txt; then
		continue # the runtime base has this very file
	fi
	# Install under the name the loader asked for (liblapack.so.3 is an alternatives symlink).
	dest=$root/usr/lib/x86_64-linux-gnu/$(basename "$p")
	cp -L "$p" "$dest"
	owner=$(dpkg-query -S "$real" 2>/dev/null || dpkg-query -S "$(echo "$real" | sed 's|^/usr||')" 2>/dev/null ||
		dpkg-query -S "$p" 2>/dev/null || true)
	owners="$owners ${owner%%:*}"
done
for d in lbpcascades haarcascades; do
	mkdir -p "$root/usr/share/opencv4"
	cp -a "/usr/share/opencv4/$d" "$root/usr/share/opencv4/$d"
done
owners="$owners opencv-data"
for pkg in $(echo "$owners" | tr ' ' '\n' | sed '/^$/d' | sort -u); do
	dpkg-query -s "$pkg" >"$root/var/lib/dpkg/status.d/$pkg"
	if [ -f "/usr/share/doc/$pkg/copyright" ]; then
		mkdir -p "$root/usr/share/doc/$pkg"
		cp "/usr/share/doc/$pkg/copyright" "$root/usr/share/doc/$pkg/copyright"
	fi
done
echo "collect-libs: $(find "$root/usr/lib" -type f | wc -l) libraries ($(du -sh "$root/usr/lib" | cut -f1)) from $(ls "$root/var/lib/dpkg/status.d" | wc -l) packages"

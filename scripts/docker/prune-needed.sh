#!/bin/sh
# prune-needed.sh BINARY: removes from BINARY's dynamic section the shared libraries that define
# none of the symbols BINARY imports.
#
# gocv links every OpenCV module that pkg-config lists (highgui, videoio, ... which pull in Qt,
# GTK, FFmpeg, GStreamer), although facectl calls into only a few of them. The Dockerfile links
# with -ffunction-sections and --gc-sections so the unused gocv wrappers are dropped, but the
# linker decides --as-needed before garbage collection, so the DT_NEEDED entries stay. This does
# what --as-needed would have done after it: a library is kept when it defines at least one of
# the binary's undefined dynamic symbols (those of the kept libraries come with them through
# their own DT_NEEDED). Then `ldd -r` must resolve every symbol, or the build fails.
#
# For a cross build set LIB_DIRS to the target's library directories (e.g.
# "/usr/lib/aarch64-linux-gnu /lib/aarch64-linux-gnu") and NM to its nm: libraries are then looked
# up there instead of with the host's ldd, and the symbol check is left to the caller (the
# Dockerfile runs the collected root under QEMU with LD_BIND_NOW=1).
# Needs: binutils (nm), patchelf, ldd.
set -eu
bin=$1
nm=${NM:-nm}
undef=$(mktemp)

# lib_path NAME: where the loader finds NAME.
lib_path() {
	if [ -z "${LIB_DIRS:-}" ]; then
		ldd "$bin" | awk -v l="$1" '$1 == l { print $3 }'
		return
	fi
	for d in $LIB_DIRS; do
		if [ -e "$d/$1" ]; then
			echo "$d/$1"
			return
		fi
	done
}

$nm -D --undefined-only "$bin" | awk '{print $NF}' | sed 's/@.*//' | sort -u >"$undef"
for lib in $(patchelf --print-needed "$bin"); do
	case $lib in
	libc.so.* | libm.so.* | ld-linux* | libpthread.so.* | libdl.so.* | libresolv.so.* | libgcc_s.so.* | libstdc++.so.*) continue ;;
	esac
	path=$(lib_path "$lib")
	if [ -z "$path" ] || [ ! -e "$path" ]; then
		echo "prune-needed: $lib not found" >&2
		exit 1
	fi
	if $nm -D --defined-only "$path" | awk '{print $NF}' | sed 's/@.*//' | grep -qxFf "$undef"; then
		echo "prune-needed: keeping  $lib"
	else
		echo "prune-needed: dropping $lib (none of its symbols is used)"
		patchelf --remove-needed "$lib" "$bin"
	fi
done
rm -f "$undef"
[ -n "${LIB_DIRS:-}" ] && exit 0
if ldd -r "$bin" 2>&1 | grep -E 'not found|undefined symbol'; then
	echo "prune-needed: $bin no longer resolves; see above" >&2
	exit 1
fi

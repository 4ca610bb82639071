#!/bin/sh
# collect-libs.sh BINARY ROOT TRIPLET: makes ROOT a distroless-style root file system for BINARY,
# built for the multiarch TRIPLET (x86_64-linux-gnu, aarch64-linux-gnu). It runs in the
# Dockerfile's build stage, on the build machine's architecture, where the target's Debian
# packages are installed through multiarch (libopencv-dev:arm64 brings libopencv-core406:arm64 ...),
# so nothing of the target architecture has to run.
#
# ROOT gets:
#   - BINARY's shared-library closure, resolved from the ELF DT_NEEDED entries against the
#     target's library directories (not with the host's ldd), and its program interpreter:
#     whatever BINARY needs, and nothing else;
#   - the two OpenCV cascades facectl can load (from opencv-data);
#   - CA certificates, /etc/os-release, /etc/passwd and /etc/group (root and the user 10001), /tmp;
#   - for every Debian package with a file in ROOT, its dpkg status entry under
#     /var/lib/dpkg/status.d/ (the layout distroless uses, which image scanners read) and its
#     copyright file, so that what the image holds is what it lists.
# The target's base-files package (for os-release) is read from its .deb in DEBS (default
# /var/cache/facectl-debs), since it is not co-installable across architectures.
# Needs: readelf (binutils), dpkg-query, dpkg-deb.
set -eu
bin=$1
root=$2
triplet=$3
debs=${DEBS:-/var/cache/facectl-debs}
libdirs="/usr/lib/$triplet /lib/$triplet /usr/lib /lib"

die() {
	echo "collect-libs: $*" >&2
	exit 1
}

machine() { readelf -h "$1" | sed -n 's/^ *Machine: *//p'; }
want_machine=$(machine "$bin")

# needed ELF: the DT_NEEDED names of ELF, one a line.
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'; }

# find_lib NAME: the path the target's loader would find NAME at (same ELF machine).
find_lib() {
	for d in $libdirs; do
		if [ -e "$d/$1" ] && [ "$(machine "$d/$1")" = "$want_machine" ]; then
			echo "$d/$1"
			return 0
		fi
	done
	return 1
}

# wants: "FILE<TAB>PATH" lines: FILE (in ROOT) is the file dpkg may know as PATH. Debian bookworm
# registers some files under /lib although they live in /usr/lib (merged /usr), and a library
# reached through a symlink is registered under its real name, so each FILE gets several PATHs.
wants=$(mktemp)
want() {
	f=$1
	shift
	for p in "$@"; do
		printf '%s\t%s\n' "$f" "$p"
		printf '%s\t%s\n' "$f" "$(echo "$p" | sed 's|^/usr/lib/|/lib/|')"
	done >>"$wants"
}

rm -rf "$root"
mkdir -p "$root/usr/lib/$triplet" "$root/usr/local/bin" "$root/etc/ssl/certs" \
	"$root/var/lib/dpkg/status.d" "$root/usr/share/doc" "$root/tmp"
chmod 1777 "$root/tmp"
# Merged /usr, as in Debian bookworm: the program interpreter's path goes through /lib or /lib64.
ln -s usr/lib "$root/lib"
cp "$bin" "$root/usr/local/bin/facectl"

# The closure, breadth first.
todo=$(needed "$bin")
seen=" "
while [ -n "$todo" ]; do
	next=""
	for name in $todo; do
		case $seen in *" $name "*) continue ;; esac
		seen="$seen$name "
		path=$(find_lib "$name") || die "$name (needed by the closure of $bin) not found in $libdirs for $want_machine"
		real=$(readlink -f "$path")
		# Under the name the loader asks for (liblapack.so.3 is an alternatives symlink).
		cp -L "$path" "$root/usr/lib/$triplet/$name"
		want "$name" "$real" "$path"
		next="$next $(needed "$real")"
	done
	todo=$next
done

# The program interpreter (/lib64/ld-linux-x86-64.so.2, /lib/ld-linux-aarch64.so.1), as a symlink
# into the library directory like Debian's.
interp=$(readelf -l "$bin" | sed -n 's/.*Requesting program interpreter: \(.*\)\]$/\1/p')
[ -n "$interp" ] || die "$bin has no program interpreter"
ireal=$(readlink -f "$interp")
ibase=$(basename "$ireal")
if [ ! -e "$root/usr/lib/$triplet/$ibase" ]; then
	cp "$ireal" "$root/usr/lib/$triplet/$ibase"
	want "$ibase" "$ireal"
fi
case $interp in
/lib64/*) ln -s usr/lib64 "$root/lib64" ;;
esac
idir=$root/usr$(dirname "$interp")
mkdir -p "$idir"
[ -e "$idir/$(basename "$interp")" ] || ln -s "/usr/lib/$triplet/$ibase" "$idir/$(basename "$interp")"

# The cascades facectl loads (pkg/vision/cascade.go), not all of opencv-data's.
for f in lbpcascades/lbpcascade_frontalface.xml haarcascades/haarcascade_frontalface_alt2.xml; do
	mkdir -p "$root/usr/share/opencv4/$(dirname "$f")"
	cp "/usr/share/opencv4/$f" "$root/usr/share/opencv4/$f"
	want "$f" "/usr/share/opencv4/$f"
done

# CA certificates for HTTPS clients (the bundle update-ca-certificates makes from the package).
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
want ca-certificates.crt /usr/share/ca-certificates

# os-release and debian_version from the target's base-files, so scanners know the distribution.
bf=$(ls "$debs"/base-files_*.deb 2>/dev/null | head -1)
[ -n "$bf" ] || die "no base-files .deb in $debs"
x=$(mktemp -d)
dpkg-deb -x "$bf" "$x"
mkdir -p "$root/usr/lib"
cp "$x/usr/lib/os-release" "$root/usr/lib/os-release"
ln -s ../usr/lib/os-release "$root/etc/os-release"
cp "$x/etc/debian_version" "$root/etc/debian_version"
mkdir -p "$root/usr/share/doc/base-files"
cp "$x/usr/share/doc/base-files/copyright" "$root/usr/share/doc/base-files/copyright"
# dpkg-deb -f prints the control fields; dpkg's status adds Status after Package.
dpkg-deb -f "$bf" | awk '{ print } /^Package:/ { print "Status: install ok installed" }' \
	>"$root/var/lib/dpkg/status.d/base-files"
rm -rf "$x"

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/usr/sbin/nologin
facectl:x:10001:10001:facectl:/nonexistent:/usr/sbin/nologin
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
facectl:x:10001:
EOF

# The owners, from dpkg's file lists in one pass: every FILE must have one.
owners=$(mktemp)
awk -F'\t' 'NR == FNR { if (!($2 in want)) want[$2] = $1; else want[$2] = want[$2] "\t" $1; all[$1] = 1; next }
	($0 in want) { n = split(want[$0], fs, "\t"); pkg = FILENAME; sub(/.*\//, "", pkg); sub(/\.list$/, "", pkg)
		for (i = 1; i <= n; i++) if (!(fs[i] in owner)) owner[fs[i]] = pkg }
	END { for (f in all) print f "\t" (f in owner ? owner[f] : "") }' "$wants" /var/lib/dpkg/info/*.list >"$owners"
if awk -F'\t' '$2 == "" { print "collect-libs: no Debian package owns " $1; bad = 1 } END { exit !bad }' "$owners" >&2; then
	exit 1
fi
# Package metadata: a status entry and the copyright file of every owner.
for pkg in $(cut -f2 "$owners" | sort -u); do
	name=${pkg%%:*}
	dpkg-query -s "$pkg" >"$root/var/lib/dpkg/status.d/$name"
	[ -e "/usr/share/doc/$name/copyright" ] || die "$pkg has no /usr/share/doc/$name/copyright"
	mkdir -p "$root/usr/share/doc/$name"
	cp -L "/usr/share/doc/$name/copyright" "$root/usr/share/doc/$name/copyright"
done
rm -f "$owners" "$wants"
echo "collect-libs: $(find "$root/usr/lib/$triplet" -type f | wc -l) libraries" \
	"($(du -sh "$root/usr/lib/$triplet" | cut -f1)) for $want_machine from" \
	"$(ls "$root/var/lib/dpkg/status.d" | wc -l) packages: $(ls "$root/var/lib/dpkg/status.d" | tr '\n' ' ')"

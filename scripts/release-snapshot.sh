#!/usr/bin/env bash
# release-snapshot.sh: a GoReleaser snapshot of the portable (cgo-free) release, built on this
# machine without publishing: the archives for linux, darwin and windows on amd64 and arm64,
# checksums.txt and the Homebrew cask, all checked to be there. The Linux OpenCV archives and
# the images need the release machine's cross toolchain and buildx (docs/container.md) and are
# left out with FACECTL_RELEASE_PORTABLE_ONLY.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

GORELEASER=github.com/goreleaser/goreleaser/v2@v2.15.1
FACECTL_RELEASE_PORTABLE_ONLY=1 go run "$GORELEASER" release --snapshot --clean --skip=docker,publish,announce >"${FACECTL_TEST_ARTIFACTS:-/tmp}/release-snapshot.log" 2>&1 ||
	{ tail -40 "${FACECTL_TEST_ARTIFACTS:-/tmp}/release-snapshot.log"; exit 1; }

missing=()
for target in linux_amd64 linux_arm64 darwin_amd64 darwin_arm64 windows_amd64 windows_arm64; do
	ext=tar.gz
	[[ $target == windows_* ]] && ext=zip
	ls dist/facectl_*_"${target}"_portable."$ext" >/dev/null 2>&1 || missing+=("facectl_*_${target}_portable.$ext")
done
[[ -s dist/checksums.txt ]] || missing+=(checksums.txt)
cask=$(find dist -name facectl.rb -path '*Casks*' | head -1)
[[ -n $cask ]] || missing+=("the Homebrew cask (Casks/facectl.rb)")
if ((${#missing[@]})); then
	echo "release-snapshot.sh: missing from dist/: ${missing[*]}" >&2
	ls -la dist >&2
	exit 1
fi
# Each portable binary says it is the build without OpenCV.
tar -xzOf dist/facectl_*_linux_amd64_portable.tar.gz facectl >dist/facectl-check && chmod +x dist/facectl-check
dist/facectl-check version | grep -q 'opencv:  none linked' || { echo "release-snapshot.sh: the linux_amd64 portable binary does not say it has no OpenCV" >&2; exit 1; }
rm dist/facectl-check
echo "release-snapshot.sh: $(ls dist/*_portable.* | wc -l) portable archives, checksums.txt and $cask"

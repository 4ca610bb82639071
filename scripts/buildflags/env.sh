# Sourced (POSIX sh) by scripts/build.sh and the Dockerfile: exports the cgo flags and sets
# GO_BUILD_FLAGS from the files next to it, and defines go_ldflags VERSION COMMIT DATE, which
# prints the -ldflags value. Set BUILDFLAGS_DIR when sourcing from elsewhere than the repository root.
buildflags_dir=${BUILDFLAGS_DIR:-scripts/buildflags}
CGO_ENABLED=1
CGO_CFLAGS=$(cat "$buildflags_dir/cgo-cflags")
CGO_CXXFLAGS=$CGO_CFLAGS
CGO_LDFLAGS=$(cat "$buildflags_dir/cgo-ldflags")
export CGO_ENABLED CGO_CFLAGS CGO_CXXFLAGS CGO_LDFLAGS
GO_BUILD_FLAGS=$(cat "$buildflags_dir/goflags")
go_ldflags() {
	sed -e "s|@VERSION@|$1|g" -e "s|@COMMIT@|$2|g" -e "s|@DATE@|$3|g" "$buildflags_dir/ldflags"
}

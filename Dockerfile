# facectl container image: `facectl serve` on :8080, non-root, with the YuNet model built in.
#
#   docker build -t facectl .                                  # this machine's architecture
#   docker buildx build --platform linux/arm64 -t facectl .     # arm64, also from amd64
#
# The image is distroless-style: FROM scratch with only facectl, the shared libraries it loads
# (and glibc's loader), the model, the two cascades it can use, CA certificates, os-release,
# passwd/group entries for its user 10001 and, for scanners, the dpkg status entries and copyright
# files of exactly the Debian packages those files come from. No shell: the health check is
# `facectl health` in exec form, and every check runs in the build stage.
#
# The build stage runs on the build machine's platform and cross-compiles for the target with
# Debian's multiarch packages (libopencv-dev:arm64, crossbuild-essential-arm64), so an arm64 image
# builds on amd64 without emulating the compiler; only the checks (`facectl version` after the
# build, and in the collected root with every symbol bound) run the target's code, under QEMU
# (binfmt_misc) when the architectures differ.
#
# Build arguments (all optional):
#   GO_IMAGE       build stage base, Go on Debian bookworm          (golang:1.26-bookworm)
#   BUILDPLATFORM, TARGETARCH   set by BuildKit from --platform; the classic builder (no buildx)
#                  needs them as build arguments, which scripts/image.sh passes
#   RUNTIME_BASE   what the root is copied onto                      (scratch). The classic
#                  builder stamps FROM scratch with the host's architecture, so for another
#                  target scripts/image.sh passes an empty image of that architecture made by
#                  scripts/docker/scratch-image.sh
#   VERSION, COMMIT, DATE   stamped into `facectl version`
#   MODEL_URL      where the YuNet model comes from: its official URL (default), any http(s)
#                  URL, or a path inside the build context such as
#                  models/face_detection_yunet_2023mar.onnx; its sha256 is checked either way
#   MODEL_SHA256   the expected checksum (default: pkg/modelfile/yunet.env's, where the model's
#                  name, URL and checksum are declared)
#   GOPROXY        Go module proxy for the build stage (default: the Go default)
#
# On a machine that cannot pull images or reach the internet (this project's CI), make the
# base images with scripts/base-images.sh and build with scripts/image.sh, which serves the
# local Go module cache and the model to this build on 127.0.0.1. The Dockerfile itself works
# with the classic builder and with BuildKit.

ARG GO_IMAGE=golang:1.26-bookworm
ARG BUILDPLATFORM
ARG BUILD_PLATFORM=${BUILDPLATFORM:-linux/amd64}
ARG RUNTIME_BASE=scratch

# ---- build: facectl with cgo against Debian's OpenCV 4.6, for TARGETARCH ------------------------
FROM --platform=${BUILD_PLATFORM} ${GO_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive
ARG TARGETARCH
# The target's libraries through multiarch (and the cross toolchain when it is not this machine's
# architecture); /etc/facectl-target.env says how to compile for it. The target's base-files .deb
# is kept for the root's os-release (it cannot be installed next to the build machine's).
RUN set -eu; \
    host=$(dpkg --print-architecture); target=${TARGETARCH:-$host}; \
    case $target in \
      amd64) triplet=x86_64-linux-gnu ;; \
      arm64) triplet=aarch64-linux-gnu ;; \
      *) echo "unsupported TARGETARCH $target (amd64, arm64)" >&2; exit 1 ;; \
    esac; \
    cross=""; \
    if [ "$target" != "$host" ]; then dpkg --add-architecture "$target"; cross="crossbuild-essential-$target"; fi; \
    apt-get update; \
    apt-get install -y --no-install-recommends patchelf opencv-data ca-certificates $cross \
      libopencv-dev:$target libjpeg62-turbo-dev:$target libpng-dev:$target libwebp-dev:$target; \
    mkdir -p /var/cache/facectl-debs; (cd /var/cache/facectl-debs && apt-get download base-files:$target); \
    rm -rf /var/lib/apt/lists/*; \
    { echo "TARGETARCH=$target TRIPLET=$triplet GOARCH=$target"; \
      if [ -n "$cross" ]; then \
        echo "CC=$triplet-gcc CXX=$triplet-g++ NM=$triplet-nm PKG_CONFIG_LIBDIR=/usr/lib/$triplet/pkgconfig:/usr/share/pkgconfig"; \
        echo "LIB_DIRS='/usr/lib/$triplet /lib/$triplet'"; \
      fi; } | sed 's/^/export /' >/etc/facectl-target.env; \
    cat /etc/facectl-target.env
# The build flags are scripts/buildflags/'s, shared with scripts/build.sh (which builds facectl
# here) and .goreleaser.yaml; /etc/facectl-target.env adds the cross compiler's.
ENV GOFLAGS=-buildvcs=false
WORKDIR /src
ARG GOPROXY
COPY go.mod go.sum ./
COPY scripts/buildflags/ scripts/buildflags/
# Dependencies, and gocv's C++ (the slow part), in layers that only change with go.mod/go.sum
# and the flags.
RUN . /etc/facectl-target.env \
 && . scripts/buildflags/env.sh \
 && go mod download \
 && go build $GO_BUILD_FLAGS gocv.io/x/gocv
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
# scripts/build.sh runs the binary at its end: for another architecture under QEMU, with the
# target's libraries that multiarch installed.
RUN . /etc/facectl-target.env \
 && VERSION="${VERSION}" COMMIT="${COMMIT}" DATE="${DATE}" scripts/build.sh /out/facectl

# The runtime root: the check runs the target's facectl in it with every symbol bound at start
# (LD_BIND_NOW), so a library missing from the root fails the build, not the first request.
RUN . /etc/facectl-target.env \
 && sh scripts/docker/collect-libs.sh /out/facectl /rootfs "$TRIPLET" \
 && env -i LD_BIND_NOW=1 /usr/sbin/chroot /rootfs /usr/local/bin/facectl version \
 && mkdir -p /out/bin/usr/local/bin && mv /rootfs/usr/local/bin/facectl /out/bin/usr/local/bin/facectl

# ---- model: YuNet, checksum verified ----------------------------------------------------------
FROM --platform=${BUILD_PLATFORM} ${GO_IMAGE} AS model
# ADD needs a literal default; pkg/modelfile's tests check it is yunet.env's MODEL_URL.
ARG MODEL_URL=https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx
ARG MODEL_SHA256=
COPY pkg/modelfile/yunet.env /tmp/yunet.env
ADD ${MODEL_URL} /tmp/model.download
RUN want=${MODEL_SHA256} \
 && . /tmp/yunet.env \
 && echo "${want:-$MODEL_SHA256}  /tmp/model.download" | sha256sum -c - \
 && mkdir -p /model && mv /tmp/model.download "/model/$MODEL_NAME" \
 && chmod 0755 /model && chmod 0644 "/model/$MODEL_NAME"

# ---- runtime ----------------------------------------------------------------------------------
FROM ${RUNTIME_BASE}
# Libraries, metadata and certificates change least, then the model, then the binary.
COPY --from=build /rootfs/ /
COPY --from=model /model/ /usr/share/facectl/models/
COPY --from=build /out/bin/ /
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="facectl" \
      org.opencontainers.image.description="Face detection service: upload page and JSON API (YuNet on OpenCV 4.6)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.source="https://github.com/facectl/facectl"
# glibc creates up to 8 malloc arenas per core; OpenCV's many short-lived native buffers on
# several goroutine threads then fragment RSS. Two arenas keep it flat at no measurable cost, and
# serving buffers of 1 MiB and more straight from mmap returns decoded photos to the system at
# once (64 concurrent 12 MP annotate requests: peak RSS 548 MB -> 407 MB).
ENV PATH=/usr/local/bin \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=1048576
USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --timeout=3s --start-period=15s --retries=3 CMD ["facectl", "health"]
ENTRYPOINT ["facectl"]
CMD ["serve"]

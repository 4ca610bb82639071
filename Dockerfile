# facectl container image: `facectl serve` on :8080, non-root, with the YuNet model built in.
#
#   docker build -t facectl .
#
# Build arguments (all optional):
#   GO_IMAGE       build stage base, Go on Debian bookworm          (golang:1.26-bookworm)
#   RUNTIME_IMAGE  runtime base, Debian bookworm                     (debian:bookworm-slim)
#   VERSION, COMMIT, DATE   stamped into `facectl version`
#   MODEL_URL      where the YuNet model comes from: its official URL (default), any http(s)
#                  URL, or a path inside the build context such as
#                  models/face_detection_yunet_2023mar.onnx; its sha256 is checked either way
#   MODEL_SHA256   the expected checksum (default: pkg/modelfile/yunet.env's, where the model's
#                  name, URL and checksum are declared)
#   GOPROXY        Go module proxy for the build stage (default: the Go default)
#
# On a machine that cannot pull images or reach the internet (this project's CI), make the
# two base images with scripts/base-images.sh and build with scripts/image.sh, which serves the
# local Go module cache and the model to this build on 127.0.0.1. The Dockerfile itself works
# with the classic builder and with BuildKit.

ARG GO_IMAGE=golang:1.26-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---- build: facectl with cgo against Debian's OpenCV 4.6 --------------------------------------
FROM ${GO_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopencv-dev libjpeg62-turbo-dev libpng-dev libwebp-dev patchelf \
 && rm -rf /var/lib/apt/lists/*
# The build flags are scripts/buildflags/'s, shared with scripts/build.sh (which builds facectl
# here) and .goreleaser.yaml.
ENV GOFLAGS=-buildvcs=false
WORKDIR /src
ARG GOPROXY
COPY go.mod go.sum ./
COPY scripts/buildflags/ scripts/buildflags/
# Dependencies, and gocv's C++ (the slow part), in layers that only change with go.mod/go.sum
# and the flags.
RUN . scripts/buildflags/env.sh \
 && go mod download \
 && go build $GO_BUILD_FLAGS gocv.io/x/gocv
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
RUN VERSION="${VERSION}" COMMIT="${COMMIT}" DATE="${DATE}" scripts/build.sh /out/facectl

# ---- runtime-libs: the shared libraries facectl loads, and nothing else ------------------------
FROM ${RUNTIME_IMAGE} AS runtime-libs
COPY --from=build /out/facectl /usr/local/bin/facectl
COPY scripts/docker/collect-libs.sh /usr/local/bin/collect-libs.sh
RUN sh /usr/local/bin/collect-libs.sh /usr/local/bin/facectl /rootfs

# ---- model: YuNet, checksum verified ----------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS model
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
FROM ${RUNTIME_IMAGE}
COPY --from=runtime-libs /rootfs/ /
COPY --from=model /model/ /usr/share/facectl/models/
COPY --from=build /out/facectl /usr/local/bin/facectl
RUN ldconfig \
 && if ldd /usr/local/bin/facectl | grep 'not found'; then exit 1; fi \
 && groupadd --gid 10001 facectl \
 && useradd --no-log-init --uid 10001 --gid facectl --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin facectl \
 && facectl version
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
ENV MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=1048576
USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --timeout=3s --start-period=15s --retries=3 CMD ["facectl", "health"]
ENTRYPOINT ["facectl"]
CMD ["serve"]

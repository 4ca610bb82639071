#!/usr/bin/env bash
# Installs what facectl needs on Debian or Ubuntu (run as root or with sudo), builds it, and puts
# the YuNet model in place. Idempotent: a second run only checks.
#
#   scripts/setup.sh          build and runtime needs: Go, OpenCV, the model, ./facectl
#   scripts/setup.sh --test   also what the tests use: Docker, Chromium, HAProxy, a registry, moto, ...
set -euo pipefail
cd "$(dirname "$0")/.."

GO_VERSION=1.26.8
# The model's name, checksum and URL are declared once, in pkg/modelfile/yunet.env.
. pkg/modelfile/yunet.env
MODEL=$MODEL_NAME
MODEL_DIR=${FACECTL_MODEL_DIR:-/usr/share/facectl/models}
SHARED_MODELS=${FACECTL_SHARED_MODELS:-../shared/models}

log() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi

# pkg/codec decodes and encodes with libjpeg-turbo, libpng and libwebp itself (not OpenCV's imgcodecs).
packages=(build-essential pkg-config libopencv-dev libjpeg62-turbo-dev libpng-dev libwebp-dev opencv-data ca-certificates curl git patchelf)
if [ "${1:-}" = "--test" ]; then
  packages+=(docker.io chromium hey wrk haproxy docker-registry debootstrap facedetect hyperfine python3-pip imagemagick
    qemu-user-static binfmt-support gunicorn python3-flask python3-opencv wine64 gcc-mingw-w64-x86-64-win32)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# docker.io is only needed when no Docker engine is installed some other way (docker-ce).
if command -v docker >/dev/null 2>&1; then
  missing=("${missing[@]/docker.io}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Go: the version in go.mod, from go.dev when the machine has none or an older one.
export PATH=/usr/local/go/bin:$PATH
have_go=$(go env GOVERSION 2>/dev/null | sed 's/^go//' || true)
if [ -z "$have_go" ] || [ "$(printf '%s\n%s\n' "$GO_VERSION" "$have_go" | sort -V | head -1)" != "$GO_VERSION" ]; then
  log "installing Go $GO_VERSION into /usr/local/go"
  arch=$(dpkg --print-architecture)
  curl -fsSL "https://go.dev/dl/go$GO_VERSION.linux-$arch.tar.gz" -o /tmp/go.tgz
  $SUDO rm -rf /usr/local/go && $SUDO tar -C /usr/local -xzf /tmp/go.tgz && rm /tmp/go.tgz
fi

# The model: from ../shared/models when present, else its official URL; the checksum either way.
if ! echo "$MODEL_SHA256  $MODEL_DIR/$MODEL" | sha256sum -c --status 2>/dev/null; then
  $SUDO mkdir -p "$MODEL_DIR"
  tmp=$(mktemp)
  if [ -f "$SHARED_MODELS/$MODEL" ]; then
    log "copying the model from $SHARED_MODELS"
    cp "$SHARED_MODELS/$MODEL" "$tmp"
  else
    log "downloading the model from $MODEL_URL"
    curl -fsSL "$MODEL_URL" -o "$tmp"
  fi
  if ! echo "$MODEL_SHA256  $tmp" | sha256sum -c --status; then
    rm -f "$tmp"
    echo "setup: the model's sha256 is not $MODEL_SHA256; refusing it" >&2
    exit 1
  fi
  $SUDO install -m 0644 "$tmp" "$MODEL_DIR/$MODEL"
  rm -f "$tmp"
fi

if [ "${1:-}" = "--test" ] && ! command -v moto_server >/dev/null 2>&1; then
  log "installing moto (AWS emulator) with pip"
  $SUDO python3 -m pip install --quiet --break-system-packages 'moto[server]==5.2.1'
fi

log "building ./facectl"
scripts/build.sh facectl
log "ready: ./facectl (model in $MODEL_DIR)"

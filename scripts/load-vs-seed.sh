#!/usr/bin/env bash
# Throughput of `facectl serve` against the original app's stand-in, one after the other, same
# client, same photo, on 127.0.0.1:
#
#   scripts/load-vs-seed.sh                  # 3 rounds of 10 s each
#   ROUNDS=5 DURATION=20s scripts/load-vs-seed.sh
#
# facectl: yunet, 2 workers, `hey -c 8` posting gocv_face.jpg to /api/v1/detect as load.sh does.
# The stand-in: ../shared/bench/seed_flask.py under `gunicorn -w 2` (apt-get install -y gunicorn
# python3-flask python3-opencv), the same photo as a multipart upload to /upload. Prints req/s of
# both per round, the per-round ratio and the ratio of the medians.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18941}
SEED_PORT=${SEED_PORT:-18942}
SHARED=${SHARED:-$(cd .. && pwd)/shared}
MODEL=${FACECTL_TEST_MODEL:-$SHARED/models/face_detection_yunet_2023mar.onnx}
PHOTO=$SHARED/testdata/faces/${PHOTO:-gocv_face.jpg}
GUNICORN=${GUNICORN:-/usr/bin/gunicorn}

command -v hey >/dev/null || { echo "load-vs-seed.sh: hey not found: apt-get install -y hey" >&2; exit 1; }
[ -x "$GUNICORN" ] || { echo "load-vs-seed.sh: apt-get install -y gunicorn python3-flask python3-opencv" >&2; exit 1; }
tmp=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/facectl" ./cmd/facectl
python3 - "$PHOTO" "$tmp/body" <<'PY'
import os, sys
data = open(sys.argv[1], 'rb').read()
head = ('--facectlboundary\r\nContent-Disposition: form-data; name="image"; filename="%s"\r\n'
        'Content-Type: image/jpeg\r\n\r\n' % os.path.basename(sys.argv[1])).encode()
open(sys.argv[2], 'wb').write(head + data + b'\r\n--facectlboundary--\r\n')
PY

wait_for() { # url
	for _ in $(seq 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
	echo "load-vs-seed.sh: $1 did not answer" >&2
	exit 1
}

# run_hey url content-type body: prints req/s after a 2 s warm-up.
run_hey() {
	hey -z 2s -c 8 -m POST -T "$2" -D "$3" "$1" >/dev/null
	hey -z "$DURATION" -c 8 -m POST -T "$2" -D "$3" -t 60 "$1" >"$tmp/hey.txt"
	if grep -qE '^\s+\[[0-9]+\]' "$tmp/hey.txt" && grep -E '^\s+\[[0-9]+\]' "$tmp/hey.txt" | grep -vq '\[200\]'; then
		echo "load-vs-seed.sh: non-200 answers from $1:" >&2
		grep -E '^\s+\[[0-9]+\]' "$tmp/hey.txt" >&2
	fi
	awk '/Requests\/sec:/ {print $2}' "$tmp/hey.txt"
}

: >"$tmp/results"
for r in $(seq "$ROUNDS"); do
	"$tmp/facectl" serve --addr "127.0.0.1:$PORT" --model "$MODEL" --workers 2 --queue-size 128 \
		--drain-period 0s --log-level warn 2>>"$tmp/server.log" &
	pid=$!
	wait_for "http://127.0.0.1:$PORT/healthz"
	f=$(run_hey "http://127.0.0.1:$PORT/api/v1/detect" image/jpeg "$PHOTO")
	kill -TERM "$pid"; wait "$pid" || true; pid=

	(cd "$SHARED/bench" && exec "$GUNICORN" -w 2 -b "127.0.0.1:$SEED_PORT" seed_flask:app 2>>"$tmp/seed.log") &
	pid=$!
	wait_for "http://127.0.0.1:$SEED_PORT/"
	s=$(run_hey "http://127.0.0.1:$SEED_PORT/upload" "multipart/form-data; boundary=facectlboundary" "$tmp/body")
	kill -TERM "$pid"; wait "$pid" || true; pid=

	echo "$f $s" >>"$tmp/results"
	echo "round $r (load $(cut -d' ' -f1 /proc/loadavg)): facectl $f req/s, seed $s req/s, ratio $(awk -v a="$f" -v b="$s" 'BEGIN {printf "%.2f", a/b}')"
done
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
mf=$(cut -d' ' -f1 "$tmp/results" | median); ms=$(cut -d' ' -f2 "$tmp/results" | median)
echo "medians: facectl $mf req/s, seed $ms req/s, ratio $(awk -v a="$mf" -v b="$ms" 'BEGIN {printf "%.2f", a/b}') (target >= 1.6)"

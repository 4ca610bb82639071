#!/usr/bin/env bash
# Load test of `facectl serve` on 127.0.0.1 with hey, and the engine's own throughput (Go
# benchmark, same workers, same photos, same run) for comparison.
#
#   scripts/load.sh                 # yunet and lbp, gocv_face.jpg and group_10.jpg, c = 1, 8, 64
#   DURATION=20s DETECTORS=yunet scripts/load.sh
#
# Prints one Markdown table row per run: req/s, p50, p99, non-200 responses, transport errors,
# and the server's peak RSS (VmHWM; the server is restarted per detector and photo so the peak
# belongs to that photo). Then 64 concurrent 12 MP uploads (peak RSS), an overload run (p99
# bounded by the queue wait), and BenchmarkThroughput. Needs hey (apt-get install hey) and,
# for the 12 MP photo, ImageMagick's convert. Results also go to $OUT (default load-results/).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
DETECTORS=${DETECTORS:-yunet lbp}
PHOTOS=${PHOTOS:-gocv_face.jpg group_10.jpg}
CONCURRENCY=${CONCURRENCY:-1 8 64}
PORT=${PORT:-18931}
OUT=${OUT:-load-results}
SHARED=${SHARED:-$(cd .. && pwd)/shared}
MODEL=${FACECTL_TEST_MODEL:-$SHARED/models/face_detection_yunet_2023mar.onnx}
FACES=$SHARED/testdata/faces
WORKERS=${WORKERS:-$(nproc)}
# glibc settings the container image should use too: a fixed mmap threshold returns the large
# OpenCV buffers to the system at once instead of fragmenting the heap (548 → 419 MB peak for
# 64 concurrent 12 MP annotate requests), and fewer arenas bound fragmentation across threads.
SERVER_ENV=${SERVER_ENV:-MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=1048576}

command -v hey >/dev/null || { echo "load.sh: hey not found: apt-get install -y hey" >&2; exit 1; }
mkdir -p "$OUT"
tmp=$(mktemp -d)
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/facectl" ./cmd/facectl
url=http://127.0.0.1:$PORT

start_server() { # detector, extra flags...
	local det=$1; shift
	env $SERVER_ENV "$tmp/facectl" serve --addr "127.0.0.1:$PORT" --model "$MODEL" --detector "$det" --workers "$WORKERS" \
		--queue-size 128 --drain-period 0s --log-level warn "$@" 2>>"$OUT/server.log" &
	server_pid=$!
	for _ in $(seq 100); do
		"$tmp/facectl" health --url "$url" --timeout 1s >/dev/null 2>&1 && return 0
		kill -0 "$server_pid" 2>/dev/null || { echo "load.sh: server exited; see $OUT/server.log" >&2; exit 1; }
		sleep 0.1
	done
	echo "load.sh: server did not become ready" >&2
	exit 1
}

stop_server() {
	kill -TERM "$server_pid"
	wait "$server_pid" || true
	server_pid=
}

peak_rss_mb() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$server_pid/status"; }

# run_hey label file concurrency [hey args...]: one table row.
run_hey() {
	local label=$1 file=$2 c=$3; shift 3
	local log=$OUT/hey-${label// /_}-c$c.txt
	hey -z "$DURATION" -c "$c" -m POST -T image/jpeg -D "$file" -t 60 "$@" "$url/api/v1/detect" >"$log"
	awk -v label="$label" -v c="$c" -v rss="$(peak_rss_mb)" '
		/Requests\/sec:/ {rps=$2}
		/ 50% in / {p50=$3*1000}
		/ 99% in / {p99=$3*1000}
		/Slowest:/ {slowest=$2*1000}
		/^[ \t]*\[[0-9]+\][ \t]+[0-9]+ responses/ {gsub(/[\[\]]/,"",$1); if ($1 != "200") non200 += $2; else ok += $2}
		/^Error distribution:/ {inerr=1; next}
		inerr && /^[ \t]*\[[0-9]+\]/ {gsub(/[\[\]]/,"",$1); errs += $1}
		END {if (p99 == 0) p99 = slowest  # hey prints 0 for the 99th percentile of short runs
			printf "| %s | %d | %.1f | %.0f | %.0f | %d | %d | %s |\n", label, c, rps, p50, p99, non200, errs, rss}
	' "$log"
}

header() {
	echo "| run | concurrency | req/s | p50 ms | p99 ms | non-200 | errors | peak RSS MB |"
	echo "|---|---|---|---|---|---|---|---|"
}

{
	echo "## facectl serve under hey ($DURATION per run, $WORKERS workers, $(nproc) cores)"
	echo
	header
	for det in $DETECTORS; do
		for p in $PHOTOS; do
			start_server "$det"
			for c in $CONCURRENCY; do
				run_hey "$det $p" "$FACES/$p" "$c"
			done
			stop_server
		done
	done

	if command -v convert >/dev/null; then
		# Upscaled and with sensor-like noise, so it weighs what a camera's 12 MP JPEG does.
		convert "$FACES/group_10.jpg" -resize '4512x2657!' -attenuate 0.6 +noise Gaussian -quality 92 "$tmp/12mp.jpg"
		echo
		echo "### 64 concurrent 12 MP uploads ($(du -k "$tmp/12mp.jpg" | cut -f1) KiB each, yunet, env: $SERVER_ENV)"
		echo
		header
		start_server yunet --queue-size 64 --queue-wait 25s --request-timeout 29s
		run_hey "yunet 12MP detect" "$tmp/12mp.jpg" 64
		stop_server
		start_server yunet --queue-size 64 --queue-wait 25s --request-timeout 29s
		run_hey "yunet 12MP annotate" "$tmp/12mp.jpg" 64 -A image/jpeg
		stop_server
	fi

	echo
	echo "### Overload: 64 clients, 2 queue slots, 1s queue wait (p99 should stay near the wait)"
	echo
	header
	start_server yunet --queue-size 2 --queue-wait 1s
	run_hey "yunet overload group_10.jpg" "$FACES/group_10.jpg" 64
	stop_server

	echo
	echo "### Engine vs HTTP (BenchmarkThroughput: $WORKERS workers, 8 concurrent callers, median of 3)"
	echo
	echo "| benchmark | req/s runs | median req/s |"
	echo "|---|---|---|"
	FACECTL_TEST_MODEL=$MODEL go test -run '^$' -bench Throughput -benchtime "${BENCHTIME:-5s}" -count 3 ./pkg/server 2>/dev/null |
		awk '/^BenchmarkThroughput/ {n=$1; sub(/-[0-9]+$/,"",n); sub(/BenchmarkThroughput\//,"",n); for (i=1;i<NF;i++) if ($(i+1)=="req/s") print n, $i}' |
		sort -k1,1 -s -k2,2n |
		awk '{v[$1]=v[$1] " " $2; c[$1]++; a[$1, c[$1]]=$2; if (!($1 in seen)) {order[++k]=$1; seen[$1]=1}}
		END {for (j=1;j<=k;j++) {n=order[j]; printf "| %s |%s | %s |\n", n, v[n], a[n, int((c[n]+1)/2)]}}'
} | tee "$OUT/results.md"

#!/usr/bin/env bash
# bench-detect.sh — facectl detection benchmarks and the Debian `facedetect` baseline.
#
#   scripts/bench-detect.sh            # from the repository root; needs ../shared (or FACECTL_TEST_MODEL)
#   COUNT=10 scripts/bench-detect.sh   # more samples per benchmark (default 6)
#   SKIP_VISION=1 scripts/bench-detect.sh   # keep $OUT/vision.txt from an earlier run
#
# 1. go test -bench in pkg/vision (BenchmarkDetect: decode+detect per detector and photo;
#    BenchmarkForward: YuNet's bare network forward) and pkg/cli (BenchmarkDetectBatch: the
#    whole `facectl detect` over the shared photos with 1 worker and the default), summarised
#    with benchstat (medians).
# 2. Process-level comparison on the same photos: one `facectl detect` process for all of them
#    vs Debian's `facedetect` (a Python script, one process per photo, as it is used), timed with
#    hyperfine when installed (apt-get install -y hyperfine), else a timed loop.
# Prints photos/s for both and the ratio. Results go to $OUT (default /tmp/facectl-bench).
set -euo pipefail

cd "$(dirname "$0")/.."
COUNT=${COUNT:-6}
OUT=${OUT:-/tmp/facectl-bench}
SHARED=${SHARED:-$(cd .. && pwd)/shared}
MODEL=${FACECTL_TEST_MODEL:-$SHARED/models/face_detection_yunet_2023mar.onnx}
PHOTOS_DIR=${PHOTOS_DIR:-$SHARED/testdata/faces}
BENCHSTAT=${BENCHSTAT:-go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da}
mkdir -p "$OUT"

[ -f "$MODEL" ] || { echo "model not found at $MODEL (set FACECTL_TEST_MODEL)" >&2; exit 1; }
command -v facedetect >/dev/null || { echo "facedetect missing: apt-get install -y facedetect" >&2; exit 1; }
mapfile -t PHOTOS < <(find "$PHOTOS_DIR" -maxdepth 1 \( -name '*.jpg' -o -name '*.png' \) | sort)
N=${#PHOTOS[@]}
export FACECTL_TEST_MODEL=$MODEL

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== go benchmarks (count $COUNT)"
# Same as `go test -run XXX -bench ... -count N`, but through the compiled test binary so that
# libpng's warnings on the process's stderr (iCCP profiles in the PNG photos) cannot break the
# benchmark lines: `go test` merges a test binary's stderr into its stdout.
bench() { # package regex output
  go test -c -o "$OUT/$(basename "$1").test" "./$1"
  (cd "$1" && "$OUT/$(basename "$1").test" -test.run XXX -test.bench "$2" -test.count "$COUNT" -test.timeout 60m \
    2>"$OUT/$(basename "$3" .txt).stderr") | tee "$OUT/$3" | grep -E '^Benchmark' || true
}
if [ -z "${SKIP_VISION:-}" ]; then
  bench pkg/vision 'BenchmarkDetect|BenchmarkForward' vision.txt
fi
bench pkg/cli BenchmarkDetectBatch batch.txt
if $BENCHSTAT "$OUT/vision.txt" "$OUT/batch.txt" > "$OUT/benchstat.txt" 2>"$OUT/benchstat.err"; then
  cat "$OUT/benchstat.txt"
else
  echo "(benchstat unavailable: $(head -1 "$OUT/benchstat.err"); raw results in $OUT)"
fi

# median of a benchmark's values in a go test output file; $3 selects the unit column
median() { # file name-regex unit
  awk -v re="$2" -v unit="$3" '$1 ~ re { for (i = 2; i < NF; i++) if ($(i+1) == unit) print $i }' "$1" |
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2] + v[NR/2+1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "nan"; else printf "%.2f", a / b }'; }

echo "== medians"
for img in gocv_face group_10 12MP; do
  for det in yunet lbp haar; do
    printf '  decode+detect %-5s %-10s %8.1f ms\n' "$det" "$img" \
      "$(awk -v m="$(median "$OUT/vision.txt" "^BenchmarkDetect/$det/$img-" ns/op)" 'BEGIN { print m / 1e6 }')"
  done
done
for img in gocv_face group_10; do
  d=$(median "$OUT/vision.txt" "^BenchmarkDetect/yunet/$img-" ns/op)
  f=$(median "$OUT/vision.txt" "^BenchmarkForward/$img.jpg-" ns/op)
  echo "  yunet $img: decode+detect / bare forward = $(ratio "$d" "$f")  (target <= 1.25)"
done
one=$(median "$OUT/batch.txt" '^BenchmarkDetectBatch/workers=1-' images/s)
def=$(median "$OUT/batch.txt" '^BenchmarkDetectBatch/workers=default-' images/s)
echo "  batch: 1 worker $one images/s, default $def images/s, ratio $(ratio "$def" "$one")  (target >= 1.8 on 2 cores)"

echo "== facectl vs Debian facedetect, $N photos, whole processes"
scripts/build.sh "$OUT/facectl"   # the binary as users get it
FACECTL="$OUT/facectl detect --model $MODEL ${PHOTOS[*]}"
FACEDETECT="for f in ${PHOTOS[*]}; do facedetect \"\$f\" >/dev/null || true; done"
if command -v hyperfine >/dev/null; then
  hyperfine --warmup 1 --runs "${RUNS:-5}" --style basic -N --export-json "$OUT/facectl.json" "$FACECTL" >/dev/null 2>&1 ||
    hyperfine --warmup 1 --runs "${RUNS:-5}" --style basic --export-json "$OUT/facectl.json" "$FACECTL >/dev/null" >/dev/null
  hyperfine --warmup 1 --runs "${RUNS:-3}" --style basic --export-json "$OUT/facedetect.json" "$FACEDETECT" >/dev/null
  t_facectl=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' "$OUT/facectl.json")
  t_facedetect=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' "$OUT/facedetect.json")
  # CPU seconds (user+system, mean) depend far less on what else the machine is doing.
  cpu() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print(r["user"]+r["system"])' "$1"; }
  c_facectl=$(cpu "$OUT/facectl.json"); c_facedetect=$(cpu "$OUT/facedetect.json")
  echo "  CPU time: facectl ${c_facectl}s, facedetect ${c_facedetect}s for $N photos: facedetect uses $(ratio "$c_facedetect" "$c_facectl")x the CPU"
else
  echo "(hyperfine not installed: one timed run each; apt-get install -y hyperfine for medians)"
  s=$(date +%s.%N); $FACECTL >/dev/null 2>&1 || true; t_facectl=$(awk -v s="$s" -v e="$(date +%s.%N)" 'BEGIN { print e - s }')
  s=$(date +%s.%N); bash -c "$FACEDETECT" 2>/dev/null; t_facedetect=$(awk -v s="$s" -v e="$(date +%s.%N)" 'BEGIN { print e - s }')
fi
p_facectl=$(awk -v n="$N" -v t="$t_facectl" 'BEGIN { printf "%.1f", n / t }')
p_facedetect=$(awk -v n="$N" -v t="$t_facedetect" 'BEGIN { printf "%.2f", n / t }')
echo "  facectl:    ${t_facectl}s for $N photos = $p_facectl photos/s (median)"
echo "  facedetect: ${t_facedetect}s for $N photos = $p_facedetect photos/s (median)"
echo "  facectl / facedetect = $(ratio "$p_facectl" "$p_facedetect")x  (target >= 20)"
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

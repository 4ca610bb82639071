#!/usr/bin/env bash
# bench-s3.sh — `facectl detect s3://…` against moto on loopback vs the same photos as local
# files: images per second (runs interleaved, medians, ratio) and peak RSS at two object counts.
#
#   scripts/bench-s3.sh                      # from the repository root; ./facectl built, moto installed
#   N=300 RUNS=5 BIG=1000 HUGE=10000 scripts/bench-s3.sh
#
# moto is a Python process that competes with facectl for this machine's cores, which real S3
# does not: by default (PIN=1) facectl gets one core and moto the other, for the local runs too,
# so the comparison measures facectl's S3 path and not moto's CPU. PIN=0 shares both.
# Results go to $OUT (default /tmp/facectl-bench-s3).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-300} RUNS=${RUNS:-5} BIG=${BIG:-1000} HUGE=${HUGE:-10000} PIN=${PIN:-1}
OUT=${OUT:-/tmp/facectl-bench-s3}
SHARED=${SHARED:-$(cd .. && pwd)/shared}
PHOTOS_DIR=${PHOTOS_DIR:-$SHARED/testdata/faces}
FACECTL=${FACECTL:-./facectl}
[ -x "$FACECTL" ] || { echo "bench-s3.sh: $FACECTL missing: run scripts/build.sh facectl" >&2; exit 1; }
command -v moto_server >/dev/null || { echo "bench-s3.sh: moto_server missing: scripts/setup.sh --test" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench-s3.sh: /usr/bin/time missing: apt-get install -y time" >&2; exit 1; }
rm -rf "$OUT" && mkdir -p "$OUT/local"

FACECTL_CPU="" MOTO_CPU=""
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ]; then FACECTL_CPU="taskset -c 0" MOTO_CPU="taskset -c 1"; fi

port=$((20000 + RANDOM % 20000))
$MOTO_CPU moto_server -H 127.0.0.1 -p "$port" >"$OUT/moto.log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/moto-api/" >/dev/null && break; sleep 0.2; done
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$port FACECTL_S3_PATH_STYLE=true

# put BUCKET COUNT [small]: COUNT objects cycling through the shared photos (only the small
# JPEGs with "small", so ten thousand fit in moto's memory), named like a camera's uploads.
put() {
  python3 - "$1" "$2" "${3:-}" "$PHOTOS_DIR" "$OUT/local" <<'EOF'
import sys, os, boto3
bucket, count, small, src, local = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "small", sys.argv[4], sys.argv[5]
names = sorted(f for f in os.listdir(src) if f.endswith((".jpg", ".png")) and (not small or os.path.getsize(os.path.join(src, f)) < 40000))
s3 = boto3.client("s3")
s3.create_bucket(Bucket=bucket)
data = {n: open(os.path.join(src, n), "rb").read() for n in names}
for i in range(count):
    n = names[i % len(names)]
    key = f"raw/{i:06d}-{n}"
    s3.put_object(Bucket=bucket, Key=key, Body=data[n])
    if bucket == "photos":
        with open(os.path.join(local, key.replace("/", "_")), "wb") as f:
            f.write(data[n])
EOF
}

# run LABEL ARG: one timed detect; prints the wall seconds and keeps the peak RSS.
run() {
  local label=$1 arg=$2 start end
  start=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$OUT/$label.rss" $FACECTL_CPU "$FACECTL" detect --format jsonl "$arg" >"$OUT/$label.jsonl" 2>"$OUT/$label.err" || true
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "bench-s3: putting $N photos into moto (and the same files into $OUT/local)"
put photos "$N"
: >"$OUT/s3.times"; : >"$OUT/local.times"
for i in $(seq "$RUNS"); do
  run s3 "s3://photos/raw/" >>"$OUT/s3.times"
  run local "$OUT/local" >>"$OUT/local.times"
done
s3_lines=$(wc -l <"$OUT/s3.jsonl") local_lines=$(wc -l <"$OUT/local.jsonl")
[ "$s3_lines" = "$N" ] && [ "$local_lines" = "$N" ] || { echo "bench-s3: s3 gave $s3_lines lines, local $local_lines, want $N" >&2; tail -5 "$OUT/s3.err" >&2; exit 1; }
# Same faces either way (the sources' names differ: s3://photos/raw/X vs local/raw_X).
diff <(jq -c '.faces|length' "$OUT/s3.jsonl") <(jq -c '.faces|length' "$OUT/local.jsonl") >/dev/null ||
  { echo "bench-s3: S3 and local runs found different faces" >&2; exit 1; }
s3_med=$(median <"$OUT/s3.times") local_med=$(median <"$OUT/local.times")
printf 'images/s over %d photos, median of %d (pinned: %s): s3 %.1f  local %.1f  ratio s3/local %.2f\n' "$N" "$RUNS" "$PIN" \
  "$(echo "$N / $s3_med" | bc -l)" "$(echo "$N / $local_med" | bc -l)" "$(echo "$local_med / $s3_med" | bc -l)" | tee "$OUT/summary.txt"

for count in "$BIG" "$HUGE"; do
  echo "bench-s3: putting $count small photos into moto"
  put "rss-$count" "$count" small
  run "rss-$count" "s3://rss-$count/raw/" >/dev/null
  lines=$(wc -l <"$OUT/rss-$count.jsonl")
  [ "$lines" = "$count" ] || { echo "bench-s3: $lines lines for $count objects" >&2; exit 1; }
  printf 'peak RSS of detect over %d objects: %d MB\n' "$count" "$(( $(cat "$OUT/rss-$count.rss") / 1024 ))" | tee -a "$OUT/summary.txt"
done

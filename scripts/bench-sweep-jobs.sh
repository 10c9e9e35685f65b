#!/usr/bin/env bash
# Aggregate sweep throughput with 2 single-threaded runs at once vs 1, on the smoke grid,
# interleaved (A B A B ...) so machine noise hits both alike. Prints tokens/s per round and
# the median ratio. Usage: scripts/bench-sweep-jobs.sh [ROUNDS] [CONFIG]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
config=${2:-configs/smoke.toml}
cargo build --release --quiet
bin=target/release/scalinglab
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tokens_of() { python3 -c "import csv,sys; print(sum(int(r['tokens']) for r in csv.DictReader(open(sys.argv[1]))))" "$1"; }
ratios=()
for r in $(seq 1 "$rounds"); do
  for jobs in 1 2; do
    d="$tmp/r$r-j$jobs"
    t0=$(date +%s.%N)
    "$bin" sweep "$config" -q --jobs "$jobs" --threads 1 --set "results_dir=$d" 2>/dev/null || true
    t1=$(date +%s.%N)
    name=$(ls "$d")
    tok=$(tokens_of "$d/$name/runs.csv")
    tps=$(python3 -c "print($tok / ($t1 - $t0))")
    printf 'round %d  --jobs %d  %8.0f tokens/s  (%.1f s)\n' "$r" "$jobs" "$tps" "$(python3 -c "print($t1 - $t0)")"
    eval "tps_$jobs=$tps"
  done
  ratio=$(python3 -c "print($tps_2 / $tps_1)")
  ratios+=("$ratio")
  printf 'round %d  ratio jobs2/jobs1 = %.2f\n' "$r" "$ratio"
done
python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print(f'median ratio --jobs 2 / --jobs 1: {statistics.median(v):.2f} over {len(v)} rounds (min {min(v):.2f}, max {max(v):.2f})')" "${ratios[@]}"

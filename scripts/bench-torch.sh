#!/usr/bin/env bash
# Training throughput of `scalinglab bench` against the same model and step in PyTorch eager
# (benches/torch_reference.py), 1 thread, interleaved per shape (A B A B ...) so machine noise
# hits both alike. Prints tokens/s per round, then per shape the medians, the ratio of the
# medians and the median of the per-round ratios, for wall-clock tokens/s and for tokens per
# second of process CPU time (on a shared machine the wall clock also measures how much of a
# core each process was given; CPU time measures the work per core).
#
# Usage: scripts/bench-torch.sh [ROUNDS] [SHAPES]     (defaults: 3, 64x2x4,128x4x4,256x6x8)
# Env:   STEPS (timed steps per measurement, default 10), THREADS (default 1),
#        ATTENTION (sdpa | manual, the torch attention path, default sdpa),
#        TORCH_SPEC (pip requirement, default torch), VENV (default .venv-bench).
# The first run creates the virtual environment (git-ignored) and pip-installs torch into it.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
shapes=${2:-64x2x4,128x4x4,256x6x8}
steps=${STEPS:-10}
threads=${THREADS:-1}
attention=${ATTENTION:-sdpa}
venv=${VENV:-.venv-bench}

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "${TORCH_SPEC:-torch}" numpy
fi
py="$venv/bin/python"
cargo build --release --quiet
bin=target/release/scalinglab

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(getconf _NPROCESSORS_ONLN) cores," \
  "avx512f: $(grep -qw avx512f /proc/cpuinfo && echo yes || echo no), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "versions: $("$py" -c 'import torch; print("torch", torch.__version__)'), $(rustc --version | cut -d' ' -f1-2)," \
  "candle $(grep -A1 '^name = "candle-core"' Cargo.lock | sed -n 's/version = "\(.*\)"/\1/p')"
export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads RAYON_NUM_THREADS=$threads
echo "setting: context 128, vocab 4096, 32 sequences/step, $threads thread(s), $steps timed steps," \
  "torch attention: $attention"
for r in $(seq 1 "$rounds"); do
  for s in ${shapes//,/ }; do
    "$bin" bench --json --shape "$s" --threads "$threads" --steps "$steps" >"$tmp/a-$s-$r.json"
    "$py" benches/torch_reference.py --json --shape "$s" --threads "$threads" --steps "$steps" \
      --attention "$attention" >"$tmp/b-$s-$r.json"
    "$py" - "$tmp/a-$s-$r.json" "$tmp/b-$s-$r.json" "$r" <<'EOF'
import json, sys
a, b = (json.loads(open(p).read()) for p in sys.argv[1:3])
wall = a["tokens_per_second"] / b["tokens_per_second"]
cpu = a["cpu_tokens_per_second"] / b["cpu_tokens_per_second"]
print(f"round {sys.argv[3]}  {a['shape']:>8}  scalinglab {a['tokens_per_second']:7.0f} tok/s "
      f"({a['cpu_tokens_per_second']:6.0f}/CPU-s, MFU {100 * a['mfu']:4.1f}%)  "
      f"torch {b['tokens_per_second']:7.0f} tok/s ({b['cpu_tokens_per_second']:6.0f}/CPU-s, "
      f"MFU {100 * b['mfu']:4.1f}%)  ratio {wall:.2f} (CPU time {cpu:.2f})", flush=True)
EOF
  done
done
"$py" - "$tmp" "$rounds" "$shapes" <<'EOF'
import json, statistics, sys
tmp, rounds, shapes = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
med = statistics.median
print()
print("| shape | scalinglab tok/s | MFU | peak RSS | torch tok/s | MFU | peak RSS | ratio | per-round "
      "| ratio, CPU time | per-round, CPU time |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for s in shapes:
    a = [json.loads(open(f"{tmp}/a-{s}-{r}.json").read()) for r in range(1, rounds + 1)]
    b = [json.loads(open(f"{tmp}/b-{s}-{r}.json").read()) for r in range(1, rounds + 1)]
    def col(xs, k):
        return [x[k] for x in xs]
    def spread(rs):
        return f"{med(rs):.2f} ({min(rs):.2f}-{max(rs):.2f})"
    ta, tb = col(a, "tokens_per_second"), col(b, "tokens_per_second")
    ca, cb = col(a, "cpu_tokens_per_second"), col(b, "cpu_tokens_per_second")
    rw = [x / y for x, y in zip(ta, tb)]
    rc = [x / y for x, y in zip(ca, cb)]
    print(f"| {s} | {med(ta):,.0f} | {100 * med(col(a, 'mfu')):.1f}% | {max(col(a, 'peak_rss_mib')):.0f} MiB "
          f"| {med(tb):,.0f} | {100 * med(col(b, 'mfu')):.1f}% | {max(col(b, 'peak_rss_mib')):.0f} MiB "
          f"| {med(ta) / med(tb):.2f} | {spread(rw)} | {med(ca) / med(cb):.2f} | {spread(rc)} |")
print(f"({rounds} rounds; tokens/s and MFU are medians; ratio = scalinglab / torch: the ratio of the "
      "medians, then the median (min-max) of the per-round ratios; CPU time: the same for tokens per "
      "second of process CPU time)")
EOF

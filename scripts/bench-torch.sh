#!/usr/bin/env bash
# Training throughput of `scalinglab bench` against the same model and step in PyTorch eager
# (benches/torch_reference.py), 1 thread, interleaved per shape (A B A B ...) so machine noise
# hits both alike. Prints tokens/s per round, then per shape the medians, the ratio of the
# medians and the median of the per-round ratios.
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
print(f"round {sys.argv[3]}  {a['shape']:>8}  scalinglab {a['tokens_per_second']:8.0f} tok/s "
      f"(MFU {100 * a['mfu']:4.1f}%)  torch {b['tokens_per_second']:8.0f} tok/s "
      f"(MFU {100 * b['mfu']:4.1f}%)  ratio {a['tokens_per_second'] / b['tokens_per_second']:.2f}", flush=True)
EOF
  done
done
"$py" - "$tmp" "$rounds" "$shapes" <<'EOF'
import json, statistics, sys
tmp, rounds, shapes = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
print()
print(f"{'shape':>8} | {'scalinglab tok/s':>16} | {'MFU':>5} | {'peak RSS':>8} | {'torch tok/s':>11} | {'MFU':>5} "
      f"| {'peak RSS':>8} | {'ratio of medians':>16} | {'median ratio (min-max)':>22}")
for s in shapes:
    a = [json.loads(open(f"{tmp}/a-{s}-{r}.json").read()) for r in range(1, rounds + 1)]
    b = [json.loads(open(f"{tmp}/b-{s}-{r}.json").read()) for r in range(1, rounds + 1)]
    ta = [x["tokens_per_second"] for x in a]
    tb = [x["tokens_per_second"] for x in b]
    ratios = [x / y for x, y in zip(ta, tb)]
    ma, mb = statistics.median(ta), statistics.median(tb)
    mfa, mfb = statistics.median(x["mfu"] for x in a), statistics.median(x["mfu"] for x in b)
    ra, rb = max(x["peak_rss_mib"] for x in a), max(x["peak_rss_mib"] for x in b)
    print(f"{s:>8} | {ma:16.0f} | {100 * mfa:4.1f}% | {ra:7.0f}M | {mb:11.0f} | {100 * mfb:4.1f}% | {rb:7.0f}M "
          f"| {ma / mb:16.2f} | {statistics.median(ratios):8.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
print(f"({rounds} rounds, medians; ratio = scalinglab / torch tokens/s)")
EOF

#!/usr/bin/env bash
# Issue #19's acceptance check: a sweep that receives SIGTERM at random moments (as Slurm,
# `timeout`, docker and systemd send it) and is restarted each time ends with results
# bit-identical to an uninterrupted sweep: the same run ids, and the same final losses and
# curve losses to the last bit (wall-clock fields aside).
#
#   scripts/fault-sigterm.sh [SIGNALS=20] [BINARY=target/release/scalinglab]
#
# The grid is configs/smoke.toml with 8× the tokens (8 runs, ~30 s on 2 cores), so the
# signals land in training, in checkpoint writes, between runs and in WSD-free resumes alike.
set -euo pipefail
cd "$(dirname "$0")/.."
signals=${1:-20}
bin=${2:-target/release/scalinglab}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sets=(--set "grid.tokens=[4e5, 8e5]" --set train.checkpoint_interval=0)

echo "reference: uninterrupted sweep"
start=$SECONDS
"$bin" sweep configs/smoke.toml "${sets[@]}" --set "results_dir=$work/ref" -q 2>"$work/ref.log"
echo "  $((SECONDS - start)) s"

codes=()
for i in $(seq 1 "$signals"); do
    "$bin" sweep configs/smoke.toml "${sets[@]}" --set "results_dir=$work/int" -q 2>>"$work/int.log" &
    pid=$!
    # 0.3 to 2.3 s: inside a run, at its start, during a checkpoint write or between runs.
    sleep "$(python3 -c "import random; print(round(random.uniform(0.3, 2.3), 2))")"
    kill -TERM "$pid" 2>/dev/null || true
    rc=0
    wait "$pid" || rc=$?
    codes+=("$rc")
done
echo "exit codes after SIGTERM: ${codes[*]}"
for rc in "${codes[@]}"; do
    if [[ $rc != 130 && $rc != 0 ]]; then
        echo "FAIL: a signalled sweep exited $rc (expected 130, or 0 when it had finished)" >&2
        exit 1
    fi
done
echo "finishing the interrupted sweep"
"$bin" sweep configs/smoke.toml "${sets[@]}" --set "results_dir=$work/int" -q 2>>"$work/int.log"

python3 - "$work/ref/smoke" "$work/int/smoke" <<'EOF'
import json, sys
from pathlib import Path
ref, got = Path(sys.argv[1]), Path(sys.argv[2])
def runs(d):
    return {p.stem: json.loads(p.read_text()) for p in (d / "runs").glob("*.json")}
def curve(d, i):
    return [(p["step"], p["train_loss"], p.get("val_loss")) for p in map(json.loads, (d / "curves" / f"{i}.jsonl").read_text().splitlines())]
a, b = runs(ref), runs(got)
bad = []
if set(a) != set(b):
    bad.append(f"run ids differ: only in reference {sorted(set(a) - set(b))}, only interrupted {sorted(set(b) - set(a))}")
for i in sorted(set(a) & set(b)):
    for k in ("final_val_loss", "final_train_loss", "status", "tokens"):
        if a[i][k] != b[i][k]:
            bad.append(f"{i}: {k} {a[i][k]!r} vs {b[i][k]!r}")
    if curve(ref, i) != curve(got, i):
        bad.append(f"{i}: curve losses differ")
resumed = sum(1 for r in b.values() if r.get("resumed_from_step", 0) > 0)
print(f"{len(b)} runs, {resumed} resumed from a SIGTERM checkpoint; "
      + ("all bit-identical to the uninterrupted sweep" if not bad else "DIFFERENCES:"))
for x in bad:
    print("  " + x)
sys.exit(1 if bad else 0)
EOF

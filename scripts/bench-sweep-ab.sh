#!/usr/bin/env bash
# Wall and CPU time of a whole sweep (tuning included), from scratch, with two scalinglab
# binaries — e.g. the build before a change and after it — interleaved (A B A B ...) so machine
# noise hits both alike. Each round trains every run of CONFIG into a fresh temporary results
# folder. Prints per round the wall seconds and the CPU seconds (user + sys of the sweep and its
# child processes), then the medians and the ratio A/B of the medians.
#
# Usage: scripts/bench-sweep-ab.sh BIN_A BIN_B [ROUNDS] [CONFIG]
#        (defaults: 1 round, configs/quick.toml; the sweep's default --jobs, one per core)
# Build an older binary with `git worktree add --detach /tmp/old COMMIT && cargo build
# --release --manifest-path /tmp/old/Cargo.toml`; both binaries read the same CONFIG.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 BIN_A BIN_B [ROUNDS] [CONFIG]" >&2; exit 2; }
a=$1 b=$2 rounds=${3:-1} config=${4:-configs/quick.toml}
for bin in "$a" "$b"; do
  [ -x "$bin" ] || { echo "$bin: not an executable; fix: build it (cargo build --release)" >&2; exit 2; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(getconf _NPROCESSORS_ONLN) cores," \
  "load $(cut -d' ' -f1-3 /proc/loadavg); config $config"
declare -A wall cpu
for r in $(seq 1 "$rounds"); do
  for which in A B; do
    bin=$a; [ "$which" = B ] && bin=$b
    d="$tmp/r$r-$which"
    # GNU time's %e/%U/%S cover the sweep and every child process it waited for.
    /usr/bin/time -f '%e %U %S' -o "$tmp/time" "$bin" sweep "$config" -q --set "results_dir=$d" \
      >"$d.log" 2>&1 || { cat "$d.log" >&2; exit 1; }
    read -r e u s < "$tmp/time"
    c=$(python3 -c "print($u + $s)")
    printf 'round %d  %s  wall %7.1f s  cpu %7.1f s  (%s runs)  load %s\n' "$r" "$which" "$e" "$c" \
      "$(ls "$d"/*/runs | wc -l)" "$(cut -d' ' -f1 /proc/loadavg)"
    wall[$which]+="$e "
    cpu[$which]+="$c "
  done
done
python3 - "${wall[A]}" "${wall[B]}" "${cpu[A]}" "${cpu[B]}" <<'EOF'
import statistics as st, sys
wa, wb, ca, cb = ([float(x) for x in s.split()] for s in sys.argv[1:5])
ma, mb = st.median(wa), st.median(wb)
print(f"median wall: A {ma:.1f} s, B {mb:.1f} s, A/B {ma / mb:.2f}")
ma, mb = st.median(ca), st.median(cb)
print(f"median cpu:  A {ma:.1f} s, B {mb:.1f} s, A/B {ma / mb:.2f}")
EOF

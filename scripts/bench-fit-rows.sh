#!/usr/bin/env bash
# Fit time against rows (issue #18): `scalinglab fit --csv` (full 4,500-start grid, Kaplan
# laws, Approaches 1 and 2) on 10^3, 10^4 and 10^5 rows drawn from L = 1.8 + 400/N^0.34 +
# 2000/D^0.28 with 0.5% noise (N in 1e4..1e8, D in 1e6..1e10, log-uniform), and the same with
# --all-rows (every start on every row, the pre-#18 algorithm) where it is affordable. Prints
# wall seconds, CPU seconds and the fitted law of each, so the optima can be compared.
# Usage: scripts/bench-fit-rows.sh [BINARY]   (default target/release/scalinglab)
set -euo pipefail
bin=${1:-target/release/scalinglab}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 - "$dir" <<'PY'
import math, random, sys
random.seed(1)
for n in (1000, 10000, 100000):
    with open(f"{sys.argv[1]}/rows{n}.csv", "w") as f:
        f.write("N,D,loss\n")
        for _ in range(n):
            N, D = 10 ** (4 + 4 * random.random()), 10 ** (6 + 4 * random.random())
            L = (1.8 + 400 / N**0.34 + 2000 / D**0.28) * (1 + 0.005 * random.gauss(0, 1))
            f.write(f"{N:.6g},{D:.6g},{L:.6g}\n")
PY
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) threads, $(grep -o -m1 -w avx512f /proc/cpuinfo || echo no-avx512)"
for n in 1000 10000 100000; do
    for mode in "" "--all-rows"; do
        [[ $n == 100000 && $mode == --all-rows ]] && continue
        /usr/bin/time -f "%e %U %S" -o "$dir/t" "$bin" fit --csv "$dir/rows$n.csv" $mode --out "$dir/fit.json" >/dev/null 2>&1
        read -r wall user sys < "$dir/t"
        law=$(python3 -c "import json; g=json.load(open('$dir/fit.json'))['groups'][0]['approach3']; l=g['law']; print('E %.5g A %.5g B %.5g alpha %.5g beta %.5g objective %.8g' % (l['E'], l['A'], l['B'], l['alpha'], l['beta'], g['objective']))")
        printf '%7d rows %-11s wall %6.2f s  CPU %6.2f s  %s\n' "$n" "${mode:-default}" "$wall" "$(echo "$user + $sys" | bc)" "$law"
    done
done

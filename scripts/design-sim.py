#!/usr/bin/env python3
"""Would this grid determine the exponents if the loss really were E + A/N^α + B/D^β?

Draws one noisy data set from a known additive law on a grid of sizes × token budgets × seeds,
fits it with `scalinglab fit --csv ... --bootstrap 200 --holdout-top 3`, and prints fit's
additivity and identifiability lines. Cheap (seconds): use it before spending compute on a grid.

  scripts/design-sim.py --n 12.5e3,31e3,84e3,137e3 --d 5e5,1e6,2e6,4e6,8e6 \
      --e 2.0 --alpha 0.35 --beta 0.35 --n-term 0.4 --d-term 0.4 --seeds 2 --noise 0.006

--n-term / --d-term: the size of A/N^α at the smallest N and of B/D^β at the smallest D, nats.
--noise: relative seed-to-seed noise of a run's loss (0.006 ≈ 0.014 nats at 2.3, as measured).
"""
import argparse, os, random, subprocess, sys, tempfile

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--n", required=True)
ap.add_argument("--d", required=True)
for k, v in [("e", 2.0), ("alpha", 0.35), ("beta", 0.35), ("n-term", 0.4), ("d-term", 0.4), ("noise", 0.006)]:
    ap.add_argument("--" + k, type=float, default=v)
ap.add_argument("--seeds", type=int, default=2)
ap.add_argument("--rng", type=int, default=0)
ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "scalinglab"))
a = ap.parse_args()
ns = [float(x) for x in a.n.split(",")]
ds = [float(x) for x in a.d.split(",")]
A = a.n_term * ns[0] ** a.alpha
B = a.d_term * ds[0] ** a.beta
rng = random.Random(a.rng)
with tempfile.TemporaryDirectory() as t:
    csv = os.path.join(t, "sim.csv")
    with open(csv, "w") as f:
        f.write("N,D,seed,loss\n")
        for n in ns:
            for d in ds:
                for s in range(a.seeds):
                    loss = (a.e + A / n ** a.alpha + B / d ** a.beta) * (1 + a.noise * rng.gauss(0, 1))
                    f.write(f"{n},{d},{s},{loss}\n")
    out = subprocess.run([a.bin, "fit", "--csv", csv, "--out", os.path.join(t, "fit.json"),
                          "--bootstrap", "200", "--holdout-top", "3"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(out.stderr)
print(f"truth: E {a.e}  alpha {a.alpha}  beta {a.beta}  a {a.beta / (a.alpha + a.beta):.4f}")
keep = ("E ", "E:", "α", "β", "a ", "a:", "b ", "b:")
for line in out.stdout.splitlines():
    s = line.strip()
    if "additivity" in s or (line.startswith("  ") and not line.startswith("   ") and s.startswith(keep)):
        print(line)

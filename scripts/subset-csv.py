#!/usr/bin/env python3
"""Writes a `scalinglab fit --csv` file (N, D, loss, seed, flops_budget) from a results folder's
runs, keeping runs with at least MIN_TOKENS tokens and n_embd >= MIN_WIDTH: the README's check
of which part of results/text-chinchilla is additive.

  scripts/subset-csv.py results/text-chinchilla 1.9e6 24 > /tmp/subset.csv
  scalinglab fit --csv /tmp/subset.csv --out /tmp/subset.json --bootstrap 200 --holdout-top 3
"""
import csv
import glob
import json
import sys

folder, min_tokens, min_width = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
w = csv.DictWriter(sys.stdout, fieldnames=["N", "D", "loss", "seed", "flops_budget"])
w.writeheader()
for f in sorted(glob.glob(f"{folder}/runs/*.json")):
    r = json.load(open(f))
    s = r["spec"]
    if r["status"] != "ok" or r["tokens"] < min_tokens or s["n_embd"] < min_width:
        continue
    w.writerow({"N": r["params_total"], "D": r["tokens"], "loss": repr(r["final_val_loss"]),
                "seed": s["seed"], "flops_budget": s.get("flops_budget") or ""})

#!/usr/bin/env python3
"""Prints the numbers a README quotes from a results folder's fit.json (and
fit.nonembedding.json): every estimate with its 95% interval and verdict, additivity, seed
noise, Approaches 1-3, the hold-out forecast. Read-only; run after `scalinglab report`."""
import json
import sys
from pathlib import Path


def est(e):
    ci = e.get("ci95")
    iv = f"{ci[0]:.4g}-{ci[1]:.4g}" if ci else "no interval"
    v = "determined" if e.get("determined") else "NOT determined: " + "; ".join(e.get("reasons", []))[:160]
    return f"{e['name']:>16} = {e['value']:.4g} ({iv}) {v}"


def group(path):
    f = json.loads(Path(path).read_text())
    print(f"== {path}: N = {f['conventions']['params']}, holdout {f['conventions']['holdout_top']}, "
          f"bootstrap {f['conventions']['bootstrap_reps']}")
    for g in f["groups"]:
        print(f"runs {g['runs']}, cells {g['cells']}")
        add = g["design"].get("additivity")
        if add:
            print(f"additivity: {add['sizes']}x{add['budgets']}, interaction RMS {add['interaction_rms']:.4f}, "
                  f"chi2 {add.get('chi2')} on {add['df']} df (99% {add['chi2_99']:.1f}), N effect {add['n_effect']:.3f}, "
                  f"gap at D {add['gap_at_d']}, not_additive {add['not_additive']}")
        sn = g.get("seed_noise") or {}
        print(f"seed noise: pooled sd {sn.get('pooled_sd')}, log {sn.get('pooled_sd_log')}")
        a3 = g.get("approach3")
        if a3:
            print("approach 3:", a3.get("quality"))
            for e in a3["params"] + a3["derived"]:
                print("  " + est(e))
        for k in ("approach1", "approach2"):
            r = g.get(k)
            if r:
                print(f"{k}: " + est(r["a"]) + " | " + est(r["b"]))
                for n in r.get("notes", [])[:8]:
                    print("     note:", n[:200])
                for lv in r.get("levels", []):
                    print(f"     C {lv['c']:.3g}: N_opt {lv['n_opt']:.4g}, D_opt {lv['d_opt']:.4g}, "
                          f"points {lv['points']}, edge {lv['at_edge']}")
        h = g.get("holdout")
        if h:
            print(f"holdout: coverage {h.get('coverage')}")
            for r in h["runs"]:
                print("   ", {k: r[k] for k in r if k in ("n", "d", "actual", "predicted", "pct_error", "interval", "inside")})
    for w in f.get("warnings", []):
        print("warning:", w[:300])


for d in sys.argv[1:]:
    for name in ("fit.json", "fit.nonembedding.json"):
        p = Path(d) / name
        if p.exists():
            group(p)

#!/usr/bin/env python3
"""Reads scalinglab's TensorBoard event files with TensorBoard's own reader (issue #18) and
compares them with the runs' curves/ID.jsonl. Used by tests/tensorboard_cli.rs.

For every run folder DIR/{shape}-{id}: `val/loss` and `train/loss_mean` at the curve's steps
must equal the curve's val_loss and train_loss as float32, `train/lr` at those steps the
curve's lr (float32), and `train/loss` must have one point per optimizer step (the run's
max_steps, from runs/ID.json). Prints one JSON line: {"runs": n, "points": m}; exits 1 with the
first mismatch.

Usage: tb_check.py TB_DIR RESULTS_DIR
"""
import glob
import json
import os
import sys

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def f32(x):
    return float(np.float32(x))


def main():
    tb, results = sys.argv[1], sys.argv[2]
    runs = sorted(glob.glob(os.path.join(tb, "*")))
    points = 0
    for d in runs:
        rid = os.path.basename(d).rsplit("-", 1)[1]
        ea = EventAccumulator(d, size_guidance={"scalars": 0})
        ea.Reload()
        curve = [json.loads(l) for l in open(os.path.join(results, "curves", f"{rid}.jsonl"))]
        spec = json.load(open(os.path.join(results, "runs", f"{rid}.json")))["spec"]
        by = {t: {e.step: e.value for e in ea.Scalars(t)} for t in ea.Tags()["scalars"]}
        if len(by["train/loss"]) != spec["max_steps"]:
            sys.exit(f"{d}: {len(by['train/loss'])} train/loss points, max_steps {spec['max_steps']}")
        if len(by["val/loss"]) != len(curve):
            sys.exit(f"{d}: {len(by['val/loss'])} val/loss points, curve has {len(curve)}")
        for p in curve:
            s = p["step"]
            for tag, key in [("val/loss", "val_loss"), ("train/loss_mean", "train_loss"), ("train/lr", "lr")]:
                if by[tag].get(s) != f32(p[key]):
                    sys.exit(f"{d}: {tag} at step {s} is {by[tag].get(s)}, curve {key} {p[key]}")
            points += 1
    print(json.dumps({"runs": len(runs), "points": points}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Summarise SST-2 runs of scripts/sst2-objectives.sh: clean accuracy and the drop under
the `typos` recipe (x1, x3) per run, and the mean over runs that differ only in seed, with
mild_mix worst-case@5, the flip rate under typos x3 and real tokens per optimizer step
(train_summary.json: train seconds x tokens/s / steps).

Usage: scripts/sst2-summary.py runs/sst2-erm-e1 runs/sst2-erm-e1s2 ...   (folders with R.json)
Runs are grouped by objective + the folder's tag with a trailing 's<seed>' removed."""
import json
import re
import sys
from collections import defaultdict


def row(path):
    with open(f"{path}/R.json") as f:
        r = json.load(f)
    clean = 100 * r["clean"]["accuracy"]
    typos = {p["rate"]: p for p in r["perturbations"] if p["name"] == "typos"}
    drop = lambda rate: clean - 100 * typos[rate]["accuracy"] if rate in typos else float("nan")
    flip3 = 100 * typos[3.0]["flip_rate"] if 3.0 in typos else float("nan")
    worst = 100 * r["worst_case"]["accuracy"] if r.get("worst_case") else float("nan")
    with open(f"{path}/train_summary.json") as f:
        t = json.load(f)
    tokens = t["train_seconds"] * t["train_tokens_per_second"] / max(1, t["steps"])
    return clean, drop(1.0), drop(3.0), worst, flip3, tokens, r["cost"]["train_seconds"]


def main(paths):
    groups = defaultdict(list)
    header = f"{'clean':>6} {'drop x1':>8} {'drop x3':>8} {'mm wc@5':>8} {'flip x3':>8} {'tok/step':>8}"
    print(f"{'run':32} {header} {'train s':>8}")
    for p in paths:
        v = row(p)
        print(f"{p:32} {v[0]:6.1f} {v[1]:8.2f} {v[2]:8.2f} {v[3]:8.1f} {v[4]:8.1f} {v[5]:8.0f} {v[6]:8.0f}")
        groups[re.sub(r"s\d+$", "", p.rstrip("/"))].append(v[:6])
    print(f"\nmean over seeds{'':17} {header}")
    for g, rows in groups.items():
        n = len(rows)
        mean = [sum(x[i] for x in rows) / n for i in range(6)]
        # Standard error of the mean over seeds (sample standard deviation / sqrt(n)).
        se = [(sum((x[i] - mean[i]) ** 2 for x in rows) / (n - 1) / n) ** 0.5 if n > 1 else float("nan")
              for i in range(3)]
        print(f"{g:32} {mean[0]:6.2f} {mean[1]:8.2f} {mean[2]:8.2f} {mean[3]:8.1f} {mean[4]:8.1f} {mean[5]:8.0f}"
              f"   (n={n}; standard error of the first three "
              f"{se[0]:.2f} / {se[1]:.2f} / {se[2]:.2f})")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])

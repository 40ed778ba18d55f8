#!/usr/bin/env python3
"""Summarise SST-2 runs of scripts/sst2-objectives.sh: clean accuracy and the drop under
the `typos` recipe (x1, x3) per run, and the mean over runs that differ only in seed.

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
    typos = {p["rate"]: 100 * p["accuracy"] for p in r["perturbations"] if p["name"] == "typos"}
    return clean, clean - typos.get(1.0, float("nan")), clean - typos.get(3.0, float("nan")), r["cost"]["train_seconds"]


def main(paths):
    groups = defaultdict(list)
    print(f"{'run':32} {'clean':>6} {'drop x1':>8} {'drop x3':>8} {'train s':>8}")
    for p in paths:
        c, d1, d3, t = row(p)
        print(f"{p:32} {c:6.1f} {d1:8.2f} {d3:8.2f} {t:8.0f}")
        groups[re.sub(r"s\d+$", "", p.rstrip("/"))].append((c, d1, d3))
    print("\nmean over seeds")
    for g, rows in groups.items():
        n = len(rows)
        mean = [sum(x[i] for x in rows) / n for i in range(3)]
        # Standard error of the mean over seeds (sample standard deviation / sqrt(n)).
        se = [(sum((x[i] - mean[i]) ** 2 for x in rows) / (n - 1) / n) ** 0.5 if n > 1 else float("nan")
              for i in range(3)]
        print(f"{g:32} {mean[0]:6.2f} {mean[1]:8.2f} {mean[2]:8.2f}   (n={n}; standard error "
              f"{se[0]:.2f} / {se[1]:.2f} / {se[2]:.2f})")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])

#!/usr/bin/env python3
"""Table of SST-2 runs evaluated with configs/eval/robust-search.yaml (scripts/sst2-seeds.sh):
per variant, the mean over seeds and its standard error (sd / sqrt(n)) of clean accuracy, the
drop under `typos` x1 and x3, mild_mix worst-case@5, accuracy under char_search and word_search
(and their attack success rates and mean queries), and the training cost per optimizer step
(train seconds / steps from train_summary.json; only comparable between runs that shared the
machine in the same way).

Usage: scripts/sst2-table.py runs/sst2-erm-s1 runs/sst2-erm-s2 ...   (folders with R.json)
Runs are grouped by folder name with the trailing '-s<seed>' removed. Prints Markdown."""
import json
import math
import re
import sys
from collections import defaultdict

COLUMNS = [  # key, header, format
    ("clean", "clean", "{:.1f}"),
    ("drop1", "typos ×1 drop", "{:.2f}"),
    ("drop3", "typos ×3 drop", "{:.2f}"),
    ("worst", "mild_mix wc@5", "{:.1f}"),
    ("char", "char_search acc", "{:.1f}"),
    ("word", "word_search acc", "{:.1f}"),
    ("char_q", "char queries", "{:.0f}"),
    ("word_q", "word queries", "{:.0f}"),
    ("step_ms", "ms/step", "{:.0f}"),
]


def measures(path):
    with open(f"{path}/R.json") as f:
        r = json.load(f)
    clean = 100 * r["clean"]["accuracy"]
    typos = {p["rate"]: p for p in r["perturbations"] if p["name"] == "typos"}
    out = {"clean": clean,
           "drop1": clean - 100 * typos[1.0]["accuracy"],
           "drop3": clean - 100 * typos[3.0]["accuracy"],
           "worst": 100 * r["worst_case"]["accuracy"]}
    for a in r.get("attacks", []):
        name = {"char_search": "char", "word_search": "word"}.get(a.get("kind"))
        if name:
            out[name] = 100 * a["accuracy_under_attack"]
            out[name + "_q"] = a["mean_queries"]
    with open(f"{path}/train_summary.json") as f:
        t = json.load(f)
    out["step_ms"] = 1000 * t["train_seconds"] / max(1, t["steps"])
    return out


def mean_se(values):
    n = len(values)
    m = sum(values) / n
    if n < 2:
        return m, float("nan")
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))
    return m, sd / math.sqrt(n)


def main(paths):
    if not paths:
        sys.exit(__doc__)
    groups = defaultdict(list)
    for p in paths:
        try:
            groups[re.sub(r"-s\d+$", "", p.rstrip("/"))].append(measures(p))
        except (OSError, KeyError, ValueError) as e:
            print(f"sst2-table.py: {p}: skipped ({type(e).__name__}: {e})", file=sys.stderr)
    print("| run | n | " + " | ".join(h for _, h, _ in COLUMNS) + " |")
    print("|---|---:|" + "---:|" * len(COLUMNS))
    for g, rows in groups.items():
        cells = []
        for key, _, fmt in COLUMNS:
            vals = [r[key] for r in rows if key in r]
            if not vals:
                cells.append("—")
                continue
            m, se = mean_se(vals)
            cells.append(fmt.format(m) + ("" if math.isnan(se) or key.endswith("_q") or key == "step_ms"
                                          else " ± " + fmt.format(se)))
        print(f"| {g.replace('runs/sst2-', '')} | {len(rows)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])

#!/usr/bin/env python3
"""Summarise LM runs of scripts/stories-robust.sh: clean perplexity (and its change against the
first run given, the base model) and next-token top-1 agreement under each perturbation.

Usage: scripts/lm-summary.py runs/stories-base runs/stories-erm ...   (folders with R.json)"""
import json
import sys


def main(paths):
    base = None
    for p in paths:
        with open(f"{p}/R.json") as f:
            r = json.load(f)
        ppl = r["clean"]["perplexity"]
        base = base or ppl
        cells = [f"{p:28} ppl {ppl:6.4f} ({100 * (ppl / base - 1):+5.1f}%)"]
        for q in r["perturbations"]:
            cells.append(f"{q['name']}x{q['rate']:g} agree {q['top1_agreement']:.4f} worst {q['worst_case_top1_agreement']:.4f}"
                         f" ppl {q['perplexity']:.4f}")
        print(" | ".join(cells))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])

#!/usr/bin/python3
"""PNG plots for `sturdy report` (which calls this script; it can also be run by hand).

  plot_report.py --output DIR [--label NAME] R.json [[--label NAME] R.json ...]

Writes into DIR:
  accuracy_vs_rate.png    accuracy (solid) and worst-case@K accuracy (dashed) vs rate, one panel
                          per op with several rates; rate 0 is the clean accuracy. LM results
                          plot next-token top-1 agreement instead.
  attacks.png             accuracy under PGD attack vs epsilon, one panel per norm
  robustness_vs_cost.png  mean worst-case@K accuracy over all perturbations vs training seconds
Exit status 4 when matplotlib is missing (the caller still writes the Markdown), 2 on bad input.
Needs only Debian's python3-matplotlib.
"""
import argparse
import json
import os
import sys


def parse_args(argv):
    # `--label NAME` applies to the next result file.
    out, results, label = None, [], None
    it = iter(argv)
    for a in it:
        if a == "--output":
            out = next(it, None)
        elif a == "--label":
            label = next(it, None)
        elif a in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        else:
            results.append((label, a))
            label = None
    if not out or not results:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    return out, results


def load(results):
    runs = []
    for label, path in results:
        try:
            with open(path) as f:
                r = json.load(f)
        except (OSError, ValueError) as e:
            print(f"plot_report.py: {path}: {e}", file=sys.stderr)
            sys.exit(2)
        runs.append((label or r.get("run_name") or os.path.basename(path), r))
    return runs


def is_lm(r):
    return r.get("head") == "lm" or "perplexity" in r.get("clean", {})


def save(fig, path):
    """PNG at 90 dpi, reduced to a 256-colour palette when Pillow is there (3-4x smaller files)."""
    fig.savefig(path, dpi=90)
    try:
        from PIL import Image
        with Image.open(path) as im:
            small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        small.save(path, optimize=True)
    except Exception:  # keep the full-colour file
        pass


def plot_rates(plt, runs, out):
    lm = is_lm(runs[0][1])
    metric, worst = ("top1_agreement", "worst_case_top1_agreement") if lm else ("accuracy", "worst_case_accuracy")
    # op name -> number of distinct rates, over all runs; panels for ops with >= 2 rates
    # (a recipe at several strengths is a panel too: x = the factor on its rates)
    rates = {}
    for _, r in runs:
        for p in r.get("perturbations", []):
            rates.setdefault((p.get("kind", "op"), p["name"]), set()).add(p["rate"])
    ops = [key for key, rs in rates.items() if len(rs) >= 2]
    if not ops:
        return False
    ncols = min(4, len(ops))
    nrows = (len(ops) + ncols - 1) // ncols
    width, height = max(2.7 * ncols, 5.5), 2.3 * nrows + 0.9
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), sharey=True, squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for n, op in enumerate(ops):
        ax = axes[n // ncols][n % ncols]
        for m, (label, r) in enumerate(runs):
            pts = sorted((p["rate"], p.get(metric), p.get(worst)) for p in r.get("perturbations", [])
                         if (p.get("kind", "op"), p["name"]) == op)
            if not pts:
                continue
            clean = 1.0 if lm else r["clean"].get("accuracy")
            xs = [0.0] + [x for x, _, _ in pts]
            c = colors[m % len(colors)]
            ax.plot(xs, [clean] + [y for _, y, _ in pts], "-o", color=c, ms=3, lw=1.5, label=label)
            ax.plot(xs, [clean] + [w for _, _, w in pts], "--", color=c, lw=1.0, alpha=0.8)
        ax.set_title(op[1] if op[0] == "op" else f"{op[1]} (recipe, x = rate factor)", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if n % ncols == 0:
            ax.set_ylabel("top-1 agreement" if lm else "accuracy", fontsize=8)
        if n // ncols == nrows - 1:
            ax.set_xlabel("rate", fontsize=8)
    for n in range(len(ops), nrows * ncols):
        axes[n // ncols][n % ncols].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    from matplotlib.lines import Line2D
    handles += [Line2D([], [], color="gray", ls="-"), Line2D([], [], color="gray", ls="--")]
    labels += ["mean over K draws", "worst case over K draws"]
    ncol = min(len(labels), max(1, int(width // 1.9)))
    legend_rows = (len(labels) + ncol - 1) // ncol
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
    fig.suptitle(("Next-token agreement" if lm else "Accuracy") + " vs perturbation rate", fontsize=10)
    fig.tight_layout(rect=(0, (0.15 + 0.22 * legend_rows) / height, 1, 1))
    save(fig, os.path.join(out, "accuracy_vs_rate.png"))
    plt.close(fig)
    return True


def pgd_attacks(r):
    """The embedding-space entries of R.json's attacks (search attacks have no norm)."""
    return [a for a in r.get("attacks", []) if a.get("kind", "pgd") == "pgd"]


def plot_attacks(plt, runs, out):
    norms = []
    for _, r in runs:
        for a in pgd_attacks(r):
            if a["norm"] not in norms:
                norms.append(a["norm"])
    if not norms:
        return False
    # Relative radii (epsilons_relative) are plotted as such, so models of different
    # embedding scales share an axis; absolute ones on their own.
    def radius(a):
        rel = a.get("epsilon_relative")
        return rel if isinstance(rel, (int, float)) else a["epsilon"]

    relative = any(isinstance(a.get("epsilon_relative"), (int, float)) for _, r in runs for a in pgd_attacks(r))
    fig, axes = plt.subplots(1, len(norms), figsize=(3.4 * len(norms), 2.9), sharey=True, squeeze=False)
    for n, norm in enumerate(norms):
        ax = axes[0][n]
        for label, r in runs:
            pts = sorted((radius(a), a["accuracy_under_attack"]) for a in pgd_attacks(r) if a["norm"] == norm)
            if pts:
                ax.plot([0.0] + [e for e, _ in pts], [r["clean"]["accuracy"]] + [y for _, y in pts], "-o", ms=3,
                        label=label)
        ax.set_title(f"PGD, {norm} ball", fontsize=9)
        ax.set_xlabel("ε (× embedding scale)" if relative else "ε", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if n == 0:
            ax.set_ylabel("accuracy under attack", fontsize=8)
            ax.legend(fontsize=7)
    fig.tight_layout()
    save(fig, os.path.join(out, "attacks.png"))
    plt.close(fig)
    return True


def mean(values):
    values = [v for v in values if isinstance(v, (int, float))]
    return sum(values) / len(values) if values else None


def plot_cost(plt, runs, out):
    pts = []
    for label, r in runs:
        secs = (r.get("cost") or {}).get("train_seconds")
        if is_lm(r):
            rob = mean(p.get("top1_agreement") for p in r.get("perturbations", []))
        else:
            rob = mean(p.get("worst_case_accuracy") for p in r.get("perturbations", []))
        if isinstance(secs, (int, float)) and rob is not None:
            clean = None if is_lm(r) else r["clean"].get("accuracy")
            pts.append((label, secs, rob, clean))
    if not pts:
        return False
    fig, ax = plt.subplots(figsize=(4.6, 3.3))
    for label, secs, rob, clean in pts:
        line, = ax.plot([secs], [rob], "o", ms=7, label=label)
        if clean is not None:
            ax.plot([secs], [clean], "^", ms=6, mfc="none", color=line.get_color())
            ax.plot([secs, secs], [rob, clean], ":", color=line.get_color(), lw=1)
        ax.annotate(label, (secs, rob), textcoords="offset points", xytext=(9, 0), va="center", fontsize=8)
    ax.set_xlabel("training time (s)", fontsize=8)
    ax.set_ylabel("top-1 agreement (mean)" if is_lm(runs[0][1]) else "accuracy", fontsize=8)
    ax.set_title("Robustness vs training cost\n● mean worst-case@K over perturbations   △ clean", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    xs = [p[1] for p in pts]
    span = max(xs) - min(xs) or max(xs) or 1.0
    ax.set_xlim(min(xs) - 0.25 * span, max(xs) + 0.45 * span)
    fig.tight_layout()
    save(fig, os.path.join(out, "robustness_vs_cost.png"))
    plt.close(fig)
    return True


def main():
    out, results = parse_args(sys.argv[1:])
    runs = load(results)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot_report.py: matplotlib is not installed (apt-get install python3-matplotlib)", file=sys.stderr)
        sys.exit(4)
    os.makedirs(out, exist_ok=True)
    drawn = [name for name, ok in (("accuracy_vs_rate.png", plot_rates(plt, runs, out)),
                                   ("attacks.png", not is_lm(runs[0][1]) and plot_attacks(plt, runs, out)),
                                   ("robustness_vs_cost.png", plot_cost(plt, runs, out))) if ok]
    print("plot_report.py: wrote " + (", ".join(drawn) if drawn else "nothing (no plottable data)"))


if __name__ == "__main__":
    main()

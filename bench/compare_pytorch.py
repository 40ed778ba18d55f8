#!/usr/bin/env python3
"""Sturdy vs eager PyTorch, side by side: same model, weights, batches, objective, ranks.

  python3 bench/compare_pytorch.py --sturdy build-perf/src/apps/sturdy [--reps 3] [--steps 16]

For each case (objective x ranks) `sturdy bench train --dump` writes the initial weights and the
batches once; then, repetition by repetition, every case runs Sturdy and PyTorch
(bench/pytorch_train.py, DDP over gloo for 2 ranks) one after the other (A B A B ...), so a
change in machine load hits both sides alike. One thread per rank (OMP_NUM_THREADS=1).
Every run prints its tokens/s (real, non-pad tokens), the BLAS core and the load average.
The summary gives, per case, the median over repetitions and the line

  erm 1 rank: sturdy/pytorch tokens_per_second ratio: X

plus the strong-scaling efficiency 1 -> 2 ranks (same global batch) of each side, and checks
that both sides computed the same initial loss on the same weights and batch (exit 1 if not).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
          "--mca", "btl_vader_single_copy_mechanism", "none", "-x", "OMP_NUM_THREADS",
          # A rank waiting in MPI yields its core instead of spinning (gloo blocks, too): on a
          # shared, oversubscribed machine spinning steals the core the other rank needs.
          "--mca", "mpi_yield_when_idle", "1"]


def last_json(text):
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError("no JSON line in output:\n" + text[-2000:])


def run(cmd, env):
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return last_json(p.stdout)


def write_toy_tsv(path, n):
    """n rows of SST-2's layout (header, sentence<TAB>label), two classes told apart by a word."""
    words = ["the", "a", "film", "story", "very", "quite", "and", "of", "with", "some", "it", "was"]
    cue = [["dull", "flat", "tedious"], ["lovely", "sharp", "moving"]]
    with open(path, "w") as f:
        f.write("sentence\tlabel\n")
        for i in range(n):
            body = [words[(i * 7 + j * 3) % len(words)] for j in range(4 + i % 9)]
            body.insert(i % len(body), cue[i % 2][i % 3])
            f.write(" ".join(body) + f"\t{i % 2}\n")


def label(o, n, w):
    return f"{o}{f' bucketed(window {w})' if w else ''} {n} rank{'s' if n > 1 else ''}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sturdy", default="build-perf/src/apps/sturdy")
    ap.add_argument("--objectives", default="erm,freelb")
    ap.add_argument("--ranks", default="1,2")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--steps", type=int, default=16, help="timed steps per run (a multiple of --batches)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--global-batch", type=int, default=64)
    ap.add_argument("--model", default="", help="extra `sturdy bench train` options, e.g. '--dim 64 --layers 1'")
    ap.add_argument("--data", default="", help="SST-2 train.tsv (default: the bench's default)")
    ap.add_argument("--toy-data", type=int, default=0, metavar="N",
                    help="instead of --data: N generated two-class rows (the smoke test; needs no download)")
    ap.add_argument("--bucket-window", type=int, default=0,
                    help="also run ERM with length-bucketed batches (GlobalSampler window, both sides)")
    a = ap.parse_args()

    env = dict(os.environ, OMP_NUM_THREADS="1")
    objectives = [o for o in a.objectives.split(",") if o]
    ranks = [int(r) for r in a.ranks.split(",") if r]
    common = ["--global-batch", str(a.global_batch), "--batches", str(a.batches)] + a.model.split()
    cases = [(o, n, 0) for o in objectives for n in ranks]
    if a.bucket_window > 1:
        cases += [("erm", n, a.bucket_window) for n in ranks]
    results = {c: {"sturdy": [], "pytorch": []} for c in cases}
    mismatch = False
    with tempfile.TemporaryDirectory() as tmp:
        if a.toy_data:
            a.data = os.path.join(tmp, "toy.tsv")
            write_toy_tsv(a.data, a.toy_data)
        if a.data:
            common += ["--data", a.data]
        dumps = {}
        for o, _, w in cases:
            dumps[(o, w)] = os.path.join(tmp, f"{o}-{w}.pt")
            run([a.sturdy, "bench", "train", "--objective", o, "--steps", "1", "--warmup", "0",
                 "--bucket-window", str(w), "--dump", dumps[(o, w)]] + common, env)
        for rep in range(a.reps):
            for o, n, w in cases:
                timing = ["--steps", str(a.steps), "--warmup", str(a.warmup)]
                s_cmd = [a.sturdy, "bench", "train", "--objective", o, "--bucket-window", str(w)] + common + timing
                if n > 1:
                    s_cmd = MPIRUN + ["-np", str(n)] + s_cmd
                p_cmd = [PYTHON, os.path.join(HERE, "pytorch_train.py"), "--dump", dumps[(o, w)], "--objective", o,
                         "--nproc", str(n)] + timing
                for impl, cmd in (("sturdy", s_cmd), ("pytorch", p_cmd)):
                    r = run(cmd, env)
                    results[(o, n, w)][impl].append(r)
                    print(f"rep {rep + 1} {label(o, n, w)} {impl:7s}: "
                          f"{r['tokens_per_second']:7.0f} tok/s {r['tokens_per_cpu_second']:7.0f} tok/cpu-s "
                          f"{r['ms_per_step']:7.1f} ms/step "
                          f"initial loss {r['initial_loss']:.6f} pad {100 * r['padding_share']:.0f}% rss {r['max_rss_mb']:.0f} MB "
                          f"| BLAS {r['blas_core']} | load {r['loadavg']:.2f}", flush=True)

    print()
    med = {}  # (case) -> {impl: (tokens/s, tokens per CPU second)}
    for c, sides in results.items():
        med[c] = {impl: (statistics.median(r["tokens_per_second"] for r in runs),
                         statistics.median(r["tokens_per_cpu_second"] for r in runs)) for impl, runs in sides.items()}
        loads = [r["loadavg"] for runs in sides.values() for r in runs]
        s0, p0 = sides["sturdy"][0]["initial_loss"], sides["pytorch"][0]["initial_loss"]
        same = abs(s0 - p0) <= 1e-4 * max(1.0, abs(p0))
        mismatch |= not same
        m = med[c]
        print(f"{label(*c)}: sturdy {m['sturdy'][0]:.0f} tok/s ({m['sturdy'][1]:.0f} per CPU-s), pytorch "
              f"{m['pytorch'][0]:.0f} tok/s ({m['pytorch'][1]:.0f} per CPU-s), medians of {a.reps}; padding "
              f"{100 * sides['sturdy'][0]['padding_share']:.0f}%; initial loss sturdy {s0:.6f} pytorch {p0:.6f} "
              f"{'(same)' if same else '(MISMATCH)'}; load {min(loads):.2f}-{max(loads):.2f}; "
              f"BLAS {sides['sturdy'][0]['blas_core']}")
    for o, n, w in cases:
        if n == 1 or (o, 1, w) not in med:
            continue
        for k, what in ((0, "wall-clock"), (1, "CPU-time (upper bound: waiting costs no CPU)")):
            eff = {impl: med[(o, n, w)][impl][k] / ((n if k == 0 else 1) * med[(o, 1, w)][impl][k])
                   for impl in ("sturdy", "pytorch")}
            print(f"{label(o, n, w)}: strong scaling efficiency from 1 rank (same global batch {a.global_batch}), "
                  f"{what}: sturdy {100 * eff['sturdy']:.0f}%, pytorch {100 * eff['pytorch']:.0f}%")
    for c in cases:
        m = med[c]
        print(f"{label(*c)}: sturdy/pytorch tokens_per_second ratio: {m['sturdy'][0] / m['pytorch'][0]:.2f} "
              f"(per CPU-second: {m['sturdy'][1] / m['pytorch'][1]:.2f})")
    for o, n, w in cases:
        if w and (o, n, 0) in med:
            print(f"{label(o, n, 0)}: sturdy with length bucketing (window {w}) / pytorch without: "
                  f"{med[(o, n, w)]['sturdy'][0] / med[(o, n, 0)]['pytorch'][0]:.2f} tokens/s "
                  f"(per CPU-second: {med[(o, n, w)]['sturdy'][1] / med[(o, n, 0)]['pytorch'][1]:.2f})")
    return 1 if mismatch else 0


if __name__ == "__main__":
    sys.exit(main())

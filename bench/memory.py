#!/usr/bin/env python3
"""Peak RSS per objective and RSS growth over a long run (docs/performance.md, "Memory").

  python3 bench/memory.py --sturdy build-perf/src/apps/sturdy --steps 2000 --rss-every 200 \
      --model '--dim 64 --layers 1 --ffn 128 --global-batch 16 --pool 512 --batches 16'

Runs `sturdy bench train --objective X --rss-every N` for every objective (one rank, one thread)
and prints one table row each: peak RSS (VmHWM at the end), RSS at the first and the last sample
and the growth between them. Sturdy samples VmRSS from /proc/self/status itself.
"""
import argparse
import json
import os
import re
import subprocess
import sys

OBJECTIVES = "erm,augment,consistency,fgm,pgd,freeat,freelb,smart"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sturdy", default="build-perf/src/apps/sturdy")
    ap.add_argument("--objectives", default=OBJECTIVES)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--rss-every", type=int, default=200)
    ap.add_argument("--model", default="", help="extra `sturdy bench train` options")
    a = ap.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    print(f"# sturdy bench train --steps {a.steps} --rss-every {a.rss_every} {a.model} | load {os.getloadavg()[0]:.2f}")
    print("| objective | peak RSS (MB) | RSS at step %d (MB) | RSS at step %d (MB) | growth (MB) | ms/step |"
          % (a.rss_every, a.steps))
    print("|---|---:|---:|---:|---:|---:|")
    worst = 0.0
    for o in a.objectives.split(","):
        cmd = [a.sturdy, "bench", "train", "--objective", o, "--steps", str(a.steps), "--warmup", "0",
               "--rss-every", str(a.rss_every)] + a.model.split()
        out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if out.returncode != 0:
            raise SystemExit(f"failed: {' '.join(cmd)}\n{out.stderr[-2000:]}")
        samples = [float(m.group(1)) for m in re.finditer(r"# rss step \d+: ([0-9.]+) MB", out.stdout)]
        r = json.loads([l for l in out.stdout.splitlines() if l.startswith("{")][-1])
        growth = samples[-1] - samples[0]
        worst = max(worst, growth)
        print(f"| {o} | {r['max_rss_mb']:.1f} | {samples[0]:.1f} | {samples[-1]:.1f} | {growth:+.1f} | "
              f"{r['ms_per_step']:.1f} |", flush=True)
    print(f"# largest growth {worst:+.1f} MB | load {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

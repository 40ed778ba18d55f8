"""The trainer's numerical guard through the real binary (docs/reliability.md), with test-only
faults injected by STURDY_TEST_NUMERIC=RANK:KIND:STEP[:COUNT] (src/train/trainer.cpp).

    numeric_guard.py path/to/sturdy WORKDIR

1. One NaN gradient at step 3 on 1 rank: the step is skipped with a warning naming it, the run
   finishes (exit 0), train_summary.json counts 1 skipped step, every parameter is finite.
2. NaN gradients on rank 1 only (after the all-reduce, so rank 0's gradients are fine) at steps
   3-4 of a 2-rank run with dist.check_every=1: both ranks skip both steps (rank 0 says so), and
   the per-step parameter-agreement check passes, i.e. no rank stepped alone.
3. An infinite loss at every step from 5 on, guard.max_bad_steps=3, checkpoints every 2 steps:
   exit 3 after step 7 with one error line naming the steps and the last checkpoint, which is
   intact (sha256 of state.json) and holds finite parameters equal to step 4's.
4. A loss spike (x1000) at step 15 with guard.spike_zscore=4: skipped; with the spike guard off
   (the default) the same spike is trained on (0 skipped)."""
import hashlib
import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

from common import mpirun_prefix, write_toy_tsv

sturdy, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
os.chdir(work)

CONFIG = """
run: {{name: guard, output_dir: runs/x, seed: 1}}
data: {{train: {corpus}, max_length: 16, micro_batch: 4, global_batch: 8}}
model: {{dim: 16, layers: 1, heads: 2, kv_heads: 2, ffn: 32, dropout: 0.0}}
optim: {{lr: 1.0e-3, warmup: 0, epochs: 5, max_steps: 8}}
checkpoint: {{every_steps: 0, keep: 5, resume: never}}
log: {{every_steps: 1}}
"""
write_toy_tsv("toy.tsv", 200)
subprocess.run([sturdy, "prepare", "--input", "toy.tsv", "--output", "toy.h5"], check=True, stdout=subprocess.DEVNULL)
with open("guard.yaml", "w") as f:
    f.write(CONFIG.format(corpus=os.path.abspath("toy.h5")))


def train(out, sets=(), fault=None, ranks=1):
    cmd = (mpirun_prefix(ranks) if ranks > 1 else []) + [sturdy, "train", "--config", "guard.yaml",
                                                         "--set", f"run.output_dir={out}"]
    for s in sets:
        cmd += ["--set", s]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if fault:
        env["STURDY_TEST_NUMERIC"] = fault
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    print("+", " ".join(cmd), f"(STURDY_TEST_NUMERIC={fault})", f"-> exit {p.returncode}", flush=True)
    return p


def params(ckpt_dir):
    with h5py.File(os.path.join(ckpt_dir, "model.h5"), "r") as f:
        return {k: np.array(f[k]) for k in f.keys()}


def summary(out):
    return json.load(open(os.path.join(out, "train_summary.json")))


failures = []


def check(name, ok, detail=""):
    print(f"{name}: {'ok' if ok else 'FAIL'} {detail}", flush=True)
    if not ok:
        failures.append(name)


# 1. one NaN gradient
p = train("runs/one", fault="0:grad:3")
warned = "step 3: NaN/Inf loss or gradient on 1 rank(s): optimizer step skipped" in p.stderr
finite = all(np.isfinite(v).all() for v in params("runs/one/checkpoints/step_00000008").values())
check("1 rank, NaN gradient at step 3", p.returncode == 0 and warned and summary("runs/one")["skipped_steps"] == 1
      and finite, f"(exit {p.returncode}, warned {warned}, finite {finite})")
if p.returncode != 0:
    print(p.stderr[-3000:])

# 2. two ranks, only rank 1 sees the NaN
p = train("runs/two", sets=["dist.check_every=1"], fault="1:grad:3:2", ranks=2)
skips = [l for l in p.stderr.splitlines() if "optimizer step skipped on every rank" in l]
rank1 = "rank 1: step 3: non-finite gradient" in p.stderr
check("2 ranks, NaN on rank 1 only at steps 3-4", p.returncode == 0 and len(skips) == 2 and rank1
      and summary("runs/two")["skipped_steps"] == 2, f"(exit {p.returncode}, {len(skips)} skip lines, rank 1 named {rank1})")
if p.returncode != 0:
    print(p.stderr[-3000:])

# 3. NaN/Inf at every step from 5: stop with exit 3, the last checkpoint intact
p = train("runs/stop", sets=["guard.max_bad_steps=3", "checkpoint.every_steps=2"], fault="0:loss:5:100")
errors = sorted(set(l.split("error:", 1)[1].strip() for l in p.stderr.splitlines() if "error:" in l))
latest = open("runs/stop/checkpoints/latest").read().strip()
state = json.load(open(f"runs/stop/checkpoints/{latest}/state.json"))
intact = all(hashlib.sha256(open(f"runs/stop/checkpoints/{latest}/{f}", "rb").read()).hexdigest() == state["sha256"][f]
             for f in ("model.h5", "optimizer.h5"))
last = params(f"runs/stop/checkpoints/{latest}")
step4 = params("runs/stop/checkpoints/step_00000004")
same = all(np.array_equal(last[k], step4[k]) and np.isfinite(last[k]).all() for k in last)
named = len(errors) == 1 and "step 7: 3 consecutive steps skipped" in errors[0] and latest in errors[0]
check("Inf loss from step 5, guard.max_bad_steps=3", p.returncode == 3 and named and intact and same
      and latest == "step_00000006", f"(exit {p.returncode}, errors {errors}, latest {latest}, intact {intact}, "
                                     f"unchanged since step 4 {same})")

# 4. loss spike: skipped with the guard on, trained on with it off (default)
p = train("runs/spike", sets=["optim.max_steps=20", "guard.spike_zscore=4"], fault="0:spike:15")
warned = "step 15: loss" in p.stderr and "is a spike" in p.stderr
check("loss spike at step 15, guard.spike_zscore=4", p.returncode == 0 and warned
      and summary("runs/spike")["skipped_steps"] == 1, f"(exit {p.returncode}, warned {warned})")
p = train("runs/nospike", sets=["optim.max_steps=20"], fault="0:spike:15")
check("loss spike at step 15, guard off", p.returncode == 0 and summary("runs/nospike")["skipped_steps"] == 0
      and "is a spike" not in p.stderr, f"(exit {p.returncode})")

sys.exit(1 if failures else 0)

"""Sturdy's AdamW against torch.optim.AdamW (optimizer_dump.cpp writes the steps).

Replays the same gradients and per-step learning rates through torch.optim.AdamW in float32,
with two parameter groups as Sturdy decays them (matrices with optim.weight_decay, vectors
without), and compares the parameters after every step and both moments after the last:
max |sturdy - torch| / max(1, |torch|) must stay below TOL. It also checks that the test can
tell: the parameters moved far more than TOL, and decaying the bias too (a plausible bug)
would have moved it by more than 100 x TOL.

usage: optimizer_crosscheck.py DUMP.h5 DUMP.json"""
import json
import sys

import h5py
import torch

TOL = 1e-6  # float32: a few ulps of values of order 1 over 5 steps

path, meta_path = sys.argv[1], sys.argv[2]
meta = json.load(open(meta_path))
with h5py.File(path, "r") as f:
    d = {k: torch.from_numpy(f[k][()]) for k in f.keys()}
names = ["w", "b"]
lrs = meta["lrs"]


def replay(decay_all):
    params = {n: d[f"initial.{n}"].clone().requires_grad_(True) for n in names}
    groups = [{"params": [params[n]], "weight_decay": meta["weight_decay"] if (params[n].dim() >= 2 or decay_all)
               else 0.0} for n in names]
    opt = torch.optim.AdamW(groups, lr=lrs[0], betas=(meta["beta1"], meta["beta2"]), eps=meta["eps"],
                            foreach=False)
    after = []
    for s, lr in enumerate(lrs):
        for n in names:
            params[n].grad = d[f"grad.{s}.{n}"].clone()
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        after.append({n: params[n].detach().clone() for n in names})
    return params, opt, after


def rel(a, b):
    return float(((a.double() - b.double()).abs() / b.double().abs().clamp(min=1.0)).max())


params, opt, after = replay(decay_all=False)
failures = 0
worst = 0.0
for s in range(len(lrs)):
    for n in names:
        e = rel(d[f"after.{s}.{n}"], after[s][n])
        worst = max(worst, e)
        if e > TOL:
            print(f"FAIL: step {s} parameter {n}: relative difference {e:.3e} > {TOL}")
            failures += 1
for n in names:
    st = opt.state[params[n]]
    if int(st["step"]) != meta["step_count"]:
        print(f"FAIL: torch counted {int(st['step'])} steps, Sturdy {meta['step_count']}")
        failures += 1
    for mine, theirs in (("exp_avg", "exp_avg"), ("exp_avg_sq", "exp_avg_sq")):
        e = rel(d[f"state.{n}.{mine}"], st[theirs])
        worst = max(worst, e)
        if e > TOL:
            print(f"FAIL: {n}.{mine}: relative difference {e:.3e} > {TOL}")
            failures += 1
moved = min(float((after[-1][n] - d[f"initial.{n}"]).abs().max()) for n in names)
_, _, decayed = replay(decay_all=True)
bias_gap = rel(decayed[-1]["b"], after[-1]["b"])
print(f"{len(lrs)} AdamW steps (betas {meta['beta1']}, {meta['beta2']}, eps {meta['eps']}, weight decay "
      f"{meta['weight_decay']} on matrices only): max relative |sturdy - torch| {worst:.3e} (tolerance {TOL}); "
      f"parameters moved >= {moved:.3e}; decaying the bias too would differ by {bias_gap:.3e}")
if moved < 1000 * TOL or bias_gap < 100 * TOL:
    print("FAIL: the steps are too small for the comparison to tell a wrong update from a right one")
    failures += 1
sys.exit(1 if failures else 0)

"""Exact resume for every objective (issue 17): erm, augment, consistency, fgm, pgd, freeat,
freelb, smart and attack_augment, each with text augmentation (augment.recipe/probability) and subword sampling
(augment.subword_alpha, a unigram sentencepiece model trained here) on and dropout on. For each:
an uninterrupted run of STEPS steps, and a run preempted after step STOP (STURDY_TEST_PREEMPT_AT:
rank 0 sends itself SIGUSR1, so it stops through the real signal path at a fixed step) and then
started again with the same command. The final model.h5, optimizer.h5 and objective.h5 must be
bitwise equal. The resumed part crosses an epoch boundary. FreeAT keeps its perturbation delta
across batches (objective.h5, one entry per rank), so it also runs on 2 ranks, and a FreeAT
checkpoint whose objective.h5 was removed must be refused (exit 2, one line naming the file).

usage: resume_objectives.py STURDY WORK_DIR [KIND...]   (KIND: only these objectives)"""
import json
import os
import shutil
import sys
import time

import h5py

from common import mpirun_prefix, run, write_toy_tsv

sturdy, work = os.path.abspath(sys.argv[1]), sys.argv[2]
STEPS, STOP = 8, 3
OBJECTIVES = ["erm", "augment", "consistency", "fgm", "pgd", "freeat", "freelb", "smart", "attack_augment"]
STATEFUL = {"freeat"}  # objectives that must write objective.h5

t_start = time.time()
os.makedirs(work, exist_ok=True)
os.chdir(work)
shutil.rmtree("runs", ignore_errors=True)  # never resume an earlier invocation's checkpoints
# 40 training examples, global batch 8: 5 steps per epoch, so steps 6..8 are in epoch 1.
# The tokenizer learns from a larger corpus of the same kind.
write_toy_tsv("toy.tsv", 40, seed=1)
write_toy_tsv("tok.tsv", 400, seed=2)
run([sturdy, "prepare", "--input", "toy.tsv", "--output", "toy.h5"])
run([sturdy, "prepare", "--input", "tok.tsv", "--output", "tok.h5"])
run([sturdy, "tokenizer", "train", "--corpus", "tok.h5", "--vocab-size", "48", "--output", "sp.model"])
with open("resume.yaml", "w") as f:
    f.write(f"""
data: {{train: {os.path.abspath('toy.h5')}, max_length: 32, micro_batch: 4, global_batch: 8}}
tokenizer: {{kind: sentencepiece, path: {os.path.abspath('sp.model')}}}
model: {{dim: 32, layers: 1, heads: 2, kv_heads: 1, ffn: 64, dropout: 0.1}}
augment: {{recipe: typos, probability: 0.5, subword_alpha: 0.5, subword_nbest: 8}}
objective: {{steps: 2, replays: 2, fraction: 0.5, epsilon: 0.2}}
optim: {{lr: 3.0e-3, warmup: 2, epochs: 2, max_steps: {STEPS}}}
checkpoint: {{every_steps: 0, keep: 2, resume: auto}}
log: {{every_steps: 1}}
""")


def train(kind, out, ranks, env=None, check=True):
    cmd = (mpirun_prefix(ranks) if ranks > 1 else []) + [
        sturdy, "train", "--config", "resume.yaml", "--set", f"objective.kind={kind}",
        "--set", f"run.output_dir={out}"]
    return run(cmd, env=env, check=check)


def datasets(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f.keys()}


def compare(a_dir, b_dir, file):
    """'' when every dataset of `file` is bitwise equal in both folders, else what differs."""
    a, b = datasets(os.path.join(a_dir, file)), datasets(os.path.join(b_dir, file))
    if a.keys() != b.keys():
        return f"{file}: dataset names differ: {sorted(set(a) ^ set(b))}"
    for k in sorted(a):
        if a[k].shape != b[k].shape:
            return f"{file}: {k}: shape {a[k].shape} vs {b[k].shape}"
        if a[k].tobytes() != b[k].tobytes():
            return f"{file}: {k}: max |diff| {abs(a[k].astype('f8') - b[k].astype('f8')).max():.3e}"
    return ""


def final(out):
    return os.path.join(out, "checkpoints", f"step_{STEPS:08d}")


# A FreeAT checkpoint without its delta (objective.h5 removed, also from state.json's sha256,
# as a checkpoint of an older Sturdy looks) is refused with one line naming the file, exit 2.
def refuse_freeat_without_objective_h5():
    src = os.path.join("runs/freeat_r1_preempted/checkpoints", f"step_{STOP:08d}")
    old = "runs/freeat_old"
    os.makedirs(os.path.join(old, "checkpoints"))
    shutil.copytree(src, os.path.join(old, "checkpoints", f"step_{STOP:08d}"))
    ckpt = os.path.join(old, "checkpoints", f"step_{STOP:08d}")
    os.remove(os.path.join(ckpt, "objective.h5"))
    state = json.load(open(os.path.join(ckpt, "state.json")))
    del state["sha256"]["objective.h5"]
    json.dump(state, open(os.path.join(ckpt, "state.json"), "w"))
    open(os.path.join(old, "checkpoints", "latest"), "w").write(f"step_{STOP:08d}\n")
    p = train("freeat", old, 1, check=False)
    errors = sorted({l for l in p.stdout.splitlines() if "error:" in l})
    named = len(errors) == 1 and f"{ckpt}/objective.h5: missing" in errors[0] and "freeat" in errors[0]
    untouched = sorted(os.listdir(os.path.join(old, "checkpoints"))) == ["latest", f"step_{STOP:08d}"]
    ok = p.returncode == 2 and named and untouched
    print(f"== freeat checkpoint without objective.h5: exit {p.returncode}, error lines {errors} -> "
          f"{'ok' if ok else 'FAIL'}", flush=True)
    return ok


failures = []
only = sys.argv[3:] or OBJECTIVES
cases = [(kind, 1) for kind in OBJECTIVES if kind in only] + [("freeat", 2)] * ("freeat" in only)
for kind, ranks in cases:
    t0 = time.time()
    ref, out = f"runs/{kind}_r{ranks}_straight", f"runs/{kind}_r{ranks}_preempted"
    train(kind, ref, ranks)
    p = train(kind, out, ranks, env={"STURDY_TEST_PREEMPT_AT": str(STOP)})
    latest = open(os.path.join(out, "checkpoints", "latest")).read().strip()
    stopped = "preempted (SIGUSR1 received)" in p.stdout and latest == f"step_{STOP:08d}"
    stop_dir = os.path.join(out, "checkpoints", latest)
    sha = json.load(open(os.path.join(stop_dir, "state.json")))["sha256"]
    has_objective = "objective.h5" in sha and os.path.exists(os.path.join(stop_dir, "objective.h5"))
    expected_names = {f"delta.rank{r}" for r in range(ranks)} if kind in STATEFUL else set()
    names = set(datasets(os.path.join(stop_dir, "objective.h5"))) if has_objective else set()
    p = train(kind, out, ranks)
    resumed = f"resumed from {stop_dir}" in p.stdout or f"resumed from {os.path.abspath(stop_dir)}" in p.stdout
    diffs = [d for d in (compare(final(ref), final(out), f) for f in ("model.h5", "optimizer.h5")) if d]
    if kind in STATEFUL:
        diffs += [d for d in [compare(final(ref), final(out), "objective.h5")] if d]
    problems = []
    if not stopped:
        problems.append(f"the first run did not stop at step {STOP} (latest {latest})")
    if has_objective != (kind in STATEFUL) or names != expected_names:
        problems.append(f"objective.h5 in the checkpoint: {has_objective}, datasets {sorted(names)}, "
                        f"expected {sorted(expected_names)}")
    if not resumed:
        problems.append("the second run did not say it resumed from the step checkpoint")
    problems += diffs
    verdict = "ok" if not problems else "FAIL: " + "; ".join(problems)
    print(f"== {kind} on {ranks} rank(s): stopped at {STOP}, resumed to {STEPS}: model, optimizer"
          f"{', objective' if kind in STATEFUL else ''} bitwise equal -> {verdict} ({time.time() - t0:.1f} s)",
          flush=True)
    if problems:
        failures.append(f"{kind}/{ranks}")

checks = len(cases)
if "freeat" in only:
    checks += 1
    if not refuse_freeat_without_objective_h5():
        failures.append("freeat without objective.h5")
print(f"{checks - len(failures)}/{checks} cases ok in {time.time() - t_start:.1f} s", flush=True)
if failures:
    sys.exit("FAILED: " + ", ".join(failures))

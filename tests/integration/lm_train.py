"""Training a language-model head (issue 9, item 3) through the real binary:

- data parallel: 2 ranks x micro-batch b give the parameters of 1 rank x 2b after two
  consistency steps with a typo'd prompt view (the view is keyed by example id, never by
  rank), also with length bucketing (data.bucket_window), within DP_TOL (see there);
- a short run lowers the continuation loss, and `sturdy eval` on it reports perplexity far
  below the untrained model's and next-token agreement under typos;
- `model.head: lm` without `causal: true` is refused before the run folder is touched.

usage: lm_train.py STURDY WORK_DIR"""
import json
import os
import random
import shutil
import sys

from common import max_param_diff, mpirun_prefix, run

sturdy, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
os.chdir(work)

# "<colour> <fruit> is on the <place> , the <colour> <fruit> ..." : the continuation repeats
# words of the prompt, so the context matters.
rng = random.Random(3)
colours, fruits, places = ["red", "green", "blue", "pink"], ["apple", "pear", "plum", "fig"], ["table", "shelf", "floor"]
with open("lm.txt", "w") as f:
    for _ in range(240):
        c, fr, p = rng.choice(colours), rng.choice(fruits), rng.choice(places)
        f.write(f"the {c} {fr} is on the {p} and the {c} {fr} stays on the {p}\n")
run([sturdy, "prepare", "--format", "text", "--input", "lm.txt", "--output", "lm.h5"])
run([sturdy, "prepare", "--format", "text", "--input", "lm.txt", "--output", "dev.h5"])
with open("lm.yaml", "w") as f:
    f.write("""
data: {train: lm.h5, valid: dev.h5, max_length: 96, micro_batch: 8, global_batch: 16, prompt_fraction: 0.5}
model: {dim: 32, layers: 2, heads: 4, kv_heads: 2, ffn: 64, dropout: 0.0, causal: true, head: lm}
objective: {kind: consistency, lambda: 1.0}
augment: {recipe: typos}
optim: {lr: 3.0e-3, warmup: 0, max_steps: 2}
checkpoint: {every_steps: 0, resume: never}
log: {every_steps: 1}
""")

# Largest |parameter difference| allowed between 1 rank x 16 and 2 ranks x 8. The two sum the
# gradients in another order, and AdamW's first steps divide each gradient by its own size
# (m/sqrt(v)), which turns rounding differences of near-zero gradients into visible ones.
# Measured 2026-12-04 (OMP_NUM_THREADS=1, constant lr): 3.3e-6 without bucketing, 5.8e-7 with
# bucket_window 4; with the linear schedule (one real step) 1.7e-6 and 2.9e-7, and the 1-rank
# run alone then moves by 2.2e-6 when OMP_NUM_THREADS goes from 1 to 2.
DP_TOL = 1e-5

failures = 0
for bucket in ["0", "4"]:
    cases = {"one_rank_2b": ([], "16"), "two_ranks_b": (mpirun_prefix(2), "8")}
    for name, (prefix, micro) in cases.items():
        # A constant learning rate: with the linear schedule's decay to 0 the second step would not move.
        run(prefix + [sturdy, "train", "--config", "lm.yaml", "--set", f"run.output_dir=runs/{name}{bucket}",
                      "--set", f"data.micro_batch={micro}", "--set", f"data.bucket_window={bucket}",
                      "--set", "optim.schedule=constant"])
    d, where = max_param_diff(f"runs/one_rank_2b{bucket}/checkpoints/step_00000002",
                              f"runs/two_ranks_b{bucket}/checkpoints/step_00000002")
    print(f"bucket_window {bucket}: 1 rank x 16 vs 2 ranks x 8: max |diff| {d:.3g} ({where}), tolerance {DP_TOL}")
    if d > DP_TOL:
        print(f"FAIL: LM consistency differs between 1 and 2 ranks (bucket_window {bucket})")
        failures += 1
# Bucketing changes the order, so its parameters must differ from the plain order's.
d, _ = max_param_diff("runs/one_rank_2b0/checkpoints/step_00000002", "runs/one_rank_2b4/checkpoints/step_00000002")
if d < 1e-6:
    print("FAIL: data.bucket_window 4 gave the same batches as no bucketing")
    failures += 1

# A short run learns; eval reports LM metrics.
run([sturdy, "train", "--config", "lm.yaml", "--set", "run.output_dir=runs/learn", "--set", "objective.kind=erm",
     "--set", "optim.max_steps=80", "--set", "optim.epochs=10", "--set", "log.every_steps=10"])
losses = [json.loads(l)["loss"] for l in open("runs/learn/metrics.jsonl") if '"loss"' in l]
print("loss every 10 steps:", [round(x, 3) for x in losses])
if not losses[-1] < 0.5 * losses[0]:
    print(f"FAIL: LM loss {losses[0]:.3f} -> {losses[-1]:.3f}, expected to halve")
    failures += 1
with open("suite.yaml", "w") as f:
    f.write("name: lm_small\nseed: 1\nk: 2\nbatch_size: 32\nperturbations:\n  - {recipe: typos, rates: [1.0]}\n"
            "worst_case: {recipe: typos, k: 2}\nattacks: []\nlm: {prompt_fraction: 0.5}\n")
run([sturdy, "eval", "--checkpoint", "runs/learn", "--suite", "suite.yaml", "--output", "R.json"])
r = json.load(open("R.json"))
ppl = r["clean"]["perplexity"]
agree = r["perturbations"][0]["top1_agreement"]
print(f"clean perplexity {ppl:.3f}, top-1 agreement under typos {agree:.3f}, head {r['head']}")
if r["head"] != "lm" or not (1.0 <= ppl < 20.0) or not (0.0 <= agree <= 1.0) or r["clean"]["scored_examples"] != 240:
    print("FAIL: LM eval report out of range (an untrained byte model has perplexity near 260)")
    failures += 1

# Refused: an LM head on a bidirectional model.
os.makedirs("runs/keep")
open("runs/keep/config.yaml", "w").write("earlier run\n")
p = run([sturdy, "train", "--config", "lm.yaml", "--set", "run.output_dir=runs/keep", "--set", "model.causal=false"],
        check=False)
if p.returncode != 2 or "model.causal" not in p.stdout or open("runs/keep/config.yaml").read() != "earlier run\n":
    print(f"FAIL: head lm with causal false: exit {p.returncode}, expected 2 naming model.causal, folder untouched")
    failures += 1
sys.exit(1 if failures else 0)

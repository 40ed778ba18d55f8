"""Data-parallel equivalence: two optimizer steps on 2 ranks x micro-batch b gives the same
parameters as one step on 1 rank x 2b, and as 1 rank with 2 accumulation micro-steps of b
(fp32, dropout off; tolerance 1e-5)."""
import os
import sys

from common import max_param_diff, mpirun_prefix, run, write_toy_tsv

sturdy, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
os.chdir(work)
write_toy_tsv("toy.tsv", 200)
run([sturdy, "prepare", "--input", "toy.tsv", "--output", "toy.h5"])
with open("toy.yaml", "w") as f:
    f.write("""
data: {train: toy.h5, max_length: 48, micro_batch: 8, global_batch: 16}
model: {dim: 32, layers: 2, heads: 4, kv_heads: 2, ffn: 64, dropout: 0.0}
optim: {lr: 1.0e-3, warmup: 0, max_steps: 2}
checkpoint: {every_steps: 0, resume: never}
log: {every_steps: 1}
""")
b = 8
cases = {
    "one_rank_2b": ([], [f"data.micro_batch={2 * b}"]),
    "two_ranks_b": (mpirun_prefix(2), [f"data.micro_batch={b}"]),
    "one_rank_accum": ([], [f"data.micro_batch={b}"]),  # 2 accumulation micro-steps
    "three_ranks": (mpirun_prefix(3), ["data.micro_batch=2", "data.global_batch=18"]),
    "one_rank_18": ([], ["data.micro_batch=18", "data.global_batch=18"]),
}
for name, (prefix, sets) in cases.items():
    cmd = prefix + [sturdy, "train", "--config", "toy.yaml", "--set", f"run.output_dir=runs/{name}"]
    for s in sets:
        cmd += ["--set", s]
    run(cmd)

ref = "runs/one_rank_2b/checkpoints/step_00000002"
failures = 0
for other, base in [("two_ranks_b", ref), ("one_rank_accum", ref),
                    ("three_ranks", "runs/one_rank_18/checkpoints/step_00000002")]:
    d, where = max_param_diff(base, f"runs/{other}/checkpoints/step_00000002")
    ok = d <= 1e-5
    failures += not ok
    print(f"{other} vs {os.path.basename(os.path.dirname(os.path.dirname(base)))}: max |diff| {d:.3e} "
          f"at {where} -> {'ok' if ok else 'FAIL'}")
sys.exit(1 if failures else 0)

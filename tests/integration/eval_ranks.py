"""Rank-count and batch-size invariance of `sturdy eval`: the same checkpoint evaluated on 1, 2
and 3 ranks, and with other batch sizes and token budgets, gives identical R.json numbers (everything except the timing fields under "cost"), through the
real binary under mpirun. Also checks the strict suite loader's exit code and message, and that
`sturdy report` renders the results (Markdown always; PNGs when matplotlib is available)."""
import json
import os
import sys

from common import mpirun_prefix, run, write_toy_tsv

sturdy, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
os.chdir(work)
write_toy_tsv("train.tsv", 300, seed=1)
write_toy_tsv("dev.tsv", 61, seed=2)   # 61 examples, batch 8: 8 batches, uneven over 3 ranks
write_toy_tsv("extra.tsv", 23, seed=3)
run([sturdy, "prepare", "--input", "train.tsv", "--output", "train.h5"])
run([sturdy, "prepare", "--input", "dev.tsv", "--output", "dev.h5"])
with open("toy.yaml", "w") as f:
    f.write("""
run: {name: toy-eval, output_dir: runs/toy}
data: {train: train.h5, valid: dev.h5, max_length: 48, micro_batch: 16, global_batch: 16}
model: {dim: 32, layers: 1, heads: 2, kv_heads: 2, ffn: 64, dropout: 0.0}
optim: {lr: 1.0e-2, warmup: 0, max_steps: 15}
checkpoint: {every_steps: 0, resume: never}
log: {every_steps: 5}
""")
with open("suite.yaml", "w") as f:
    f.write("""
name: ranks
seed: 5
k: 3
batch_size: 8
perturbations:
  - {op: keyboard, rates: [0.1, 0.3]}
  - {op: synonym, rates: [0.3]}
  - {recipe: typos, rates: [2.0]}
worst_case: {recipe: mixed, k: 3}
attacks:
  - {kind: pgd, norm: l2, epsilons: [0.5, 2.0], steps: 4, init: uniform, init_magnitude: 0.1}
  - {kind: pgd, norm: linf, epsilons: [0.05], steps: 3, scope: token}
  - {kind: pgd, norm: l2, epsilons_relative: [0.3], steps: 3}
  - {kind: char_search, max_word_share: 0.3, max_queries: 80}
  - {kind: word_search, ops: [misspell, synonym], max_queries: 60}
extra_sets:
  - {name: extra, path: extra.tsv}
""")
run([sturdy, "train", "--config", "toy.yaml"])

# (ranks, extra eval arguments): the suite's batches of 8, then batches of 3 and batches
# cut by a 40-token budget, on other rank counts.
setups = {"1": (1, []), "2": (2, []), "3": (3, []),
          "1-b3": (1, ["--batch-size", "3"]), "2-t40": (2, ["--batch-size", "64", "--batch-tokens", "40"])}
results = {}
for name, (n, extra) in setups.items():
    out = f"r{name}.json"
    run((mpirun_prefix(n) if n > 1 else []) +
        [sturdy, "eval", "--checkpoint", "runs/toy", "--suite", "suite.yaml", "--output", out,
         "--dump-adversarial", f"adv{name}.jsonl"] + extra)
    with open(out) as f:
        results[name] = json.load(f)
results[1] = results["1"]


def without_timing(r):
    # Timings, and the work counts of the text passes (how many sequences each rank could
    # reuse depends on the sharding), are not results.
    r = dict(r)
    r["cost"] = {k: v for k, v in r["cost"].items()
                 if not k.endswith("seconds") and "per_second" not in k and not k.startswith("eval_")}
    r["attacks"] = [{k: v for k, v in a.items() if k not in ("seconds", "examples_per_second")}
                    for a in r["attacks"]]
    return json.dumps(r, sort_keys=True)


failures = 0
for n in ("2", "3", "1-b3", "2-t40"):
    same = without_timing(results[n]) == without_timing(results[1])
    failures += not same
    print(f"{n} vs 1 rank: {'identical' if same else 'DIFFERENT'}")
    if not same:
        a, b = json.loads(without_timing(results[1])), json.loads(without_timing(results[n]))
        for key in a:
            if a[key] != b.get(key):
                print(f"  {key}: {a[key]} != {b.get(key)}")

# The search attacks' adversarial texts: the same bytes for every rank count and batch size.
with open("adv1.jsonl") as f:
    adv = f.read()
for n in ("2", "3", "1-b3", "2-t40"):
    with open(f"adv{n}.jsonl") as f:
        same = f.read() == adv
    failures += not same
    print(f"adversarial dump {n} vs 1 rank: {'identical' if same else 'DIFFERENT'}")

# The results must be real measurements, not placeholders.
r = results[1]
checks = [
    (r["num_examples"] == 61, "num_examples == 61"),
    (len(r["perturbations"]) == 4, "4 perturbation entries"),
    (r["clean"]["accuracy"] > 0.5, f"trained model beats chance ({r['clean']['accuracy']:.3f})"),
    (len(r["attacks"]) == 6 and r["extra_sets"][0]["num_examples"] == 23, "attacks and extra set present"),
    ([a["kind"] for a in r["attacks"][4:]] == ["char_search", "word_search"] and
     all(a["mean_queries"] <= a["max_queries"] and a["mean_words_changed"] <= 0.3 + 1e-12 for a in r["attacks"][4:]),
     "search attacks within their budgets"),
    (r["attacks"][4]["successes"] == len([l for l in adv.splitlines() if '"char_search"' in l]) and
     r["attacks"][4]["successes"] > 0, "every char_search success dumped"),
    (r["attacks"][3]["epsilon_relative"] == 0.3 and
     abs(r["attacks"][3]["epsilon"] - 0.3 * r["attack_scale"]["mean_example_embedding_norm"]) < 1e-12 and
     r["attacks"][0]["epsilon_relative"] is None, "relative epsilon = 0.3 x mean example embedding norm"),
    (all(0 <= p["worst_case_accuracy"] <= p["accuracy"] for p in r["perturbations"]), "worst-case <= mean"),
]
for ok, what in checks:
    failures += not ok
    print(f"{what}: {'ok' if ok else 'FAIL'}")

# The dump feeds `sturdy prepare` (text and label fields of JSONL) as a corpus.
p = run([sturdy, "prepare", "--input", "adv1.jsonl", "--output", "adv.h5"], check=False)
ok = p.returncode == 0 and os.path.exists("adv.h5")
failures += not ok
print(f"prepare reads the adversarial dump: {'ok' if ok else 'FAIL'} {p.stdout.strip().splitlines()[-1:]}")

# Strict suite loading through the binary: exit 2, file and closest key named.
with open("bad.yaml", "w") as f:
    f.write("k: 2\nworst_cas: {recipe: mixed}\n")
p = run([sturdy, "eval", "--checkpoint", "runs/toy", "--suite", "bad.yaml"], check=False)
ok = p.returncode == 2 and "bad.yaml" in p.stdout and "did you mean 'worst_case'" in p.stdout
failures += not ok
print(f"bad suite -> exit {p.returncode}: {'ok' if ok else 'FAIL'}")

# The report renders from the results.
p = run([sturdy, "report", "r1.json", "r2.json", "--output", "report"], check=False)
ok = p.returncode == 0 and os.path.exists("report/report.md")
failures += not ok
print(f"report: {'ok' if ok else 'FAIL'}; files: {sorted(os.listdir('report')) if os.path.isdir('report') else []}")
sys.exit(1 if failures else 0)

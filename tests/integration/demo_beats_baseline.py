"""The demo path end to end on a smaller WordNet corpus: prepare -> train on 2 ranks -> eval.
The trained model must clearly beat the majority-class baseline on held-out glosses.
Exits 77 (CTest: skipped) when WordNet is not installed."""
import json
import os
import shutil
import sys

from common import mpirun_prefix, run

sturdy, source_dir, work = sys.argv[1], sys.argv[2], sys.argv[3]
if not os.path.exists("/usr/share/wordnet/data.noun"):
    print("SKIP: /usr/share/wordnet is absent (Debian package wordnet-base; scripts/install-deps.sh installs it)")
    sys.exit(77)
shutil.rmtree(work, ignore_errors=True)  # metrics.jsonl appends: start clean
os.makedirs(work)
os.chdir(work)
run([sturdy, "prepare", "--format", "wordnet", "--input", "/usr/share/wordnet", "--max-per-class", "500",
     "--output", "wn-train.h5", "--valid-output", "wn-valid.h5", "--valid-fraction", "0.15"])
run(mpirun_prefix(2) + [sturdy, "train", "--config", os.path.join(source_dir, "configs/demo/wordnet.yaml"),
                        "--set", "data.train=wn-train.h5", "--set", "data.valid=wn-valid.h5",
                        "--set", "run.output_dir=run", "--set", "optim.epochs=3",
                        "--set", "checkpoint.every_steps=0", "--set", "log.every_steps=25",
                        "--set", "eval.every_steps=50"])
run(mpirun_prefix(2) + [sturdy, "eval", "--checkpoint", "run", "--suite", "demo", "--output", "R.json"])
r = json.load(open("R.json"))
acc, base = r["clean"]["accuracy"], r["clean"]["majority_baseline"]
print(f"clean accuracy {acc:.4f}, majority baseline {base:.4f}, {r['num_examples']} examples")
assert r["num_examples"] > 500, r["num_examples"]
# The demo suite's headline rows, and PGD radii relative to the embedding scale.
assert any(p["name"] == "typos" and p["kind"] == "recipe" and p["rate"] == 1.0 for p in r["perturbations"])
assert r["worst_case"]["recipe"] == "mixed", r["worst_case"]
assert r["attacks"] and all(a["epsilon_relative"] is not None for a in r["attacks"]), r["attacks"]
assert acc > base + 0.15, f"accuracy {acc:.4f} does not clearly beat the majority baseline {base:.4f}"
# Periodic evaluation (eval.every_steps) writes its results into the metrics log.
records = [json.loads(line) for line in open("run/metrics.jsonl")]
evals = [r for r in records if "eval" in r]
assert [r["step"] for r in evals] == [50, 100, 150], [r["step"] for r in evals]
assert 0.0 < evals[-1]["eval"]["clean"]["accuracy"] <= 1.0, evals[-1]
print(f"periodic eval at steps {[r['step'] for r in evals]}: clean accuracy "
      f"{[round(r['eval']['clean']['accuracy'], 3) for r in evals]}")

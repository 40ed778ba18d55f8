"""Robustness gates through the real binary (docs/evaluation.md, "Gate"):

  * `sturdy gate` on a hand-written R.json: a passing gate exits 0, a failing one exits 1 and
    prints the failing line; the gate section is written into R.json (or --output) and replaces an
    earlier one; relative criteria against --baseline; `sturdy report` shows the gate table;
  * `sturdy eval --gate` on a tiny trained model: exit 0 / 1 with R.json and its gate section
    written, the same exit code from every rank under mpirun -np 2, a relative gate against the
    first result as baseline, and a gate typo failing with exit 2 before any model work.

    gate.py path/to/sturdy WORKDIR"""
import json
import os
import shutil
import sys
import time

from common import mpirun_prefix, run, write_toy_tsv

sturdy, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
os.chdir(work)
failures = []


def check(ok, what):
    print(f"{what}: {'ok' if ok else 'FAIL'}", flush=True)
    if not ok:
        failures.append(what)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def load(path):
    with open(path) as f:
        return json.load(f)


# --- sturdy gate on a hand-written R.json ---------------------------------------------------------
R = {
    "run_name": "toy", "suite": "standard", "seed": 1, "dataset": "dev.h5", "num_examples": 100, "head": "classifier",
    "clean": {"accuracy": 0.83, "ece": 0.05, "severe_error_rate": 0.02, "majority_baseline": 0.5},
    "perturbations": [
        {"name": "typos", "kind": "recipe", "rate": 1.0, "k": 5, "accuracy": 0.78, "worst_case_accuracy": 0.7,
         "flip_rate": 0.05},
        {"name": "typos", "kind": "recipe", "rate": 2.0, "k": 5, "accuracy": 0.72, "worst_case_accuracy": 0.6,
         "flip_rate": 0.1}],
    "worst_case": {"recipe": "mixed", "k": 5, "accuracy": 0.65, "mean_accuracy": 0.77, "flip_rate": 0.08},
    "attacks": [{"kind": "pgd", "norm": "l2", "scope": "example", "epsilon": 0.2, "epsilon_relative": 0.1,
                 "steps": 10, "step_size": 0.05, "accuracy_under_attack": 0.5, "attack_success_rate": 0.4}],
    "cost": {"eval_seconds": 3.0},
}
R0 = json.loads(json.dumps(R))
R0["clean"]["accuracy"] = 0.84
R0["perturbations"][0]["accuracy"] = 0.80  # drop 0.04 in the baseline, 0.05 now
write("R.json", json.dumps(R, indent=2))
write("R0.json", json.dumps(R0, indent=2))
write("pass.yaml", """description: release gate
criteria:
  - {metric: clean.accuracy, min: 0.80}
  - {metric: worst_case.accuracy, min: 0.60}
  - {metric: "attacks[norm=l2,epsilon_relative=0.1].attack_success_rate", max: 0.5}
  - {metric: "perturbations[name=typos,rate=1].accuracy_drop", max: 0.05}
""")
write("fail.yaml", """criteria:
  - {metric: clean.accuracy, min: 0.80}
  - {metric: worst_case.accuracy, min: 0.70}
""")
write("relative.yaml", """criteria:
  - {metric: clean.accuracy, max_drop_from_baseline: 0.01}
  - {metric: "perturbations[name=typos,rate=1].accuracy_drop", max_increase_over_baseline: 0.01}
""")
write("relative_strict.yaml", """criteria:
  - {metric: "perturbations[name=typos,rate=1].accuracy_drop", max_increase_over_baseline: 0.005}
""")

p = run([sturdy, "gate", "--results", "R.json", "--gate", "pass.yaml", "--output", "R2.json"], check=False)
g = load("R2.json").get("gate", {}) if os.path.exists("R2.json") else {}
check(p.returncode == 0 and "PASS clean.accuracy = 0.83 >= 0.8" in p.stdout and "gate PASSED: 4 of 4" in p.stdout,
      "sturdy gate, passing gate: exit 0, one PASS line per criterion")
check(g.get("passed") is True and len(g.get("criteria", [])) == 4 and g.get("file") == "pass.yaml" and
      g.get("description") == "release gate", "passing gate section written to --output")
check("gate" not in load("R.json"), "--output leaves --results unchanged")

p = run([sturdy, "gate", "--results", "R.json", "--gate", "fail.yaml"], check=False)
r = load("R.json")
check(p.returncode == 1 and "FAIL worst_case.accuracy = 0.65 >= 0.7" in p.stdout and
      "gate FAILED: 1 of 2 criteria failed" in p.stdout, "sturdy gate, failing gate: exit 1, the failing line printed")
check(r.get("gate", {}).get("passed") is False and r["gate"]["failed"] == 1 and
      [c["passed"] for c in r["gate"]["criteria"]] == [True, False] and r["gate"]["criteria"][1]["value"] == 0.65 and
      r["gate"]["criteria"][1]["bound"] == 0.7, "failing gate section written into R.json in place")
check({k: v for k, v in r.items() if k != "gate"} == R, "the rest of R.json is unchanged")

p = run([sturdy, "gate", "--results", "R.json", "--gate", "relative.yaml", "--baseline", "R0.json"], check=False)
r = load("R.json")
check(p.returncode == 0 and "(baseline 0.84 - 0.01)" in p.stdout and "(baseline 0.04 + 0.01)" in p.stdout,
      "relative gate within the allowed change: exit 0, baseline shown")
check(r["gate"]["baseline"] == "R0.json" and len(r["gate"]["criteria"]) == 2 and r["gate"]["passed"] is True,
      "a new verdict replaces the earlier gate section")
p = run([sturdy, "gate", "--results", "R.json", "--gate", "relative_strict.yaml", "--baseline", "R0.json"],
        check=False)
check(p.returncode == 1 and "FAIL perturbations[name=typos,rate=1].accuracy_drop = 0.05 <= 0.045" in p.stdout,
      "the drop under typos grew by more than allowed: exit 1")
p = run([sturdy, "gate", "--results", "R.json", "--gate", "relative.yaml"], check=False)
check(p.returncode == 2 and "relative.yaml:2: criteria[0].max_drop_from_baseline" in p.stdout and
      "--baseline" in p.stdout, "relative gate without --baseline: exit 2")

p = run([sturdy, "report", "R.json", "R2.json", "--output", "report"], check=False)
md = open("report/report.md").read() if os.path.exists("report/report.md") else ""
check(p.returncode == 0 and "## Gate" in md and "**FAILED** (1 of 1 criteria)" in md and
      "passed (4 criteria)" in md, "sturdy report shows the gate tables")

# --- sturdy eval --gate on a tiny trained model ---------------------------------------------------
write_toy_tsv("train.tsv", 200, seed=1)
write_toy_tsv("dev.tsv", 30, seed=2)
run([sturdy, "prepare", "--input", "train.tsv", "--output", "train.h5"])
run([sturdy, "prepare", "--input", "dev.tsv", "--output", "dev.h5"])
write("toy.yaml", """
run: {name: toy-gate, output_dir: runs/toy}
data: {train: train.h5, valid: dev.h5, max_length: 32, micro_batch: 16, global_batch: 16}
model: {dim: 16, layers: 1, heads: 2, kv_heads: 2, ffn: 32, dropout: 0.0}
optim: {lr: 1.0e-2, warmup: 0, max_steps: 10}
checkpoint: {every_steps: 0, resume: never}
log: {every_steps: 5}
""")
write("suite.yaml", """
name: gate
k: 2
perturbations:
  - {recipe: typos, rates: [1.0, 2.0]}
worst_case: {recipe: mixed, k: 2}
attacks:
  - {kind: pgd, norm: l2, epsilons_relative: [0.1], steps: 2}
""")
write("eval_pass.yaml", """criteria:
  - {metric: clean.accuracy, min: 0}
  - {metric: "perturbations[name=typos,rate=1].accuracy_drop", max: 1}
  - {metric: "attacks[norm=l2,epsilon_relative=0.1].attack_success_rate", max: 1}
  - {metric: worst_case.accuracy, min: 0}
""")
write("eval_fail.yaml", """criteria:
  - {metric: clean.accuracy, min: 0}
  - {metric: clean.accuracy, min: 1.01}
""")
write("eval_typo.yaml", """criteria:
  - {metric: clean.accuracy, min: 0}
  - {metric: "perturbations[name=typo,rate=1].accuracy", min: 0.5}
""")
write("eval_relative.yaml", """criteria:
  - {metric: clean.accuracy, max_drop_from_baseline: 0}
  - {metric: "perturbations[name=typos,rate=2].accuracy_drop", max_increase_over_baseline: 0}
""")
run([sturdy, "train", "--config", "toy.yaml"])
EVAL = [sturdy, "eval", "--checkpoint", "runs/toy", "--suite", "suite.yaml"]

p = run(EVAL + ["--output", "E1.json", "--gate", "eval_pass.yaml"], check=False)
e1 = load("E1.json") if os.path.exists("E1.json") else {}
check(p.returncode == 0 and "gate PASSED: 4 of 4" in p.stdout and e1.get("gate", {}).get("passed") is True,
      "eval --gate, passing: exit 0, gate section in R.json")

p = run(EVAL + ["--output", "E2.json", "--gate", "eval_fail.yaml"], check=False)
e2 = load("E2.json") if os.path.exists("E2.json") else {}
check(p.returncode == 1 and "FAIL clean.accuracy = " in p.stdout and ">= 1.01" in p.stdout and
      e2.get("gate", {}).get("passed") is False and "perturbations" in e2,
      "eval --gate, failing: exit 1, the failing line printed, R.json written with its gate section")

p = run(mpirun_prefix(2) + EVAL + ["--output", "E3.json", "--gate", "eval_fail.yaml"], check=False)
e3 = load("E3.json") if os.path.exists("E3.json") else {}
check(p.returncode == 1 and p.stdout.count("gate FAILED") == 1 and e3.get("gate") == e2.get("gate"),
      "eval --gate on 2 ranks: exit 1, printed once, the same gate section")
p = run(mpirun_prefix(2) + EVAL + ["--gate", "eval_pass.yaml"], check=False)
check(p.returncode == 0 and p.stdout.count("gate PASSED") == 1, "eval --gate on 2 ranks, passing: exit 0")

p = run(EVAL + ["--output", "E4.json", "--gate", "eval_relative.yaml", "--baseline", "E1.json"], check=False)
check(p.returncode == 0 and load("E4.json")["gate"]["baseline"] == "E1.json",
      "eval --gate --baseline: the same model and suite is no worse than itself")

t0 = time.time()
p = run(EVAL + ["--output", "E5.json", "--gate", "eval_typo.yaml"], check=False)
took = time.time() - t0
check(p.returncode == 2 and "eval_typo.yaml:3: criteria[1].metric" in p.stdout and
      "no entry of perturbations has name=typo" in p.stdout and "evaluating" not in p.stdout and
      not os.path.exists("E5.json"), f"eval --gate with a typo: exit 2 before the evaluation ({took:.1f} s)")
p = run(EVAL + ["--gate", "eval_relative.yaml"], check=False)
check(p.returncode == 2 and "eval_relative.yaml:2: criteria[0].max_drop_from_baseline" in p.stdout and
      "--baseline" in p.stdout and "evaluating" not in p.stdout,
      "eval --gate with relative criteria and no --baseline: exit 2 before the evaluation")

print(f"{len(failures)} failed" + (": " + "; ".join(failures) if failures else ""))
sys.exit(1 if failures else 0)

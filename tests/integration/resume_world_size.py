"""Resume on another world size: a run on 2 ranks killed after its first checkpoint and resumed
on 1 rank (and the other way round) continues the same sample stream: its per-step losses
match an uninterrupted 1-rank run within fp tolerance (summation order differs), and the log
says the dropout RNG was drawn afresh. Dropout off, so the loss curve is comparable."""
import os
import sys

from resume_util import kill9_all, losses, prepare, run, start, train_cmd, wait_for_checkpoint

sturdy, work = os.path.abspath(sys.argv[1]), sys.argv[2]
STEPS = 40
TOL = 2e-4
config = prepare(sturdy, work, dropout=0.0, steps=STEPS)
ref = "runs/uninterrupted"
run(train_cmd(sturdy, config, ref, 1))
reference = losses(ref)
failures = 0
for before, after in ((2, 1), (1, 2)):
    out = f"runs/from{before}_to{after}"
    sets = ["checkpoint.every_steps=8"]
    proc = start(train_cmd(sturdy, config, out, before, sets), f"{out.replace('/', '_')}.log")
    wait_for_checkpoint(proc, out)
    kill9_all(proc)
    with open(f"{out}/checkpoints/latest") as f:
        resumed_at = int(f.read().strip().split("_")[1])
    p = run(train_cmd(sturdy, config, out, after, sets))
    if "resumed from" not in p.stdout or "drawn afresh" not in p.stdout:
        sys.exit("FAILED: the resumed run did not report the resume and the world-size change")
    got = losses(out)
    steps = [s for s in range(resumed_at + 1, STEPS + 1)]
    worst = max(abs(got[s] - reference[s]) for s in steps)
    ok = worst <= TOL and len(steps) > 0
    failures += not ok
    print(f"{before} -> {after} rank(s), resumed at step {resumed_at}: steps {steps[0]}..{steps[-1]} "
          f"max |loss diff| {worst:.2e} (tolerance {TOL}) -> {'ok' if ok else 'FAIL'}", flush=True)
sys.exit(1 if failures else 0)

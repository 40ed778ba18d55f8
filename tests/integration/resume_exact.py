"""Exact resume after SIGKILL: a run killed (every rank, kill -9) after its first checkpoint and
started again with the same command (checkpoint.resume: auto) ends with parameters bitwise
equal to an uninterrupted run. Dropout is on, so the per-rank RNG states must be restored too.
Done for 1 rank and for 2 ranks under mpirun. Also: timed checkpoints (every_minutes) and
retention (keep) leave the result bitwise unchanged."""
import os
import sys

from resume_util import (bitwise_equal, final_checkpoint, kill9_all, prepare, run, show, start,
                         train_cmd, wait_for_checkpoint)

sturdy, work = os.path.abspath(sys.argv[1]), sys.argv[2]
STEPS = 48
config = prepare(sturdy, work, dropout=0.1, steps=STEPS)
failures = 0
for ranks in (1, 2):
    ref = f"runs/r{ranks}_uninterrupted"
    run(train_cmd(sturdy, config, ref, ranks))
    out = f"runs/r{ranks}_killed"
    cmd = train_cmd(sturdy, config, out, ranks, ["checkpoint.every_steps=8"])
    proc = start(cmd, f"r{ranks}_killed.log")
    wait_for_checkpoint(proc, out)
    kill9_all(proc)
    show(f"r{ranks}_killed.log")
    with open(f"{out}/checkpoints/latest") as f:
        killed_at = f.read().strip()
    if killed_at == f"step_{STEPS:08d}":
        sys.exit("FAILED: the run finished before the kill; the test proves nothing (make it slower)")
    p = run(cmd)
    if "resumed from" not in p.stdout:
        sys.exit("FAILED: the second run did not say it resumed")
    ok, msg = bitwise_equal(final_checkpoint(ref, STEPS), final_checkpoint(out, STEPS))
    failures += not ok
    print(f"{ranks} rank(s), killed after {killed_at}: {msg} -> {'ok' if ok else 'FAIL'}", flush=True)

# Timed checkpoints (rank 0's clock, agreed by all ranks) with retention: writing them leaves
# the training untouched, and only the newest checkpoint.keep (2) remain.
out = "runs/r2_timed"
p = run(train_cmd(sturdy, config, out, 2, ["checkpoint.every_minutes=0.002", "checkpoint.every_steps=0"]))
written = p.stdout.count(f"checkpoint {out}/checkpoints/step_")
left = sorted(d for d in os.listdir(f"{out}/checkpoints") if d.startswith("step_"))
ok, msg = bitwise_equal(final_checkpoint("runs/r2_uninterrupted", STEPS), final_checkpoint(out, STEPS))
# At least one timed checkpoint besides the final one (the run takes about a second).
good = ok and written >= 2 and len(left) == 2 and left[-1] == f"step_{STEPS:08d}"
print(f"timed checkpoints every 0.12 s on 2 ranks: {written} written, kept {left}; {msg} -> "
      f"{'ok' if good else 'FAIL'}", flush=True)
failures += not good
sys.exit(1 if failures else 0)

"""Preemption: SIGUSR1 to mpirun (forwarded to both ranks) and SIGTERM to a single process only
set a flag; at the next step boundary the ranks agree, write a checkpoint and exit 0 saying the
run was preempted. Running the same command again ends bitwise equal to an uninterrupted run."""
import os
import signal
import sys
import time

from resume_util import bitwise_equal, final_checkpoint, prepare, run, show, start, train_cmd

sturdy, work = os.path.abspath(sys.argv[1]), sys.argv[2]
STEPS = 48
config = prepare(sturdy, work, dropout=0.1, steps=STEPS)
failures = 0
for ranks, sig in ((2, signal.SIGUSR1), (1, signal.SIGTERM)):
    ref = f"runs/r{ranks}_uninterrupted"
    run(train_cmd(sturdy, config, ref, ranks))
    out = f"runs/r{ranks}_{sig.name}"
    cmd = train_cmd(sturdy, config, out, ranks)
    proc = start(cmd, f"{out.replace('/', '_')}.log")
    metrics = f"{out}/metrics.jsonl"
    t0 = time.time()
    while not (os.path.exists(metrics) and sum(1 for _ in open(metrics)) >= 3):
        if proc.poll() is not None or time.time() - t0 > 120:
            sys.exit("FAILED: the run ended before it could be signalled")
        time.sleep(0.005)
    os.kill(proc.pid, sig)
    rc = proc.wait(timeout=120)
    log = show(f"{out.replace('/', '_')}.log")
    preempted = rc == 0 and "preempted" in log and os.path.exists(f"{out}/checkpoints/latest")
    stopped_at = open(f"{out}/checkpoints/latest").read().strip() if preempted else "-"
    p = run(cmd)
    ok, msg = bitwise_equal(final_checkpoint(ref, STEPS), final_checkpoint(out, STEPS))
    good = preempted and stopped_at != f"step_{STEPS:08d}" and ok and "resumed from" in p.stdout
    print(f"{ranks} rank(s), {sig.name}: exit {rc}, preempted at {stopped_at}; after resume {msg} -> "
          f"{'ok' if good else 'FAIL'}", flush=True)
    failures += not good
sys.exit(1 if failures else 0)

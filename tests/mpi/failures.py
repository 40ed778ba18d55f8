"""Failure handling through the real binary, 3 ranks each:
1. kill -9 of one rank mid-training: mpirun exits non-zero and no rank survives, in < 60 s
   (the exit code is Open MPI's: Sturdy's code never runs);
2. a rank that throws (STURDY_TEST_FAULT=1:throw:3) while the others wait in the gradient
   all-reduce: every rank ends, exit code 3, the rank's message on stderr, in < 60 s;
3. a rank that hangs before the all-reduce (STURDY_TEST_FAULT=2:hang:3, dist.timeout_s=3):
   the watchdog aborts the job naming rank 2, exit code 3, in < 60 s.
Exit code 3 is the README's "runtime failure (I/O, communication, numerical abort)"."""
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from common import mpirun_prefix, run, write_toy_tsv  # noqa: E402

sturdy, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
os.chdir(work)
write_toy_tsv("toy.tsv", 200, seed=5)
run([sturdy, "prepare", "--input", "toy.tsv", "--output", "toy.h5"])
with open("toy.yaml", "w") as f:
    f.write("""
data: {train: toy.h5, max_length: 32, micro_batch: 4, global_batch: 12}
model: {dim: 32, layers: 1, heads: 4, kv_heads: 2, ffn: 64, dropout: 0.0}
optim: {lr: 1.0e-3, warmup: 0, epochs: 1000, max_steps: 100000}
checkpoint: {every_steps: 0, resume: never}
log: {every_steps: 1}
""")
LIMIT = 60.0


def children(pid):
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], stdout=subprocess.PIPE, text=True).stdout
    except FileNotFoundError:
        return []
    return [int(x) for x in out.split()]


def rank_of(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
        return int(env.get(b"OMPI_COMM_WORLD_RANK", b"-1"))
    except OSError:
        return -1


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def start(name, nranks, sets=(), env=None):
    shutil.rmtree(f"runs/{name}", ignore_errors=True)
    cmd = mpirun_prefix(nranks) + [sturdy, "train", "--config", "toy.yaml", "--set", f"run.output_dir=runs/{name}"]
    for s in sets:
        cmd += ["--set", s]
    e = dict(os.environ, OMP_NUM_THREADS="1")
    e.update(env or {})
    print("+", " ".join(cmd), flush=True)
    log = open(f"{name}.log", "w")
    return subprocess.Popen(cmd, env=e, stdout=log, stderr=subprocess.STDOUT, start_new_session=True), log


def wait_for_steps(name, proc, steps, limit=120):
    path = f"runs/{name}/metrics.jsonl"
    t0 = time.time()
    while time.time() - t0 < limit and proc.poll() is None:
        if os.path.exists(path) and sum(1 for _ in open(path)) >= steps:
            return True
        time.sleep(0.1)
    return False


def finish(name, proc, log, t0, ranks, expect_in_log=(), expect_rc=None):
    """Waits up to LIMIT s after t0; asserts the exit code (expect_rc, or any non-zero when None),
    no rank left, expected text."""
    try:
        rc = proc.wait(timeout=max(1.0, LIMIT - (time.time() - t0)))
    except subprocess.TimeoutExpired:
        rc = None
    took = time.time() - t0
    time.sleep(0.5)
    left = [p for p in ranks if alive(p)]
    if rc is None:
        os.killpg(proc.pid, signal.SIGKILL)
        for p in left:
            os.kill(p, signal.SIGKILL)
    log.close()
    text = open(f"{name}.log").read()
    missing = [s for s in expect_in_log if s not in text]
    rc_ok = rc not in (None, 0) and (expect_rc is None or rc == expect_rc)
    ok = rc_ok and not left and not missing
    want = "non-zero" if expect_rc is None else expect_rc
    print(f"{name}: exit {rc} (expected {want}) after {took:.1f} s, ranks left {left}, missing text {missing} -> "
          f"{'ok' if ok else 'FAIL'}", flush=True)
    if not ok:
        print(text[-4000:])
    return ok


failures = 0

# 1. kill -9 one rank mid-training.
proc, log = start("kill9", 3)
if not wait_for_steps("kill9", proc, 3):
    print("kill9: training did not reach step 3")
    print(open("kill9.log").read()[-3000:])
    sys.exit(1)
ranks = children(proc.pid)
victim = next((p for p in ranks if rank_of(p) == 1), None)
if victim is None:
    sys.exit(f"kill9: no rank 1 among the children {ranks} of mpirun")
print(f"kill9: ranks {ranks}, killing rank 1 (pid {victim}) with SIGKILL", flush=True)
t0 = time.time()
os.kill(victim, signal.SIGKILL)
failures += not finish("kill9", proc, log, t0, ranks)

# 2. a rank throws while the others wait inside the all-reduce.
proc, log = start("throw", 3, env={"STURDY_TEST_FAULT": "1:throw:3"})
t0 = time.time()
wait_for_steps("throw", proc, 1)
ranks = children(proc.pid)
failures += not finish("throw", proc, log, t0, ranks, ["injected fault at step 3", "aborting the job"], expect_rc=3)

# 3. a rank hangs; the watchdog names it.
proc, log = start("hang", 3, sets=["dist.timeout_s=3"], env={"STURDY_TEST_FAULT": "2:hang:3"})
t0 = time.time()
wait_for_steps("hang", proc, 1)
ranks = children(proc.pid)
failures += not finish("hang", proc, log, t0, ranks, ["rank(s) 2 did not join it"], expect_rc=3)

sys.exit(1 if failures else 0)

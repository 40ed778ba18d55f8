"""Preemption and requeue under a real single-node Slurm (cluster/local-slurm): submit
cluster/slurm/train-1node.sbatch with 2 tasks (srun), send `scancel --signal=USR1 --batch`
while it trains, and check that the ranks checkpoint and exit 0, the batch script requeues the
job, the requeued job resumes from the checkpoint and ends with parameters bitwise equal to an
uninterrupted run. Starts Slurm itself and stops it afterwards; exits 77 (CTest: skipped) with
the reason when Slurm cannot start here (not root, packages missing)."""
import os
import subprocess
import sys
import time

from resume_util import bitwise_equal, final_checkpoint, prepare, run, train_cmd

SKIP = 77
sturdy, repo, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), sys.argv[3]
STEPS = 64
config = prepare(sturdy, work, dropout=0.1, steps=STEPS)
state = os.path.abspath("slurm-state")
start = subprocess.run([f"{repo}/cluster/local-slurm/start.sh", state], capture_output=True, text=True)
if start.returncode != 0:
    print(f"SKIP: local Slurm did not start (exit {start.returncode}): {start.stderr.strip()[-2000:]}")
    sys.exit(SKIP)
os.environ["SLURM_CONF"] = f"{state}/slurm.conf"


def job_info(job):
    """(JobState, Restarts) from `scontrol show job` (kept MinJobAge=300 s after the end); ("?", 0)
    when slurmctld does not answer this time."""
    q = subprocess.run(["scontrol", "show", "job", "-o", job], capture_output=True, text=True)
    fields = dict(f.split("=", 1) for f in q.stdout.split() if "=" in f)
    if q.returncode != 0 or "JobState" not in fields:
        return "?", 0
    return fields["JobState"], int(fields.get("Restarts", "0"))


DONE = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY")


def wait(what, cond, timeout):
    t0 = time.time()
    while not cond():
        if time.time() - t0 > timeout:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


failures = 0
try:
    ref = os.path.abspath("runs/uninterrupted")
    run(train_cmd(sturdy, config, ref, 2))
    out = os.path.abspath("runs/slurm")
    job_out = os.path.abspath("job.out")
    env = f"ALL,STURDY_CONFIG={config},STURDY_BIN={sturdy},STURDY_HOME={repo},OMP_NUM_THREADS=1"
    job = subprocess.run(["sbatch", "--parsable", "--ntasks-per-node=2", "--cpus-per-task=1",
                          "--gpus-per-node=0", "--time=5", f"--output={job_out}", f"--export={env}",
                          f"{repo}/cluster/slurm/train-1node.sbatch", "--set", f"run.output_dir={out}"],
                         check=True, capture_output=True, text=True).stdout.strip()
    print(f"submitted job {job}", flush=True)
    metrics = f"{out}/metrics.jsonl"
    wait("the job to train 3 steps",
         lambda: os.path.exists(metrics) and sum(1 for _ in open(metrics)) >= 3, 60)
    subprocess.run(["scancel", "--signal=USR1", "--batch", job], check=True)
    print("sent USR1 to the batch script", flush=True)
    # A requeued job waits for its BeginTime (now + ~2 min in Slurm); let it start at once.
    wait("the requeue", lambda: job_info(job) == ("PENDING", 1), 60)
    preempted_at = open(f"{out}/checkpoints/latest").read().strip()
    # Slurm holds a requeued job for ~2 min; release it early, but only once the node is idle
    # and a second has passed: slurmd rejects a launch whose credential dates from the same
    # second as the revocation of the previous run ("Job credential revoked").
    wait("the node to be idle", lambda: subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True,
                                                        text=True).stdout.strip() == "idle", 60)
    time.sleep(2)
    wait("the release of the requeued job",
         lambda: subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"]).returncode == 0, 30)
    wait("the requeued job to finish", lambda: job_info(job)[0] in DONE, 90)
    print(f"job {job}: {job_info(job)}", flush=True)
    log = open(job_out).read()
    print(log[-6000:], flush=True)
    checks = {
        "ranks reported the preemption": "preempted" in log,
        "batch script requeued": "requeueing job" in log,
        "job ran again (restart 1)": "restart 1" in log,
        "second run resumed": "resumed from" in log,
        "stopped before the end": preempted_at != f"step_{STEPS:08d}",
        "finished": os.path.exists(f"{out}/train_summary.json"),
    }
    for what, ok in checks.items():
        print(f"  {what}: {'ok' if ok else 'FAIL'}")
        failures += not ok
    ok, msg = bitwise_equal(final_checkpoint(ref, STEPS), final_checkpoint(out, STEPS))
    print(f"preempted at {preempted_at}, requeued, resumed: {msg} -> {'ok' if ok else 'FAIL'}", flush=True)
    failures += not ok
except TimeoutError as e:
    print(f"FAILED: {e}")
    for f in ("job.out", f"{state}/log/slurmctld.log", f"{state}/log/slurmd.log"):
        if os.path.exists(f):
            print(f"--- {f}\n" + open(f).read()[-3000:])
    failures += 1
finally:
    subprocess.run([f"{repo}/cluster/local-slurm/stop.sh", state])
sys.exit(1 if failures else 0)

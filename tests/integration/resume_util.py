"""Helpers for the resume_* and slurm_* integration tests: start a training run in the
background, kill it (and every rank) the moment a checkpoint appears, compare models bitwise."""
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

from common import mpirun_prefix, run, write_toy_tsv

# Small enough to run in seconds on 2 shared cores, slow enough (tens of ms per step) that a
# kill lands between the first checkpoint and the end of the run.
TOY_CONFIG = """
data: {{train: {corpus}, max_length: 48, micro_batch: 8, global_batch: 16}}
model: {{dim: 64, layers: 2, heads: 4, kv_heads: 2, ffn: 128, dropout: {dropout}}}
optim: {{lr: 1.0e-3, warmup: 2, epochs: 4, max_steps: {steps}}}
checkpoint: {{every_steps: 0, keep: 2, resume: auto}}
log: {{every_steps: 1}}
"""


def prepare(sturdy, work, dropout=0.1, steps=48):
    os.makedirs(work, exist_ok=True)
    os.chdir(work)
    shutil.rmtree("runs", ignore_errors=True)  # a rerun must not resume an earlier run's checkpoints
    if not os.path.exists("toy.h5"):
        write_toy_tsv("toy.tsv", 400)
        run([sturdy, "prepare", "--input", "toy.tsv", "--output", "toy.h5"])
    with open("toy.yaml", "w") as f:
        f.write(TOY_CONFIG.format(corpus=os.path.abspath("toy.h5"), dropout=dropout, steps=steps))
    return os.path.abspath("toy.yaml")


def train_cmd(sturdy, config, out, ranks=1, sets=()):
    cmd = (mpirun_prefix(ranks) if ranks > 1 else []) + [sturdy, "train", "--config", config,
                                                         "--set", f"run.output_dir={out}"]
    for s in sets:
        cmd += ["--set", s]
    return cmd


def env():
    e = dict(os.environ)
    e.setdefault("OMP_NUM_THREADS", "1")
    return e


def descendants(pid):
    """pid and every process below it (ranks under mpirun), from /proc."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def start(cmd, log_path):
    print("+ (background)", " ".join(cmd), flush=True)
    log = open(log_path, "w")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env(), start_new_session=True)


def wait_for_checkpoint(proc, out, timeout=120):
    """Blocks until RUN/checkpoints/latest exists; fails when the run ends first."""
    latest = os.path.join(out, "checkpoints", "latest")
    t0 = time.time()
    while not os.path.exists(latest):
        if proc.poll() is not None:
            sys.exit(f"FAILED: the run ended (exit {proc.returncode}) before its first checkpoint")
        if time.time() - t0 > timeout:
            sys.exit("FAILED: no checkpoint within the timeout")
        time.sleep(0.005)


def kill9_all(proc):
    """SIGKILL the launcher and every rank at once, like a node failure."""
    pids = descendants(proc.pid)
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def show(path):
    with open(path) as f:
        text = f.read()
    print(text[-4000:], flush=True)
    return text


def final_checkpoint(out, steps):
    return os.path.join(out, "checkpoints", f"step_{steps:08d}")


def bitwise_equal(a_dir, b_dir):
    """(equal, message): every dataset of model.h5 identical in bits."""
    def load(d):
        with h5py.File(os.path.join(d, "model.h5"), "r") as f:
            return {k: np.array(f[k]) for k in f.keys()}
    a, b = load(a_dir), load(b_dir)
    if a.keys() != b.keys():
        return False, f"parameter names differ: {set(a) ^ set(b)}"
    for k in sorted(a):
        if a[k].shape != b[k].shape or a[k].tobytes() != b[k].tobytes():
            return False, f"{k}: max |diff| {float(np.max(np.abs(a[k] - b[k]))):.3e}"
    return True, f"{len(a)} parameters bitwise equal"


def losses(out):
    """step -> loss from metrics.jsonl; a resumed run's lines replace the killed run's."""
    import json
    by_step = {}
    with open(os.path.join(out, "metrics.jsonl")) as f:
        for line in f:
            j = json.loads(line)
            by_step[j["step"]] = j["loss"]
    return by_step

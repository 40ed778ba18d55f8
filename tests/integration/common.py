"""Helpers for the integration tests: run the sturdy binary (optionally under mpirun),
write small corpora and compare checkpoints with h5py, independently of Sturdy's code.
h5py and numpy are imported where they are used, so the corpus and run helpers also serve
tests/gpu/train_checks.py on a machine whose Python has neither."""
import os
import random
import subprocess
import sys


def mpirun_prefix(n):
    cmd = ["mpirun", "-np", str(n), "--oversubscribe", "--bind-to", "none"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    return cmd


def run(cmd, check=True, env=None, timeout=600):
    e = dict(os.environ)
    e.setdefault("OMP_NUM_THREADS", "1")
    if env:
        e.update(env)
    print("+", " ".join(cmd), flush=True)
    p = subprocess.run(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=timeout)
    print(p.stdout, flush=True)
    if check and p.returncode != 0:
        sys.exit(f"FAILED (exit {p.returncode}): {' '.join(cmd)}")
    return p


def write_toy_tsv(path, n, seed=0):
    """A learnable 3-class task: the class decides which word family appears."""
    rng = random.Random(seed)
    fam = [["apple", "pear", "plum", "fig"], ["run", "jump", "swim", "walk"],
           ["red", "blue", "green", "gold"]]
    filler = ["the", "a", "of", "and", "to", "with", "very", "some"]
    with open(path, "w") as f:
        f.write("sentence\tlabel\n")
        for i in range(n):
            c = rng.randrange(3)
            words = [rng.choice(filler) for _ in range(rng.randint(3, 9))]
            for _ in range(rng.randint(1, 3)):
                words.insert(rng.randrange(len(words) + 1), rng.choice(fam[c]))
            f.write(" ".join(words) + f"\t{c}\n")


def read_params(checkpoint_dir):
    import h5py
    import numpy as np
    with h5py.File(os.path.join(checkpoint_dir, "model.h5"), "r") as f:
        return {k: np.array(f[k]) for k in f.keys()}


def max_param_diff(a_dir, b_dir):
    import numpy as np
    a, b = read_params(a_dir), read_params(b_dir)
    assert a.keys() == b.keys(), f"parameter names differ: {set(a) ^ set(b)}"
    worst, where = 0.0, None
    for k in a:
        d = float(np.max(np.abs(a[k] - b[k])))
        if d > worst:
            worst, where = d, k
    return worst, where

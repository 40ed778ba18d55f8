#!/usr/bin/env python3
"""The trainer on a GPU (run.device: cuda), checked against the CPU and against itself.

    tests/gpu/train_checks.py BUILD_DIR [--out DIR] [--checks a,b,...] [--cpu-dry-run]

Runs BUILD_DIR/src/apps/sturdy (or the binary given as BUILD_DIR) on a generated 3-class toy
corpus (tests/integration/common.py: write_toy_tsv) with a small model (dim 64, 2 layers, 4
heads, 2 K/V heads, ffn 128, global batch 16, 20 steps, AdamW lr 1e-3). Every check is one
function; all run by default. Checks:

  cpu_vs_gpu   ERM and FreeLB (K = 2), fp32, model.dropout 0: the per-step losses of a GPU run and
               a CPU run from the same seed (same initial weights: they are drawn on the CPU and
               moved) and the same batches (the loader is on the CPU) agree: step 1 within 1e-5
               relative, every step up to 20 within 1e-3 relative. Why these: step 1 is one
               forward of the same weights; CPU (OpenBLAS) and GPU (cuBLAS) sum in other orders,
               which moves an fp32 loss by ~1e-7 relative. Later steps add AdamW updates of
               differently rounded gradients; on a model this size that drift stays in the
               1e-6..1e-4 range over 20 steps, while a real device bug (a mask or dtype lost on
               the way to the GPU, a gradient not synced, an op routed to a wrong kernel) moves
               the loss by 1e-2 or more within a few steps. 1e-3 separates the two with a margin
               of 10x on either side.
  determinism  two GPU runs of ERM with dropout 0.1 (CUDA generator), two of FreeLB, and two of ERM
               on rows of 200-300 tokens (data.max_length 256: long enough for the fused attention
               backward to split over key blocks, where it may sum in a run-dependent order):
               identical losses at every step and bitwise identical model.h5 and optimizer.h5.
  resume       a GPU run (ERM, dropout 0.1) preempted after step 10 (STURDY_TEST_PREEMPT_AT=10:
               the real SIGUSR1 path, checkpoint, exit 0) and started again with the same command
               ends bitwise equal (model.h5, optimizer.h5, losses of steps 11..20) to the
               uninterrupted run, as tests/integration/resume_objectives.py does on the CPU.
  ckpt_on_cpu  `sturdy eval --set run.device=cpu` on the GPU run's checkpoint works and gives the
               same accuracies (clean and under typos) as `--set run.device=cuda`, within 1e-6.
  bf16         precision.dtype bf16 on the GPU trains (mean loss of steps 16..20 below that of
               steps 1..5, and the step-20 loss below step 1's) and its step-20 loss is within
               3e-2 relative of the fp32 run's. Why: autocast rounds matmul inputs to bf16
               (8-bit mantissa, unit roundoff 2^-9 = 2e-3) and keeps sums, losses and AdamW in
               fp32; on the CPU the same setting moved the loss by 0.1-0.24% (docs/performance.md,
               "bf16 autocast on CPU"); 3e-2 is ~10x that, and a broken bf16 path (no autocast
               exit, bf16 master weights) is off by far more.
  two_ranks    `mpirun -np 2` with dist.backend mpi, both ranks sharing GPU 0 (nccl, one GPU per
               rank, when 2 or more are visible), micro-batch 8, against one rank with micro-batch
               16, same global batch 16, 2 steps: parameters within 1e-5 (the tolerance of
               tests/integration/dp_equivalence.py) and losses within 1e-5 relative.

Output: one line per check, then one JSON summary (also written to OUT/train_checks.json).
Exit 0 when no check failed (a check may be skipped, e.g. two_ranks without mpirun), 1 when one
failed, 77 when no CUDA device is visible (nothing run; --cpu-dry-run runs every flow with
run.device=cpu on both sides instead, to exercise this script's logic without a GPU), 2 on bad
usage.
Checkpoints are compared with h5py when it is importable, else through libhdf5 itself (ctypes),
so the GPU machine's Python needs neither h5py nor numpy. env: STURDY_MPIRUN (mpirun to use),
OMP_NUM_THREADS (default 2).
"""
import argparse
import array
import ctypes
import ctypes.util
import glob
import json
import os
import shutil
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from common import write_toy_tsv  # noqa: E402

STEPS = 20
TOY_CONFIG = """
data: {{train: {train}, valid: {valid}, max_length: 48, micro_batch: 16, global_batch: 16}}
model: {{dim: 64, layers: 2, heads: 4, kv_heads: 2, ffn: 128, dropout: 0.0}}
optim: {{lr: 1.0e-3, warmup: 2, epochs: 4, max_steps: {steps}}}
checkpoint: {{every_steps: 0, keep: 2, resume: auto}}
log: {{every_steps: 1}}
run: {{seed: 1}}
"""
SUITE = """
name: gpu_checks
description: clean and the typos recipe, for the CPU-vs-GPU checkpoint check
seed: 1
k: 2
perturbations:
  - {recipe: typos}
"""


class CheckFailed(Exception):
    pass


# --- HDF5 without h5py ----------------------------------------------------------------------

class Hdf5:
    """Reads every dataset at the root of an HDF5 file as (typecode, shape, raw bytes): with h5py
    when importable, else through libhdf5's C API (the library the sturdy binary links)."""

    def __init__(self, force_ctypes=False):
        self.h5py = None
        if not force_ctypes:
            try:
                import h5py
                self.h5py = h5py
            except ImportError:
                pass
        self.lib = None if self.h5py else self._load()

    @staticmethod
    def _load():
        names = [ctypes.util.find_library(n) for n in ("hdf5_serial", "hdf5")]
        dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
        dirs += ["/usr/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu/hdf5/serial", "/usr/lib64", "/usr/lib",
                 "/usr/local/lib"]
        for d in dirs:
            names += sorted(glob.glob(os.path.join(d, "libhdf5_serial.so*"))) + sorted(glob.glob(os.path.join(d, "libhdf5.so*")))
        for n in names:
            if not n:
                continue
            try:
                lib = ctypes.CDLL(n)
            except OSError:
                continue
            if hasattr(lib, "H5Fopen") and hasattr(lib, "H5Lget_name_by_idx"):
                Hdf5._prototypes(lib)
                lib.H5open()
                return lib
        raise CheckFailed("neither h5py nor libhdf5 found: install h5py or put libhdf5 on LD_LIBRARY_PATH")

    @staticmethod
    def _prototypes(lib):
        hid, herr = ctypes.c_int64, ctypes.c_int
        sig = {
            "H5open": (herr, []),
            "H5Fopen": (hid, [ctypes.c_char_p, ctypes.c_uint, hid]),
            "H5Fclose": (herr, [hid]),
            "H5Gget_info": (herr, [hid, ctypes.c_void_p]),
            "H5Lget_name_by_idx": (ctypes.c_ssize_t, [hid, ctypes.c_char_p, ctypes.c_int, ctypes.c_int,
                                                      ctypes.c_uint64, ctypes.c_char_p, ctypes.c_size_t, hid]),
            "H5Dopen2": (hid, [hid, ctypes.c_char_p, hid]),
            "H5Dclose": (herr, [hid]),
            "H5Dget_space": (hid, [hid]),
            "H5Dget_type": (hid, [hid]),
            "H5Dread": (herr, [hid, hid, hid, hid, hid, ctypes.c_void_p]),
            "H5Sget_simple_extent_ndims": (ctypes.c_int, [hid]),
            "H5Sget_simple_extent_dims": (ctypes.c_int, [hid, ctypes.c_void_p, ctypes.c_void_p]),
            "H5Sclose": (herr, [hid]),
            "H5Tget_size": (ctypes.c_size_t, [hid]),
            "H5Tget_class": (ctypes.c_int, [hid]),
            "H5Tclose": (herr, [hid]),
        }
        for name, (res, args) in sig.items():
            f = getattr(lib, name)
            f.restype, f.argtypes = res, args

    def read(self, path):
        if self.h5py:
            out = {}
            with self.h5py.File(path, "r") as f:
                for k in f.keys():
                    a = f[k][()]
                    code = {"f": {4: "f", 8: "d"}, "i": {4: "i", 8: "q"}, "u": {1: "B", 4: "I", 8: "Q"}}.get(
                        a.dtype.kind, {}).get(a.dtype.itemsize, "raw")
                    out[k] = (code, tuple(a.shape), a.astype(a.dtype.newbyteorder("=")).tobytes())
            return out
        return self._read_ctypes(path)

    def _read_ctypes(self, path):
        lib = self.lib
        f = lib.H5Fopen(path.encode(), 0, 0)  # H5F_ACC_RDONLY, H5P_DEFAULT
        if f < 0:
            raise CheckFailed(f"{path}: libhdf5 cannot open it")
        try:
            info = (ctypes.c_uint64 * 4)()  # H5G_info_t: storage type, nlinks, max_corder, mounted
            if lib.H5Gget_info(f, info) < 0:
                raise CheckFailed(f"{path}: H5Gget_info failed")
            out = {}
            for i in range(int(info[1])):
                size = lib.H5Lget_name_by_idx(f, b".", 0, 0, i, None, 0, 0)  # H5_INDEX_NAME, H5_ITER_INC
                buf = ctypes.create_string_buffer(size + 1)
                lib.H5Lget_name_by_idx(f, b".", 0, 0, i, buf, size + 1, 0)
                name = buf.value.decode()
                d = lib.H5Dopen2(f, name.encode(), 0)
                if d < 0:
                    continue  # a group, not a dataset
                space, dtype = lib.H5Dget_space(d), lib.H5Dget_type(d)
                try:
                    nd = lib.H5Sget_simple_extent_ndims(space)
                    dims = (ctypes.c_uint64 * max(nd, 1))()
                    lib.H5Sget_simple_extent_dims(space, dims, None)
                    shape = tuple(int(dims[j]) for j in range(nd))
                    count = 1
                    for s in shape:
                        count *= s
                    width, cls = lib.H5Tget_size(dtype), lib.H5Tget_class(dtype)  # H5T_INTEGER 0, H5T_FLOAT 1
                    raw = ctypes.create_string_buffer(count * width)
                    if lib.H5Dread(d, dtype, 0, 0, 0, raw) < 0:  # the file type as memory type: raw bytes
                        raise CheckFailed(f"{path}: {name}: H5Dread failed")
                    code = {(1, 4): "f", (1, 8): "d", (0, 4): "i", (0, 8): "q"}.get((cls, width), "raw")
                    out[name] = (code, shape, raw.raw)
                finally:
                    lib.H5Tclose(dtype)
                    lib.H5Sclose(space)
                    lib.H5Dclose(d)
            return out
        finally:
            lib.H5Fclose(f)


H5 = None


def tensors(path):
    return H5.read(path)


def compare_files(a_path, b_path):
    """(bitwise_equal, max_abs_diff, where) over every dataset of two HDF5 files."""
    a, b = tensors(a_path), tensors(b_path)
    if a.keys() != b.keys():
        raise CheckFailed(f"{a_path} vs {b_path}: dataset names differ: {sorted(set(a) ^ set(b))}")
    equal, worst, where = True, 0.0, None
    for k in sorted(a):
        (ca, sa, ra), (cb, sb, rb) = a[k], b[k]
        if sa != sb or ca != cb:
            raise CheckFailed(f"{k}: shape/type {sa}/{ca} vs {sb}/{cb}")
        if ra == rb:
            continue
        equal = False
        if ca in ("f", "d"):
            xa, xb = array.array(ca, ra), array.array(ca, rb)
            d = max(abs(x - y) for x, y in zip(xa, xb))
        else:
            d = float("inf")
        if d > worst:
            worst, where = d, k
    return equal, worst, where


# --- runs -------------------------------------------------------------------------------------

def write_long_tsv(path, n, seed=0):
    """Rows of 200-300 bytes (byte tokens), two classes told apart by a cue word."""
    import random
    rng = random.Random(seed)
    words = ["the", "a", "of", "and", "to", "with", "very", "some", "story", "film", "it", "was"]
    cue = [["dull", "flat", "tedious"], ["lovely", "sharp", "moving"]]
    with open(path, "w") as f:
        f.write("sentence\tlabel\n")
        for i in range(n):
            c, text = i % 2, []
            target = rng.randint(200, 300)
            while len(" ".join(text)) < target:
                text.append(rng.choice(cue[c]) if rng.random() < 0.1 else rng.choice(words))
            f.write(" ".join(text)[:target].strip() + f"\t{c}\n")


class Env:
    def __init__(self, sturdy, work, gpu_device, gpus, mpirun):
        self.sturdy, self.work, self.gpu, self.gpus, self.mpirun = sturdy, work, gpu_device, gpus, mpirun
        self.runs = {}
        self.config = os.path.join(work, "toy.yaml")
        self.suite = os.path.join(work, "suite.yaml")

    def setup(self):
        os.makedirs(self.work, exist_ok=True)
        shutil.rmtree(os.path.join(self.work, "runs"), ignore_errors=True)
        for name, n, seed in (("toy", 400, 0), ("valid", 200, 7), ("long", 64, 3)):
            tsv, h5 = os.path.join(self.work, name + ".tsv"), os.path.join(self.work, name + ".h5")
            (write_long_tsv if name == "long" else write_toy_tsv)(tsv, n, seed=seed)
            if os.path.exists(h5):
                os.remove(h5)
            self.exec([self.sturdy, "prepare", "--input", tsv, "--output", h5], "prepare_" + name)
        with open(self.config, "w") as f:
            f.write(TOY_CONFIG.format(train=os.path.join(self.work, "toy.h5"),
                                      valid=os.path.join(self.work, "valid.h5"), steps=STEPS))
        with open(self.suite, "w") as f:
            f.write(SUITE)

    def exec(self, cmd, log_name, env=None, timeout=300, check=True):
        e = dict(os.environ)
        e.setdefault("OMP_NUM_THREADS", "2")
        if env:
            e.update(env)
        t0 = time.time()
        try:
            p = subprocess.run(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
            rc, text = p.returncode, p.stdout
        except subprocess.TimeoutExpired as ex:
            rc, text = 124, (ex.stdout or b"").decode(errors="replace") if isinstance(ex.stdout, bytes) else (ex.stdout or "")
        log = os.path.join(self.work, "logs", log_name + ".log")
        os.makedirs(os.path.dirname(log), exist_ok=True)
        with open(log, "w") as f:
            f.write("+ " + " ".join(cmd) + "\n" + text)
        print(f"    {log_name}: exit {rc} in {time.time() - t0:.1f} s", flush=True)
        if check and rc != 0:
            lines = [l for l in text.splitlines() if l.strip()]
            errors = [l for l in lines if "error" in l.lower()]
            first = (errors or lines or ["(no output)"])[-1]
            tail = "\n".join(lines[-15:])
            raise CheckFailed(f"{log_name}: exit {rc}: {first.strip()}\n(log {log}; command: {' '.join(cmd)})\n{tail}")
        return rc, text

    def mpi_prefix(self, n):
        cmd = [self.mpirun, "-np", str(n), "--oversubscribe", "--bind-to", "none"]
        if os.geteuid() == 0:
            cmd.append("--allow-run-as-root")
        return cmd

    def train(self, name, device, sets=(), ranks=1, env=None, fresh=True, check=True):
        """Trains into WORK/runs/NAME; one run per name (a second request returns the first)."""
        key = (device, tuple(sets), ranks, tuple(sorted((env or {}).items())))
        if fresh and name in self.runs:
            if self.runs[name]["key"] != key:
                raise RuntimeError(f"run {name} requested with other settings")
            return self.runs[name]
        out = os.path.join(self.work, "runs", name)
        if fresh:
            shutil.rmtree(out, ignore_errors=True)
        cmd = (self.mpi_prefix(ranks) if ranks > 1 else []) + [
            self.sturdy, "train", "--config", self.config, "--set", f"run.output_dir={out}",
            "--set", f"run.device={device}"]
        for s in sets:
            cmd += ["--set", s]
        rc, text = self.exec(cmd, name if fresh else name + "_again", env=env, check=check)
        want = "device cuda" if device == "cuda" else "device cpu"
        if check and want not in text:
            raise CheckFailed(f"{name}: the log does not say '{want}' (the training line names the device)")
        r = {"key": key, "out": out, "text": text, "rc": rc}
        if fresh:
            self.runs[name] = r
        return r


def losses(out):
    by_step = {}
    with open(os.path.join(out, "metrics.jsonl")) as f:
        for line in f:
            j = json.loads(line)
            if "loss" in j and "step" in j:
                by_step[j["step"]] = j["loss"]
    return by_step


def final(out, steps=STEPS):
    return os.path.join(out, "checkpoints", f"step_{steps:08d}")


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-12)


# --- checks -----------------------------------------------------------------------------------

ERM = ["objective.kind=erm"]
FREELB = ["objective.kind=freelb", "objective.steps=2"]
DROPOUT = ["model.dropout=0.1"]


def check_cpu_vs_gpu(env):
    detail, problems = {}, []
    for label, sets in (("erm", ERM), ("freelb", FREELB)):
        cpu = losses(env.train(f"cpu_{label}", "cpu", sets)["out"])
        gpu = losses(env.train(f"gpu_{label}", env.gpu, sets)["out"])
        if sorted(cpu) != list(range(1, STEPS + 1)) or sorted(gpu) != sorted(cpu):
            raise CheckFailed(f"{label}: logged steps {sorted(cpu)} (cpu) vs {sorted(gpu)} (gpu)")
        diffs = {s: rel(gpu[s], cpu[s]) for s in cpu}
        worst = max(diffs, key=diffs.get)
        _, pdiff, pwhere = compare_files(os.path.join(final(env.runs[f"cpu_{label}"]["out"]), "model.h5"),
                                         os.path.join(final(env.runs[f"gpu_{label}"]["out"]), "model.h5"))
        detail[label] = {"step1_rel": diffs[1], "step20_rel": diffs[STEPS], "max_rel": diffs[worst],
                         "max_rel_step": worst, "loss_cpu_step20": cpu[STEPS], "loss_gpu_step20": gpu[STEPS],
                         "param_max_abs_diff": pdiff, "param_worst": pwhere}
        if diffs[1] > 1e-5:
            problems.append(f"{label}: step-1 loss differs by {diffs[1]:.2e} relative (> 1e-5)")
        if diffs[worst] > 1e-3:
            problems.append(f"{label}: step-{worst} loss differs by {diffs[worst]:.2e} relative (> 1e-3)")
    if problems:
        raise CheckFailed("; ".join(problems) + f": {detail}")
    return detail


def check_determinism(env):
    detail, problems = {}, []
    long_rows = ERM + DROPOUT + [f"data.train={os.path.join(env.work, 'long.h5')}", "data.max_length=256",
                                 "data.micro_batch=8", "data.global_batch=8", "optim.max_steps=8"]
    for label, sets in (("erm_dropout", ERM + DROPOUT), ("freelb", FREELB), ("erm_long_rows", long_rows)):
        first = env.train(f"gpu_{label}", env.gpu, sets)["out"]
        second = env.train(f"gpu_{label}_repeat", env.gpu, sets)["out"]
        la, lb = losses(first), losses(second)
        differing = [s for s in la if la[s] != lb.get(s)]
        files = {}
        steps = max(la)
        for file in ("model.h5", "optimizer.h5"):
            equal, d, where = compare_files(os.path.join(final(first, steps), file),
                                            os.path.join(final(second, steps), file))
            files[file] = "bitwise equal" if equal else f"max |diff| {d:.3e} at {where}"
        detail[label] = {"losses": "identical" if not differing else f"differ at steps {differing[:5]}", **files}
        if differing or any(v != "bitwise equal" for v in files.values()):
            problems.append(f"{label}: two identical GPU runs differ")
    if problems:
        raise CheckFailed("; ".join(problems) + f": {detail}")
    return detail


def check_resume(env):
    sets = ERM + DROPOUT
    ref = env.train("gpu_erm_dropout", env.gpu, sets)["out"]
    stop = 10
    first = env.train("gpu_erm_dropout_preempted", env.gpu, sets, env={"STURDY_TEST_PREEMPT_AT": str(stop)})
    out = first["out"]
    with open(os.path.join(out, "checkpoints", "latest")) as f:
        latest = f.read().strip()
    if "preempted" not in first["text"] or latest != f"step_{stop:08d}":
        raise CheckFailed(f"the first run did not stop after step {stop} (latest {latest})")
    again = env.train("gpu_erm_dropout_preempted", env.gpu, sets, fresh=False)
    if "resumed from" not in again["text"]:
        raise CheckFailed("the second run did not say it resumed")
    detail = {"stopped_at": latest}
    for file in ("model.h5", "optimizer.h5"):
        equal, d, where = compare_files(os.path.join(final(ref), file), os.path.join(final(out), file))
        detail[file] = "bitwise equal" if equal else f"max |diff| {d:.3e} at {where}"
    la, lb = losses(ref), losses(out)
    differing = [s for s in range(stop + 1, STEPS + 1) if la.get(s) != lb.get(s)]
    detail["losses_after_resume"] = "identical" if not differing else f"differ at steps {differing[:5]}"
    if differing or any(detail[f] != "bitwise equal" for f in ("model.h5", "optimizer.h5")):
        raise CheckFailed(f"resumed run differs from the uninterrupted one: {detail}")
    return detail


def check_ckpt_on_cpu(env):
    run = env.train("gpu_erm", env.gpu, ERM)["out"]
    results = {}
    for side, device in (("gpu", env.gpu), ("cpu", "cpu")):
        r_json = os.path.join(env.work, f"R_{side}.json")
        _, text = env.exec([env.sturdy, "eval", "--checkpoint", run, "--data", os.path.join(env.work, "valid.h5"),
                            "--suite", env.suite, "--output", r_json, "--set", f"run.device={device}"],
                           f"eval_{side}")
        if f"device {device}" not in text:
            raise CheckFailed(f"eval with run.device={device}: the log does not say 'device {device}'")
        with open(r_json) as f:
            results[side] = json.load(f)
    g, c = results["gpu"], results["cpu"]
    pairs = [("clean", g["clean"]["accuracy"], c["clean"]["accuracy"])]
    for pg, pc in zip(g.get("perturbations", []), c.get("perturbations", [])):
        pairs.append((f"{pg.get('name')}@{pg.get('rate')}", pg["accuracy"], pc["accuracy"]))
    if len(pairs) < 2:
        raise CheckFailed(f"no perturbation rows in R.json (suite {env.suite})")
    detail = {name: {"gpu": a, "cpu": b} for name, a, b in pairs}
    detail["ece_abs_diff"] = abs(g["clean"].get("ece", 0) - c["clean"].get("ece", 0))
    bad = [n for n, a, b in pairs if abs(a - b) > 1e-6]
    if bad:
        raise CheckFailed(f"accuracy differs on cpu vs gpu for {bad}: {detail}")
    return detail


def check_bf16(env):
    fp32 = losses(env.train("gpu_erm", env.gpu, ERM)["out"])
    bf16 = losses(env.train("gpu_erm_bf16", env.gpu, ERM + ["precision.dtype=bf16"])["out"])
    head = sum(bf16[s] for s in range(1, 6)) / 5
    tail = sum(bf16[s] for s in range(STEPS - 4, STEPS + 1)) / 5
    detail = {"bf16_step1": bf16[1], "bf16_step20": bf16[STEPS], "fp32_step20": fp32[STEPS],
              "bf16_mean_1_5": head, "bf16_mean_16_20": tail, "step20_rel_diff": rel(bf16[STEPS], fp32[STEPS])}
    if not (tail < head and bf16[STEPS] < bf16[1]):
        raise CheckFailed(f"the bf16 run does not train (loss does not fall): {detail}")
    if detail["step20_rel_diff"] > 3e-2:
        raise CheckFailed(f"bf16 step-20 loss {bf16[STEPS]:.5f} is {detail['step20_rel_diff']:.2e} relative from "
                          f"fp32's {fp32[STEPS]:.5f} (> 3e-2)")
    return detail


def check_two_ranks(env):
    if not env.mpirun:
        return {"skipped": "no mpirun on PATH (set STURDY_MPIRUN)"}
    backend = "nccl" if env.gpu == "cuda" and env.gpus >= 2 else "mpi"
    common = ERM + ["optim.max_steps=2", f"dist.backend={backend}"]
    one = env.train("gpu_r1_2steps", env.gpu, common + ["data.micro_batch=16"])
    two = env.train("gpu_r2_2steps", env.gpu, common + ["data.micro_batch=8"], ranks=2)
    if "on 2 rank(s)" not in two["text"]:
        raise CheckFailed("the 2-rank run does not say 'on 2 rank(s)' (did mpirun start 2 singletons?)")
    equal, d, where = compare_files(os.path.join(final(one["out"], 2), "model.h5"),
                                    os.path.join(final(two["out"], 2), "model.h5"))
    la, lb = losses(one["out"]), losses(two["out"])
    loss_rel = max(rel(lb[s], la[s]) for s in (1, 2))
    detail = {"backend": backend, "gpus_visible": env.gpus, "param_max_abs_diff": d, "where": where,
              "bitwise": equal, "loss_max_rel": loss_rel}
    if d > 1e-5 or loss_rel > 1e-5:
        raise CheckFailed(f"2 ranks differ from 1 rank with the same global batch: {detail}")
    return detail


CHECKS = {"cpu_vs_gpu": check_cpu_vs_gpu, "determinism": check_determinism, "resume": check_resume,
          "ckpt_on_cpu": check_ckpt_on_cpu, "bf16": check_bf16, "two_ranks": check_two_ranks}


def visible_gpus():
    """(count, how it was found)."""
    why = []
    try:
        import torch
        if torch.cuda.is_available():
            return torch.cuda.device_count(), f"torch {torch.__version__}"
        why.append(f"torch {torch.__version__}: torch.cuda.is_available() is false")
    except ImportError:
        why.append("no torch in this Python")
    try:  # a CPU-only torch on a GPU machine: ask the driver
        p = subprocess.run(["nvidia-smi", "-L"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=60)
        n = sum(1 for line in p.stdout.splitlines() if line.startswith("GPU "))
        if n:
            return n, "nvidia-smi -L"
        why.append("nvidia-smi -L lists none")
    except (OSError, subprocess.TimeoutExpired):
        why.append("no nvidia-smi")
    return 0, "; ".join(why)


def main():
    global H5
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build", help="the build folder (its src/apps/sturdy is run) or the sturdy binary")
    ap.add_argument("--out", default="", help="work folder and JSON summary (default BUILD/gpu-train-checks)")
    ap.add_argument("--checks", default="", help="comma-separated subset of: " + ", ".join(CHECKS))
    ap.add_argument("--cpu-dry-run", action="store_true",
                    help="no GPU: run every flow with run.device=cpu on both sides (tests this script)")
    ap.add_argument("--h5-ctypes", action="store_true", help="read HDF5 through libhdf5 even when h5py exists")
    a = ap.parse_args()

    names = [n for n in a.checks.split(",") if n] or list(CHECKS)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        print(f"train_checks: unknown check(s) {unknown}; known: {', '.join(CHECKS)}", file=sys.stderr)
        return 2
    gpus, how = visible_gpus()
    if a.cpu_dry_run:
        device = "cpu"
    elif gpus == 0:
        print(f"SKIP: no CUDA device is visible ({how}); nothing run. On a GPU machine run it again; "
              f"without one, --cpu-dry-run exercises the flows on the CPU.")
        return 77
    else:
        device = "cuda"
    sturdy = a.build if os.path.isfile(a.build) else os.path.join(a.build, "src", "apps", "sturdy")
    if not os.access(sturdy, os.X_OK):
        print(f"train_checks: {sturdy} is not an executable (build the sturdy target)", file=sys.stderr)
        return 2
    sturdy = os.path.abspath(sturdy)
    work = os.path.abspath(a.out or os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(sturdy))),
                                                 "gpu-train-checks"))
    mpirun = os.environ.get("STURDY_MPIRUN") or shutil.which("mpirun") or ""
    H5 = Hdf5(force_ctypes=a.h5_ctypes)
    env = Env(sturdy, work, device, gpus, mpirun)
    print(f"train_checks: {sturdy}, device {device} ({gpus} GPU(s) visible, {how}), work {work}, "
          f"HDF5 via {'h5py' if H5.h5py else 'libhdf5 (ctypes)'}, mpirun {mpirun or 'none'}", flush=True)
    t_start = time.time()
    results, failed = {}, []
    try:
        env.setup()
    except CheckFailed as e:
        print(f"FAILED to prepare the toy corpus: {e}")
        return 1
    for name in names:
        t0 = time.time()
        print(f"== {name}", flush=True)
        try:
            detail = CHECKS[name](env)
            status = "skipped" if "skipped" in detail else "passed"
        except CheckFailed as e:
            detail, status = {"error": str(e)}, "failed"
        except Exception:  # a bug here or an unexpected output: report it as this check's failure
            detail, status = {"error": traceback.format_exc()}, "failed"
        results[name] = {"status": status, "seconds": round(time.time() - t0, 1), "detail": detail}
        if status == "failed":
            failed.append(name)
        print(f"== {name}: {status.upper()} ({time.time() - t0:.1f} s) {json.dumps(detail, default=str)[:600]}",
              flush=True)
    summary = {"sturdy": sturdy, "device": device, "cpu_dry_run": a.cpu_dry_run, "gpus_visible": gpus,
               "seconds": round(time.time() - t_start, 1), "passed": not failed, "failed": failed,
               "checks": results}
    with open(os.path.join(work, "train_checks.json"), "w") as f:
        json.dump(summary, f, indent=2, default=str)
    print(json.dumps({"passed": not failed, "failed": failed, "device": device, "seconds": summary["seconds"],
                      "status": {n: r["status"] for n, r in results.items()},
                      "json": os.path.join(work, "train_checks.json")}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

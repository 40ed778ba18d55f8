#!/usr/bin/env python3
"""Projected data-parallel step time and efficiency (docs/scaling.md): an alpha-beta model.

  python3 bench/scaling_model.py                          # the tables of docs/scaling.md
  python3 bench/scaling_model.py --comm-log comm.txt      # alpha, beta fitted from `sturdy bench comm`

Ring all-reduce of n bytes over p ranks:  t(n, p) = 2(p-1)*alpha + 2(p-1)/p * n / beta
(beta is the bus bandwidth of nccl-tests: busbw = algbw * 2(p-1)/p, so a measured busbw is beta).

Gradient sync is bucketed and started during backward (Sturdy's GradSync, PyTorch DDP): buckets
are reduced one after another on one channel while backward continues. The first bucket (1 MB)
is ready after a share of backward proportional to its bytes; the last bucket can only start when
backward ends. So the sync ends at   max(t_first + t_comm, t_bwd + t_last)   and the exposed
(not hidden) communication is that minus t_bwd. When comm < backward only the last bucket shows;
otherwise the hidden share is about min(1, t_bwd / t_comm), as the brief of issue #10 puts it.

Compute per step from FLOPs: 6 * N * tokens (forward 2N, backward 4N per token) at a stated MFU
of the H200's dense bf16 peak; backward = 2/3 of it. The optimizer (fused AdamW, memory-bound) is
--adam-bytes bytes per parameter at a share of HBM bandwidth. Everything not measured here is an
argument with its default printed, so the tables can be re-run with other assumptions.
"""
import argparse
import re
import sys


def ring_time(n_bytes, p, alpha, beta):
    if p <= 1:
        return 0.0
    return 2 * (p - 1) * alpha + 2 * (p - 1) / p * n_bytes / beta


def sync_exposed(n_bytes, p, alpha, beta, t_bwd, first_bucket, bucket):
    """Seconds of gradient sync not hidden behind backward (bucketed, overlapped)."""
    if p <= 1:
        return 0.0, 0.0
    t_comm = ring_time(n_bytes, p, alpha, beta)
    t_first = t_bwd * min(1.0, first_bucket / n_bytes)  # backward time until the first bucket is full
    last = n_bytes - first_bucket
    last = last - bucket * int((last - 1) // bucket) if last > 0 else first_bucket
    t_last = ring_time(min(last, n_bytes), p, alpha, beta)
    end = max(t_first + t_comm, t_bwd + t_last)
    return t_comm, end - t_bwd


def fit_alpha_beta(path, p, max_bytes):
    """Least squares t = 2(p-1)*alpha + 2(p-1)/p * n / beta over the all-reduce table of a comm log."""
    rows = []
    for line in open(path):
        parts = line.split()
        if len(parts) == 7 and parts[0].isdigit() and parts[2] in ("float32", "float64"):
            n, t_us = float(parts[0]), float(parts[3])
            if n <= max_bytes:  # the cache-resident range, where the model is linear
                rows.append((n, t_us * 1e-6))
    if len(rows) < 2:
        raise SystemExit(f"{path}: no all-reduce table found (output of `sturdy bench comm`)")
    xs = [2 * (p - 1) / p * n for n, _ in rows]
    ys = [t for _, t in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    intercept = my - slope * mx
    return max(intercept, 0.0) / (2 * (p - 1)), 1.0 / slope, rows


def table(title, params, tokens_fn, ps, fabric_fn, a, strong=False):
    print(f"\n### {title}\n")
    print("| GPUs | fabric | tokens/GPU | compute (ms) | backward (ms) | all-reduce (ms) | exposed (ms) "
          "| hidden | step (ms) | efficiency |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    grad_bytes = params * a.grad_bytes
    t_opt = params * a.adam_bytes / (a.hbm_tbs * 1e12 * a.hbm_share)
    for p in ps:
        name, alpha, beta = fabric_fn(p)
        tokens = tokens_fn(p)
        t_compute = 6 * params * tokens / (a.peak_tflops * 1e12 * a.mfu)
        t_bwd = t_compute * 2 / 3
        t_comm, exposed = sync_exposed(grad_bytes, p, alpha, beta, t_bwd, a.first_bucket_mb * 2**20,
                                       a.bucket_mb * 2**20)
        step = t_compute + t_opt + exposed
        hidden = 1 - exposed / t_comm if t_comm > 0 else 1.0
        # Weak scaling: against one GPU with the same per-GPU batch. Strong scaling: T1 / (p * Tp);
        # the optimizer does not shrink with p in data parallelism (every rank updates every weight).
        eff = (t_compute * p + t_opt) / (p * step) if strong else (t_compute + t_opt) / step
        print(f"| {p} | {name} | {tokens:,.0f} | {1e3 * t_compute:.1f} | {1e3 * t_bwd:.1f} | {1e3 * t_comm:.1f} "
              f"| {1e3 * exposed:.1f} | {100 * hidden:.0f}% | {1e3 * step:.1f} | {100 * eff:.0f}% |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--comm-log", help="output of `mpirun -np 2 sturdy bench comm` (fits the shared-memory alpha, beta)")
    ap.add_argument("--fit-max-mb", type=float, default=16.0, help="largest all-reduce size used in the fit")
    ap.add_argument("--shm-alpha-us", type=float, default=None, help="shared-memory alpha (default: fitted or 5.5)")
    ap.add_argument("--shm-busbw", type=float, default=None, help="shared-memory beta, GB/s (default: fitted or 5.0)")
    ap.add_argument("--nvlink-busbw", type=float, default=400.0, help="NCCL all-reduce busbw in an 8-GPU NVLink 4 node, GB/s")
    ap.add_argument("--nvlink-alpha-us", type=float, default=1.5, help="per ring step inside a node, us")
    ap.add_argument("--ib-busbw", type=float, default=45.0, help="per-GPU NDR 400 Gb/s NIC, GB/s achieved")
    ap.add_argument("--ib-alpha-us", type=float, default=5.0, help="per ring step across nodes, us")
    ap.add_argument("--gpus-per-node", type=int, default=8)
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="H200 dense bf16 peak")
    ap.add_argument("--mfu", type=float, default=0.40)
    ap.add_argument("--grad-bytes", type=int, default=4, help="bytes per gradient element reduced (fp32)")
    ap.add_argument("--adam-bytes", type=float, default=36.0, help="AdamW bytes moved per parameter")
    ap.add_argument("--hbm-tbs", type=float, default=4.8)
    ap.add_argument("--hbm-share", type=float, default=0.6)
    ap.add_argument("--bucket-mb", type=float, default=25.0)
    ap.add_argument("--first-bucket-mb", type=float, default=1.0)
    ap.add_argument("--tokens-per-gpu", type=int, default=16384, help="weak scaling: 16 x 1024 tokens per GPU per step")
    ap.add_argument("--cpu-step-ms", type=float, default=None, help="measured 1-rank step of the CPU bench model")
    ap.add_argument("--cpu-params", type=float, default=560_000, help="parameters of the CPU bench model")
    ap.add_argument("--cpu-tokens", type=float, default=3100, help="real tokens per global batch of the CPU bench")
    a = ap.parse_args()

    shm_alpha, shm_beta = 5.5e-6, 5.0e9
    if a.comm_log:
        shm_alpha, shm_beta, rows = fit_alpha_beta(a.comm_log, 2, a.fit_max_mb * 2**20)
        print(f"fitted from {a.comm_log} ({len(rows)} sizes <= {a.fit_max_mb:g} MB, 2 ranks): "
              f"alpha = {shm_alpha * 1e6:.1f} us, beta = {shm_beta / 1e9:.2f} GB/s")
    if a.shm_alpha_us is not None:
        shm_alpha = a.shm_alpha_us * 1e-6
    if a.shm_busbw is not None:
        shm_beta = a.shm_busbw * 1e9
    print("assumptions: " + ", ".join(f"{k}={v}" for k, v in vars(a).items() if v is not None and k != "comm_log"))

    def gpu_fabric(p):
        if p <= a.gpus_per_node:
            return "NVLink", a.nvlink_alpha_us * 1e-6, a.nvlink_busbw * 1e9
        return "IB NDR", a.ib_alpha_us * 1e-6, a.ib_busbw * 1e9

    ps = [8, 16, 32, 64, 128, 256, 512]
    for name, n, global_tokens in (("125M", 125e6, 0.5 * 2**20), ("1B", 1.0e9, 2 * 2**20)):
        table(f"{name} parameters, weak scaling: {a.tokens_per_gpu:,} tokens per GPU per step", n,
              lambda p: a.tokens_per_gpu, ps, gpu_fabric, a)
        table(f"{name} parameters, strong scaling: global batch {global_tokens / 2**20:g}M tokens", n,
              lambda p, g=global_tokens: g / p, ps, gpu_fabric, a, strong=True)

    if a.cpu_step_ms:
        # The CPU bench model on one many-core node: measured compute, measured shared-memory alpha/beta.
        print(f"\n### CPU bench model ({a.cpu_params:,.0f} parameters) on one node, shared memory, "
              f"same global batch ({a.cpu_tokens:,.0f} tokens); 1-rank step {a.cpu_step_ms} ms measured\n")
        print("| ranks | compute (ms) | all-reduce (ms) | exposed (ms) | step (ms) | efficiency |")
        print("|---:|---:|---:|---:|---:|---:|")
        for p in (1, 2, 4, 8, 16):
            t_compute = a.cpu_step_ms * 1e-3 / p
            t_comm, exposed = sync_exposed(a.cpu_params * 4, p, shm_alpha, shm_beta, t_compute * 2 / 3,
                                           a.first_bucket_mb * 2**20, a.bucket_mb * 2**20)
            # On a CPU the reduction is work of the same cores (docs/performance.md, Communication):
            # nothing is hidden, the whole all-reduce adds to the step.
            step = t_compute + t_comm
            print(f"| {p} | {1e3 * t_compute:.1f} | {1e3 * t_comm:.2f} | {1e3 * t_comm:.2f} | {1e3 * step:.1f} "
                  f"| {100 * t_compute / step:.0f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

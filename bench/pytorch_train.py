#!/usr/bin/env python3
"""Plain-PyTorch eager reference of `sturdy bench train`: same model, weights, batches, objective.

  sturdy bench train --objective erm --dump /tmp/case.pt ...     # writes weights + batches
  python3 bench/pytorch_train.py --dump /tmp/case.pt --objective erm --nproc 2

The model is written the way a PyTorch user would write Sturdy's classifier (docs/model.md):
embedding -> dropout -> pre-norm blocks (RMSNorm, interleaved RoPE, GQA by repeat_interleave,
matmul + softmax attention, SwiGLU) -> RMSNorm -> masked mean pooling -> linear classifier.
Parameter names are Sturdy's checkpoint names, so the dumped weights load one to one.

Objectives (hyperparameters as src/robust/objective.cpp and the dump's cfg.* entries):
  erm     CE(x)
  freelb  K steps; delta0 = U(-1,1) * init / sqrt(L_i * d), projected to the l2 ball of radius eps
          per example; each step backpropagates CE/K into the parameters and delta;
          delta <- proj(delta + alpha * g / ||g||_F); dropout masks reused across the K steps.
Training: AdamW (decay on matrices only, as Sturdy), global-norm clipping at 1.0, fixed lr.
--nproc N runs N processes with DistributedDataParallel (gloo, file store, no network); each
rank takes the contiguous slice r of every global batch and pads it to its own longest row
(dynamic padding), exactly as Sturdy's sampler and loader do. The loss is the local mean, so
DDP's average over ranks is the mean over the global batch (Sturdy sums CE/global_batch).

Prints one JSON line (rank 0): median ms per step, real (non-pad) tokens/s, the initial loss on
the first global batch in eval mode (the same number Sturdy prints for the same dump), the
BLAS core and the load average. One thread per process (torch.set_num_threads(1)).
"""
import argparse
import contextlib
import ctypes
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

MASK_VALUE = -1e9


def blas_core():
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return "n/a"


class Dropout(nn.Module):
    """nn.Dropout that can keep its masks (FreeLB reuses them across its K steps)."""

    def __init__(self, p):
        super().__init__()
        self.p, self.reuse, self.mask = p, False, None

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        if not self.reuse:
            return F.dropout(x, self.p, True)
        if self.mask is None or self.mask.shape != x.shape:
            self.mask = torch.empty_like(x).bernoulli_(1 - self.p).div_(1 - self.p)
        return x * self.mask


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope(x, cos, sin):  # x (B,T,H,hd), pairs (2i, 2i+1) rotated by t * theta^(-2i/hd)
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.h, self.kv, self.hd = c["heads"], c["kv_heads"], c["dim"] // c["heads"]
        self.wq = nn.Linear(c["dim"], self.h * self.hd, bias=False)
        self.wk = nn.Linear(c["dim"], self.kv * self.hd, bias=False)
        self.wv = nn.Linear(c["dim"], self.kv * self.hd, bias=False)
        self.wo = nn.Linear(self.h * self.hd, c["dim"], bias=False)

    def forward(self, x, cos, sin, bias):
        B, T, _ = x.shape
        q = rope(self.wq(x).view(B, T, self.h, self.hd), cos, sin).transpose(1, 2)
        k = rope(self.wk(x).view(B, T, self.kv, self.hd), cos, sin).transpose(1, 2)
        v = self.wv(x).view(B, T, self.kv, self.hd).transpose(1, 2)
        if self.h != self.kv:
            k = k.repeat_interleave(self.h // self.kv, dim=1)
            v = v.repeat_interleave(self.h // self.kv, dim=1)
        s = q @ k.transpose(-1, -2) / math.sqrt(self.hd) + bias
        return self.wo((s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, -1))


class FeedForward(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.w1 = nn.Linear(c["dim"], c["ffn"], bias=False)
        self.w2 = nn.Linear(c["ffn"], c["dim"], bias=False)
        self.w3 = nn.Linear(c["dim"], c["ffn"], bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention, self.feed_forward = Attention(c), FeedForward(c)
        self.attention_norm = RMSNorm(c["dim"], c["norm_eps"])
        self.ffn_norm = RMSNorm(c["dim"], c["norm_eps"])
        self.drop1, self.drop2 = Dropout(c["dropout"]), Dropout(c["dropout"])

    def forward(self, x, cos, sin, bias):
        h = x + self.drop1(self.attention(self.attention_norm(x), cos, sin, bias))
        return h + self.drop2(self.feed_forward(self.ffn_norm(h)))


class Classifier(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.tok_embeddings = nn.Embedding(c["vocab_size"], c["dim"])
        self.drop = Dropout(c["dropout"])
        self.layers = nn.ModuleList(Block(c) for _ in range(c["layers"]))
        self.norm = RMSNorm(c["dim"], c["norm_eps"])
        self.classifier = nn.Linear(c["dim"], c["num_classes"])
        hd = c["dim"] // c["heads"]
        inv = c["rope_theta"] ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
        ang = torch.outer(torch.arange(c["max_seq_len"], dtype=torch.float64), inv)
        self.register_buffer("cos", ang.cos().float(), persistent=False)
        self.register_buffer("sin", ang.sin().float(), persistent=False)

    def embed(self, ids):
        return self.tok_embeddings(ids)

    def forward(self, ids, mask, delta=None):
        """Logits (B,C); delta (B,T,D) is added to the embedding output (robust objectives)."""
        B, T = ids.shape
        x = self.embed(ids)
        if delta is not None:
            x = x + delta
        cos, sin = self.cos[:T, None, :], self.sin[:T, None, :]  # (T,1,hd/2)
        bias = torch.zeros(B, 1, 1, T).masked_fill_(~mask[:, None, None, :], MASK_VALUE)
        x = self.drop(x)
        for layer in self.layers:
            x = layer(x, cos, sin, bias)
        h = self.norm(x)
        m = mask.unsqueeze(-1).to(h.dtype)
        return self.classifier((h * m).sum(1) / m.sum(1).clamp_min(1))

    def reuse_dropout_masks(self, on):
        for mod in self.modules():
            if isinstance(mod, Dropout):
                mod.reuse, mod.mask = on, None


def rank_slice(batch, rank, world):
    """Rows of rank `rank`, padded to their own longest row (dynamic padding)."""
    ids, mask, labels = batch
    n = ids.shape[0] // world
    ids, mask, labels = ids[rank * n:(rank + 1) * n], mask[rank * n:(rank + 1) * n], labels[rank * n:(rank + 1) * n]
    longest = max(1, int(mask.sum(1).max()))
    return ids[:, :longest].contiguous(), mask[:, :longest].contiguous(), labels.contiguous()


def project_l2(delta, m, eps):  # per example, padded positions zero
    delta = delta * m
    norm = delta.flatten(1).norm(dim=1).view(-1, 1, 1)
    return delta * (eps / norm.clamp_min(1e-12)).clamp_max(1.0)


def freelb_step(model, net, ids, mask, labels, scale, c, ddp):
    """One FreeLB micro-step: K forward/backward passes, gradients of CE/K accumulated."""
    K, alpha, eps, init = c["steps"], c["step_size"], c["epsilon"], c["init"]
    m = mask.unsqueeze(-1).float()
    with torch.no_grad():
        lengths = mask.sum(1).float().clamp_min(1).view(-1, 1, 1)
        delta = (torch.rand(ids.shape + (c["dim"],)) * 2 - 1) * init / torch.sqrt(lengths * c["dim"])
        delta = project_l2(delta, m, eps)
    model.reuse_dropout_masks(True)
    for k in range(K):
        delta.requires_grad_(True)
        sync = ddp is None or k + 1 == K
        with (contextlib.nullcontext() if sync else ddp.no_sync()):
            loss = F.cross_entropy(net(ids, mask, delta), labels, reduction="sum")
            (loss * scale / K).backward()
        if k + 1 < K:
            with torch.no_grad():
                g = delta.grad * m
                g = g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)
                delta = project_l2(delta + alpha * g, m, eps)
    model.reuse_dropout_masks(False)
    return loss


def run(a, rank, world):
    torch.set_num_threads(1)
    d = torch.load(a.dump)
    c = {k[4:]: v.item() for k, v in d.items() if k.startswith("cfg.")}
    for k in ("dim", "layers", "heads", "kv_heads", "ffn", "vocab_size", "num_classes", "max_seq_len", "steps",
              "global_batch"):
        c[k] = int(c[k])
    model = Classifier(c)
    params = {k[6:]: v for k, v in d.items() if k.startswith("param.")}
    missing = set(dict(model.named_parameters())) ^ set(params)
    if missing:
        raise SystemExit(f"parameter names differ from the dump: {sorted(missing)}")
    model.load_state_dict(params, strict=False)
    batches = [(d[f"batch.{i}.ids"], d[f"batch.{i}.mask"].bool(), d[f"batch.{i}.labels"])
               for i in range(int(d["cfg.batches"].item()))]

    initial_loss = None
    if rank == 0:
        model.eval()
        with torch.no_grad():
            ids, mask, labels = batches[0]
            initial_loss = F.cross_entropy(model(ids, mask), labels).item()
    model.train()

    ddp = None
    net = model
    if world > 1:
        dist.init_process_group("gloo", init_method="file://" + a.store, rank=rank, world_size=world)
        ddp = net = nn.parallel.DistributedDataParallel(model)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    local = [rank_slice(b, rank, world) for b in batches]
    # The loss is CE_sum * scale: 1/global_batch on one rank; 1/local_batch under DDP (it averages).
    scale = 1.0 / local[0][0].shape[0]
    global_tokens = [int(b[1].sum()) for b in batches]
    slices = [rank_slice(b, r, world) for b in batches for r in range(world)]
    padding_share = 1 - sum(int(s[1].sum()) for s in slices) / sum(s[0].numel() for s in slices)

    times = [[] for _ in batches]
    cpu = [[] for _ in batches]
    phase = [0.0, 0.0, 0.0]  # CPU seconds: objective (forward + backward, DDP's all-reduce inside), clip, AdamW
    total = a.warmup + a.steps
    prof = None
    for it in range(total):
        if it == a.warmup and rank == 0 and a.trace:
            prof = torch.autograd.profiler.profile()
            prof.__enter__()
        i = it % len(local)
        ids, mask, labels = local[i]
        t0, c0 = time.perf_counter(), time.process_time()
        if a.objective == "erm":
            loss = F.cross_entropy(net(ids, mask), labels, reduction="sum")
            (loss * scale).backward()
        else:
            freelb_step(model, net, ids, mask, labels, scale, c, ddp)
        c1 = time.process_time()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        c2 = time.process_time()
        opt.step()
        opt.zero_grad(set_to_none=False)
        c3 = time.process_time()
        if it >= a.warmup:
            times[i].append(time.perf_counter() - t0)
            step_cpu = torch.tensor([c3 - c0], dtype=torch.float64)
            if world > 1:
                dist.all_reduce(step_cpu)  # summed over ranks, as Sturdy
            cpu[i].append(step_cpu.item())
            phase[0] += c1 - c0
            phase[1] += c2 - c1
            phase[2] += c3 - c2
    if prof is not None:
        prof.__exit__(None, None, None)
        prof.export_chrome_trace(a.trace)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    if rank != 0:
        return
    # Per batch: the median time over its repetitions; tokens/s over one pass of the batches.
    med = [statistics.median(t) for t in times if t]
    med_cpu = [statistics.median(t) for t in cpu if t]
    total_phase = sum(phase)
    toks = [global_tokens[i] for i, t in enumerate(times) if t]
    out = {"impl": "pytorch", "torch": torch.__version__, "objective": a.objective, "ranks": world,
           "threads_per_rank": torch.get_num_threads(), "blas_core": blas_core(),
           "loadavg": os.getloadavg()[0], "global_batch": c["global_batch"], "batches": len(batches),
           "steps": a.steps, "ms_per_step": round(1e3 * sum(med) / len(med), 3),
           "tokens_per_second": round(sum(toks) / sum(med), 1),
           "tokens_per_cpu_second": round(sum(toks) / sum(med_cpu), 1),
           "cpu_share": {"objective": phase[0] / total_phase, "clip": phase[1] / total_phase,
                         "adamw": phase[2] / total_phase}, "initial_loss": initial_loss, "padding_share": round(padding_share, 4),
           "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    print(json.dumps(out), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dump", required=True, help="weights + batches from `sturdy bench train --dump`")
    p.add_argument("--objective", choices=["erm", "freelb"], default="erm")
    p.add_argument("--nproc", type=int, default=1, help="DDP processes (gloo)")
    p.add_argument("--steps", type=int, default=16, help="timed steps (a multiple of the dump's batches)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--trace", default="", help="rank 0: autograd profiler chrome trace of the timed steps")
    p.add_argument("--rank", type=int, default=-1, help=argparse.SUPPRESS)
    p.add_argument("--store", default="", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.nproc == 1:
        run(a, 0, 1)
        return 0
    if a.rank >= 0:
        run(a, a.rank, a.nproc)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        store = os.path.join(tmp, "store")
        env = dict(os.environ, OMP_NUM_THREADS="1")
        procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), *sys.argv[1:], "--rank", str(r),
                                   "--store", store], env=env) for r in range(a.nproc)]
        codes = [q.wait() for q in procs]
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())

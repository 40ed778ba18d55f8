#!/usr/bin/env python3
"""PyTorch-eager baseline of one Sturdy training step (docs/kernels.md, scripts/gpu-check.sh).

The same Llama-style classifier as include/sturdy/model/transformer.h (docs/model.md):
embedding -> dropout -> N pre-norm blocks (RMSNorm, interleaved RoPE, GQA attention,
SwiGLU FFN) -> RMSNorm -> masked mean pooling -> linear classifier; cross-entropy; AdamW.
Prints one JSON line: ms/step and tokens/s (real tokens) over timed steps after warm-up.

  python3 bench/pytorch_step.py --device cuda --dtype bf16 --steps 30

scripts/gpu-step-compare.sh runs it next to `sturdy bench train --device cuda --bf16` on the
same shape: --vocab 260 (Sturdy's byte tokenizer), --full-length (every row --seq real
tokens, no padding, as Sturdy's rows of >= --seq bytes truncated to --max-length), the same
--batch as Sturdy's --global-batch, dropout, AdamW (lr 1e-4, weight decay 0.01) and global-norm
clipping at 1.0. Sturdy decays only matrices and syncs once a step for its loss and norm;
this loop does neither: the usual eager-PyTorch step.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


def rope_tables(seq, head_dim, theta, device):
    inv = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    ang = torch.arange(seq, dtype=torch.float64)[:, None] * inv[None, :]
    return ang.cos().float().to(device), ang.sin().float().to(device)  # (T, hd/2)


def apply_rope(x, cos, sin):  # x (B,H,T,hd), pairs (2i, 2i+1)
    x2 = x.float().unflatten(-1, (-1, 2))
    a, b = x2[..., 0], x2[..., 1]
    out = torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1)
    return out.flatten(-2).type_as(x)


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.h, self.kv, self.hd = a.heads, a.kv_heads, a.dim // a.heads
        self.wq = nn.Linear(a.dim, self.h * self.hd, bias=False)
        self.wk = nn.Linear(a.dim, self.kv * self.hd, bias=False)
        self.wv = nn.Linear(a.dim, self.kv * self.hd, bias=False)
        self.wo = nn.Linear(self.h * self.hd, a.dim, bias=False)
        self.w1 = nn.Linear(a.dim, a.ffn, bias=False)
        self.w2 = nn.Linear(a.ffn, a.dim, bias=False)
        self.w3 = nn.Linear(a.dim, a.ffn, bias=False)
        self.attention_norm, self.ffn_norm = RMSNorm(a.dim, 1e-5), RMSNorm(a.dim, 1e-5)
        self.drop = nn.Dropout(a.dropout)

    def attention(self, x, cos, sin, bias):
        B, T, _ = x.shape
        q = self.wq(x).view(B, T, self.h, self.hd).transpose(1, 2)
        k = self.wk(x).view(B, T, self.kv, self.hd).transpose(1, 2)
        v = self.wv(x).view(B, T, self.kv, self.hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        rep = self.h // self.kv
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        if hasattr(F, "scaled_dot_product_attention"):
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        else:  # torch 1.x
            s = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd) + bias
            o = s.softmax(-1) @ v
        return self.wo(o.transpose(1, 2).reshape(B, T, -1))

    def forward(self, x, cos, sin, bias):
        h = x + self.drop(self.attention(self.attention_norm(x), cos, sin, bias))
        f = self.ffn_norm(h)
        return h + self.drop(self.w2(F.silu(self.w1(f)) * self.w3(f)))


class Classifier(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.tok_embeddings = nn.Embedding(a.vocab, a.dim)
        self.layers = nn.ModuleList(Block(a) for _ in range(a.layers))
        self.norm = RMSNorm(a.dim, 1e-5)
        self.classifier = nn.Linear(a.dim, a.classes)
        self.drop = nn.Dropout(a.dropout)
        self.hd, self.theta = a.dim // a.heads, a.rope_theta
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, ids, mask):
        B, T = ids.shape
        cos, sin = rope_tables(T, self.hd, self.theta, ids.device)
        bias = torch.where(mask[:, None, None, :], 0.0, -1e9).to(ids.device)  # bidirectional, padded keys masked
        x = self.drop(self.tok_embeddings(ids))
        for layer in self.layers:
            x = layer(x, cos, sin, bias)
        h = self.norm(x)
        m = mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp_min(1)
        return self.classifier(pooled)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="bf16", help="bf16 = autocast, fp32 master weights")
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", dest="kv_heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=1376)
    p.add_argument("--classes", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--rope-theta", dest="rope_theta", type=float, default=10000.0)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--full-length", dest="full_length", action="store_true",
                   help="every row --seq real tokens (default: lengths uniform in [seq/2, seq])")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=30)
    a = p.parse_args()
    if a.dim % a.heads or a.heads % a.kv_heads:
        p.error("--dim must be a multiple of --heads, and --heads of --kv-heads")

    torch.manual_seed(a.seed)
    dev = torch.device(a.device)
    model = Classifier(a).to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
    ids = torch.randint(0, a.vocab, (a.batch, a.seq), device=dev)
    if a.full_length:
        lengths = torch.full((a.batch,), a.seq, device=dev)
    else:
        lengths = torch.randint(a.seq // 2, a.seq + 1, (a.batch,), device=dev)
    mask = torch.arange(a.seq, device=dev)[None, :] < lengths[:, None]
    labels = torch.randint(0, a.classes, (a.batch,), device=dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def step():
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.dtype == "bf16"):
            loss = F.cross_entropy(model(ids, mask).float(), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    for _ in range(a.warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    sync()
    sec = (time.perf_counter() - t0) / a.steps
    params = sum(p.numel() for p in model.parameters())
    tokens = int(mask.sum())
    print(json.dumps({"impl": "pytorch_eager", "torch": torch.__version__, "device": str(dev),
                      "gpu": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu",
                      "dtype": a.dtype, "batch": a.batch, "seq": a.seq, "dim": a.dim, "layers": a.layers,
                      "heads": a.heads, "kv_heads": a.kv_heads, "ffn": a.ffn, "vocab": a.vocab, "params": params,
                      "dropout": a.dropout, "full_length": a.full_length, "tokens_per_step": tokens,
                      "warmup": a.warmup, "steps": a.steps,
                      "ms_per_step": round(sec * 1e3, 3), "tokens_per_s": round(tokens / sec, 1),
                      "final_loss": round(float(loss), 4)}))


if __name__ == "__main__":
    main()

"""Cross-check of src/model against an independent plain-torch implementation.

Usage: model_crosscheck.py OUT.h5   (OUT.h5 written by model_dump; see model_dump.cpp)

Re-implements the Sturdy transformer from its formulas (docs/model.md), in float64, with no
Sturdy code: RMSNorm, llama2.c-style interleaved rotary embeddings (complex rotation of the
pairs (x[2i], x[2i+1])), grouped-query attention by repeat_interleave of KV heads, SwiGLU,
pre-norm blocks, final norm, classifier pooling (mean / last / first real token) or LM head.
Masked keys get -1e9 (a fully masked row attends uniformly, as in Sturdy). Compares the
hidden states and outputs of every case: max |diff| / max(1, max |reference|) <= 1e-5.
Exits 1 on any mismatch.
"""
import sys

import h5py
import numpy as np
import torch

TOLERANCE = 1e-5
MASK_VALUE = -1e9


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rotary(x, theta):
    """x (B,T,H,hd): rotate pair i of position t by t * theta^(-2i/hd) (llama2.c convention)."""
    b, t, h, hd = x.shape
    inv_freq = 1.0 / theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    angles = torch.outer(torch.arange(t, dtype=torch.float64), inv_freq)  # (T, hd/2)
    rotation = torch.polar(torch.ones_like(angles), angles)[None, :, None, :]
    pairs = torch.view_as_complex(x.reshape(b, t, h, hd // 2, 2).contiguous())
    return torch.view_as_real(pairs * rotation).reshape(b, t, h, hd)


def attention(x, p, prefix, cfg, mask):
    b, t, _ = x.shape
    heads, kv_heads = cfg["heads"], cfg["kv_heads"]
    hd = cfg["dim"] // heads
    q = (x @ p[prefix + "wq.weight"].T).view(b, t, heads, hd)
    k = (x @ p[prefix + "wk.weight"].T).view(b, t, kv_heads, hd)
    v = (x @ p[prefix + "wv.weight"].T).view(b, t, kv_heads, hd)
    q, k = rotary(q, cfg["rope_theta"]), rotary(k, cfg["rope_theta"])
    rep = heads // kv_heads
    k = k.repeat_interleave(rep, dim=2)  # query head h reads KV head h // rep
    v = v.repeat_interleave(rep, dim=2)
    q, k, v = (z.transpose(1, 2) for z in (q, k, v))  # (B,H,T,hd)
    scores = q @ k.transpose(-1, -2) / hd ** 0.5
    allowed = mask[:, None, None, :].expand(b, 1, t, t)
    if cfg["causal"]:
        allowed = allowed & torch.ones(t, t, dtype=torch.bool).tril()
    scores = scores.masked_fill(~allowed, MASK_VALUE)
    y = torch.softmax(scores, dim=-1) @ v
    return y.transpose(1, 2).reshape(b, t, heads * hd) @ p[prefix + "wo.weight"].T


def feed_forward(x, p, prefix):
    gate = torch.nn.functional.silu(x @ p[prefix + "w1.weight"].T)
    return (gate * (x @ p[prefix + "w3.weight"].T)) @ p[prefix + "w2.weight"].T


def reference(cfg, p, ids, mask):
    eps = cfg["norm_eps"]
    x = p["tok_embeddings.weight"][ids]
    for i in range(cfg["layers"]):
        l = f"layers.{i}."
        x = x + attention(rms_norm(x, p[l + "attention_norm.weight"], eps), p, l + "attention.", cfg, mask)
        x = x + feed_forward(rms_norm(x, p[l + "ffn_norm.weight"], eps), p, l + "feed_forward.")
    hidden = rms_norm(x, p["norm.weight"], eps)
    if cfg["head"] == "lm":
        return hidden, hidden @ p["output.weight"].T
    pooled = []
    for b in range(ids.shape[0]):
        real = torch.nonzero(mask[b]).flatten().tolist()
        if cfg["pooling"] == "mean":
            pooled.append(hidden[b, real].sum(0) / max(len(real), 1))
        else:
            index = (real[-1] if cfg["pooling"] == "last" else real[0]) if real else 0
            pooled.append(hidden[b, index])
    pooled = torch.stack(pooled)
    return hidden, pooled @ p["classifier.weight"].T + p["classifier.bias"]


def expected_names(cfg):
    names = {"tok_embeddings.weight", "norm.weight"}
    for i in range(cfg["layers"]):
        names |= {f"layers.{i}.attention.{w}.weight" for w in ("wq", "wk", "wv", "wo")}
        names |= {f"layers.{i}.feed_forward.{w}.weight" for w in ("w1", "w2", "w3")}
        names |= {f"layers.{i}.attention_norm.weight", f"layers.{i}.ffn_norm.weight"}
    names |= {"output.weight"} if cfg["head"] == "lm" else {"classifier.weight", "classifier.bias"}
    return names


def attr(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    failures = 0
    worst = 0.0
    with h5py.File(sys.argv[1], "r") as f:
        for case in f:
            g = f[case]
            cfg = {k: attr(v) for k, v in g.attrs.items()}
            cfg["causal"] = bool(cfg["causal"])
            params = {k: torch.from_numpy(g["params"][k][()]).double() for k in g["params"]}
            if set(params) != expected_names(cfg):
                print(f"{case}: parameter names differ: {sorted(set(params) ^ expected_names(cfg))}")
                failures += 1
                continue
            ids = torch.from_numpy(g["ids"][()])
            mask = torch.from_numpy(g["mask"][()]).bool()
            hidden, output = reference(cfg, params, ids, mask)
            for name, ref in (("hidden", hidden), ("output", output)):
                got = torch.from_numpy(g[name][()]).double()
                if got.shape != ref.shape:
                    print(f"{case}/{name}: shape {tuple(got.shape)} != reference {tuple(ref.shape)}")
                    failures += 1
                    continue
                finite = bool(torch.isfinite(got).all())
                diff = (got - ref).abs().max().item() / max(1.0, ref.abs().max().item())
                worst = max(worst, diff)
                ok = finite and diff <= TOLERANCE
                failures += not ok
                print(f"{case:28s} {name:6s} max|diff|/scale = {diff:.3e} "
                      f"(scale {ref.abs().max().item():.2f}) {'ok' if ok else 'MISMATCH'}")
    print(f"worst max|diff|/scale = {worst:.3e}, tolerance {TOLERANCE:g}: "
          f"{'PASS' if failures == 0 else f'FAIL ({failures})'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

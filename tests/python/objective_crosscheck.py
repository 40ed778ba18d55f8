"""Independent check of one update each of FreeLB, SMART, FreeLB at layer 1 (δ on the output
of block 1) and R3F (objective_dump.cpp writes them).

Re-implements the objectives from their formulas (docs/robustness.md) in float64 plain torch,
on the model of model_crosscheck.py, and compares the parameters after one SGD step (lr 0.5)
on the objective's gradients: max |diff| must stay below 1e-5.
"""
import os
import sys

import h5py
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_crosscheck import attention, feed_forward, rms_norm  # noqa: E402

torch.set_default_dtype(torch.float64)
CFG = {"dim": 16, "layers": 2, "heads": 2, "kv_heads": 1, "ffn": 32, "norm_eps": 1e-5,
       "rope_theta": 10000.0, "causal": False}
LR, SCALE = 0.5, 1.0 / 3.0


def blocks(p, x, mask, first, last):
    eps = CFG["norm_eps"]
    for i in range(first, last):
        l = f"layers.{i}."
        x = x + attention(rms_norm(x, p[l + "attention_norm.weight"], eps), p, l + "attention.", CFG, mask)
        x = x + feed_forward(rms_norm(x, p[l + "ffn_norm.weight"], eps), p, l + "feed_forward.")
    return x


def logits_from_embeddings(p, x, mask, first=0):
    """Logits from the embeddings (first = 0) or from the output of block `first`."""
    x = blocks(p, x, mask, first, CFG["layers"])
    hidden = rms_norm(x, p["norm.weight"], CFG["norm_eps"])
    m = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
    return pooled @ p["classifier.weight"].T + p["classifier.bias"]


def ce_sum(logits, labels):
    return torch.nn.functional.cross_entropy(logits, labels, reduction="sum")


def sym_kl(a, b):
    lp, lq = torch.log_softmax(a, -1), torch.log_softmax(b, -1)
    return ((lp.exp() - lq.exp()) * (lp - lq)).sum(-1).mean()


def freelb_ascent(delta, g, m, alpha, eps):
    """δ ← Π_ε(δ + α·g/‖g‖_F) per example, at real tokens."""
    g = g * m
    norm = g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)
    delta = (delta + alpha * g / norm) * m
    dn = delta.flatten(1).norm(dim=1).view(-1, 1, 1)
    return delta * torch.clamp(eps / dn.clamp_min(1e-30), max=1.0)


def freelb(p, ids, mask, labels, steps=3, alpha=0.1, eps=0.05):
    names = list(p)
    grads = {n: torch.zeros_like(p[n]) for n in names}
    m = mask.unsqueeze(-1).to(torch.float64)
    delta = torch.zeros(ids.shape + (CFG["dim"],))
    for k in range(steps):
        d = delta.clone().requires_grad_(True)
        loss = ce_sum(logits_from_embeddings(p, p["tok_embeddings.weight"][ids] + d, mask), labels)
        gs = torch.autograd.grad(loss * SCALE / steps, [p[n] for n in names] + [d])
        for n, g in zip(names, gs[:-1]):
            grads[n] += g
        if k + 1 < steps:
            delta = freelb_ascent(delta, gs[-1], m, alpha, eps)
    return grads


def freelb_layer(p, ids, mask, labels, layer=1, steps=3, alpha=0.1, eps=0.05):
    """FreeLB with δ on the output of block `layer`: every step backpropagates through the
    whole model (the blocks below the layer included), the plain way."""
    names = list(p)
    grads = {n: torch.zeros_like(p[n]) for n in names}
    m = mask.unsqueeze(-1).to(torch.float64)
    site = blocks(p, p["tok_embeddings.weight"][ids], mask, 0, layer)
    delta = torch.zeros(ids.shape + (CFG["dim"],))
    for k in range(steps):
        d = delta.clone().requires_grad_(True)
        loss = ce_sum(logits_from_embeddings(p, site + d, mask, first=layer), labels)
        gs = torch.autograd.grad(loss * SCALE / steps, [p[n] for n in names] + [d], retain_graph=True,
                                 allow_unused=True)
        for n, g in zip(names, gs[:-1]):
            if g is not None:
                grads[n] += g
        if k + 1 < steps:
            delta = freelb_ascent(delta, gs[-1], m, alpha, eps)
    return grads


def r3f(p, ids, mask, labels, noise, lam=2.0):
    """CE(x) + λ·symKL(f(x), f(x + z)) summed over examples, gradient through both views."""
    names = list(p)
    e = p["tok_embeddings.weight"][ids]
    clean = logits_from_embeddings(p, e, mask)
    noisy = logits_from_embeddings(p, e + noise, mask)
    total = (ce_sum(clean, labels) + lam * sym_kl(clean, noisy) * ids.shape[0]) * SCALE
    gs = torch.autograd.grad(total, [p[n] for n in names], allow_unused=True)
    return {n: (g if g is not None else torch.zeros_like(p[n])) for n, g in zip(names, gs)}


def smart(p, ids, mask, labels, delta0, eta=1e-2, eps=5e-3, lam=2.0):
    names = list(p)
    m = mask.unsqueeze(-1).to(torch.float64)
    e = p["tok_embeddings.weight"][ids]
    clean = logits_from_embeddings(p, e, mask)
    ce = ce_sum(clean, labels)
    d = delta0.clone().requires_grad_(True)
    kl_ascent = sym_kl(logits_from_embeddings(p, e.detach() + d, mask), clean.detach())
    g = torch.autograd.grad(kl_ascent, d)[0]
    gmax = g.abs().amax(-1, keepdim=True).clamp_min(1e-12)
    delta = ((delta0 + eta * g / gmax) * m).clamp(-eps, eps)
    adv = logits_from_embeddings(p, e + delta, mask)
    total = (ce + lam * sym_kl(clean, adv) * ids.shape[0]) * SCALE
    gs = torch.autograd.grad(total, [p[n] for n in names], allow_unused=True)
    return {n: (g if g is not None else torch.zeros_like(p[n])) for n, g in zip(names, gs)}


def main():
    with h5py.File(sys.argv[1], "r") as f:
        data = {k: torch.tensor(f[k][...], dtype=torch.float64) for k in f.keys()}
    ids = data["batch.ids"].long()
    mask = data["batch.mask"].bool()
    labels = data["batch.labels"].long()
    initial = {k[len("initial."):]: v for k, v in data.items() if k.startswith("initial.")}
    failures = 0
    for name in ("freelb", "smart", "freelb_layer", "r3f"):
        p = {k: v.clone().requires_grad_(True) for k, v in initial.items()}
        if name == "freelb":
            grads = freelb(p, ids, mask, labels)
        elif name == "smart":
            grads = smart(p, ids, mask, labels, data["smart.delta0"])
        elif name == "freelb_layer":
            grads = freelb_layer(p, ids, mask, labels)
        else:
            grads = r3f(p, ids, mask, labels, data["r3f.noise"])
        worst, where, moved = 0.0, None, 0.0
        for k, v in initial.items():
            expected = v - LR * grads[k]
            got = data[f"{name}.after.{k}"]
            diff = (expected - got).abs().max().item()
            moved = max(moved, (got - v).abs().max().item())
            if diff > worst:
                worst, where = diff, k
        ok = worst <= 1e-5 and moved > 1e-4
        failures += not ok
        print(f"{name}: max |param diff| {worst:.3e} at {where} (largest update {moved:.3e}) -> "
              f"{'ok' if ok else 'FAIL'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

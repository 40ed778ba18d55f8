"""Independent check of `sturdy generate` and `sturdy export` on stories260K, in plain torch.

1. Reads the llama2.c .bin with numpy and runs Meta/llama2.c's forward (complex-number RoPE on
   interleaved pairs) in float64, greedy from BOS.
2. Reads the safetensors folder `sturdy export` wrote (its own parser: u64 length, JSON, raw
   little-endian floats) and runs Hugging Face's forward (rotate_half RoPE on the stored rows).
3. Both token sequences must agree, and their text (decoded with this script's own tok512
   reader) must equal what `sturdy generate` printed.

usage: generate_crosscheck.py STURDY DATA_DIR WORK_DIR    (exit 77 when the data is absent;
       $STURDY_SHARED_DATA/stories260k replaces DATA_DIR when the variable is set)
"""
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import torch

STEPS = 40


def load_llama2c(path):
    raw = open(path, "rb").read()
    dim, hidden, layers, heads, kv, vocab, seq = struct.unpack("<7i", raw[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    f = np.frombuffer(raw, dtype="<f4", offset=28).astype(np.float64)
    pos = 0

    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape))
        out = torch.from_numpy(f[pos:pos + n].reshape(shape).copy())
        pos += n
        return out

    hd = dim // heads
    w = {"emb": take(vocab, dim), "att_norm": take(layers, dim), "wq": take(layers, dim, dim),
         "wk": take(layers, kv * hd, dim), "wv": take(layers, kv * hd, dim), "wo": take(layers, dim, dim),
         "ffn_norm": take(layers, dim), "w1": take(layers, hidden, dim), "w2": take(layers, dim, hidden),
         "w3": take(layers, hidden, dim), "norm": take(dim)}
    take(seq, hd // 2)
    take(seq, hd // 2)
    w["out"] = w["emb"] if shared else take(vocab, dim)
    assert pos == f.size
    cfg = dict(dim=dim, layers=layers, heads=heads, kv=kv, eps=1e-5)
    layer = [{k: w[k][i] for k in ("att_norm", "wq", "wk", "wv", "wo", "ffn_norm", "w1", "w2", "w3")}
             for i in range(layers)]
    return cfg, w["emb"], layer, w["norm"], w["out"]


def load_hf(folder):
    c = json.load(open(os.path.join(folder, "config.json")))
    raw = open(os.path.join(folder, "model.safetensors"), "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]

    def t(name):
        e = header[name]
        assert e["dtype"] == "F32"
        b, end = e["data_offsets"]
        return torch.from_numpy(np.frombuffer(data[b:end], dtype="<f4").astype(np.float64).reshape(e["shape"]))

    names = {"att_norm": "input_layernorm", "wq": "self_attn.q_proj", "wk": "self_attn.k_proj",
             "wv": "self_attn.v_proj", "wo": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
             "w1": "mlp.gate_proj", "w2": "mlp.down_proj", "w3": "mlp.up_proj"}
    layer = [{k: t(f"model.layers.{i}.{v}.weight") for k, v in names.items()}
             for i in range(c["num_hidden_layers"])]
    cfg = dict(dim=c["hidden_size"], layers=c["num_hidden_layers"], heads=c["num_attention_heads"],
               kv=c["num_key_value_heads"], eps=c["rms_norm_eps"], theta=c["rope_theta"])
    return cfg, t("model.embed_tokens.weight"), layer, t("model.norm.weight"), t("lm_head.weight")


def rope_interleaved(x, theta=10000.0):  # x (T, H, hd): pairs (2i, 2i+1) as complex numbers
    T, _, hd = x.shape
    freqs = 1.0 / theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    angles = torch.outer(torch.arange(T, dtype=torch.float64), freqs)
    xc = torch.view_as_complex(x.reshape(T, -1, hd // 2, 2).contiguous())
    return torch.view_as_real(xc * torch.polar(torch.ones_like(angles), angles)[:, None, :]).reshape(x.shape)


def rope_rotate_half(x, theta=10000.0):  # HF: x[i] pairs with x[i + hd/2]
    T, _, hd = x.shape
    freqs = 1.0 / theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    angles = torch.outer(torch.arange(T, dtype=torch.float64), freqs)
    emb = torch.cat([angles, angles], -1)[:, None, :]
    rotated = torch.cat([-x[..., hd // 2:], x[..., :hd // 2]], -1)
    return x * emb.cos() + rotated * emb.sin()


def forward(model, ids, rope):
    cfg, emb, layers, norm_w, out_w = model
    H, KV, D = cfg["heads"], cfg["kv"], cfg["dim"]
    hd = D // H

    def rms(x, w):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + cfg["eps"]) * w

    x = emb[ids]
    T = len(ids)
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    for L in layers:
        h = rms(x, L["att_norm"])
        q = rope((h @ L["wq"].T).view(T, H, hd))
        k = rope((h @ L["wk"].T).view(T, KV, hd)).repeat_interleave(H // KV, dim=1)
        v = (h @ L["wv"].T).view(T, KV, hd).repeat_interleave(H // KV, dim=1)
        att = torch.softmax(torch.einsum("thd,shd->hts", q, k) / hd ** 0.5 + mask, -1)
        x = x + torch.einsum("hts,shd->thd", att, v).reshape(T, D) @ L["wo"].T
        h = rms(x, L["ffn_norm"])
        x = x + (torch.nn.functional.silu(h @ L["w1"].T) * (h @ L["w3"].T)) @ L["w2"].T
    return rms(x, norm_w) @ out_w.T


def greedy(model, rope):
    ids = [1]
    for _ in range(STEPS):
        nxt = int(forward(model, ids, rope)[-1].argmax())
        if nxt in (1, 2):
            break
        ids.append(nxt)
    return ids


def decode(tok_path, ids):
    raw = open(tok_path, "rb").read()
    pos, pieces = 4, []
    while pos < len(raw):
        _, n = struct.unpack("<fi", raw[pos:pos + 8])
        pieces.append(raw[pos + 8:pos + 8 + n])
        pos += 8 + n
    out = b""
    for i, t in enumerate(ids[1:]):
        p = pieces[t]
        if p.startswith(b"<0x") and len(p) == 6:
            p = bytes([int(p[3:5], 16)])
        if i == 0 and p.startswith(b" "):
            p = p[1:]
        out += p
    return out.decode("utf-8", errors="replace")


def main():
    sturdy, data, work = sys.argv[1:4]
    if os.environ.get("STURDY_SHARED_DATA"):  # overrides the folder CMake passed
        data = os.path.join(os.environ["STURDY_SHARED_DATA"], "stories260k")
    model_path, tok = os.path.join(data, "stories260K.bin"), os.path.join(data, "tok512.bin")
    if not (os.path.exists(model_path) and os.path.exists(tok)):
        print(f"SKIP: {model_path} or {tok} not found (optional shared data: stories260k under STURDY_SHARED_DATA)")
        sys.exit(77)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    hf = os.path.join(work, "hf")
    subprocess.run([sturdy, "export", "--checkpoint", model_path, "--tokenizer", tok, "--output", hf], check=True)
    printed = subprocess.run([sturdy, "generate", "--checkpoint", model_path, "--tokenizer", tok, "--temperature", "0",
                              "--max-new-tokens", str(STEPS)], check=True, stdout=subprocess.PIPE,
                             text=True).stdout.rstrip("\n")

    ids_meta = greedy(load_llama2c(model_path), rope_interleaved)
    hf_model = load_hf(hf)
    ids_hf = greedy(hf_model, lambda x: rope_rotate_half(x, hf_model[0]["theta"]))
    text = decode(tok, ids_meta)
    print("llama2.c-style forward:", ids_meta)
    print("HF-style forward on the export:", ids_hf)
    print("text:", repr(text))
    print("sturdy generate:", repr(printed))
    assert ids_meta == ids_hf, "the exported folder (rotate_half RoPE) disagrees with the .bin (interleaved RoPE)"
    assert text == printed, "sturdy generate printed different text"
    print("OK")


if __name__ == "__main__":
    main()

"""Regenerates the binary seed inputs of the fuzz targets (tests/fuzz/corpus/<target>/).

    /usr/bin/python3 tests/fuzz/make_seeds.py path/to/sturdy [TARGET...]   # default: all

ckpt/: state.json and
`latest` texts (the model.h5 case takes a description, fuzz_h5.h). spm/: tiny sentencepiece models from `sturdy tokenizer train`.
llama2c/, safetensors/: small valid weight files and near misses (written here; no sturdy needed).
Text seeds of the other targets are small enough to be written by hand."""
import json
import os
import struct
import subprocess
import sys
import tempfile

sturdy = os.path.abspath(sys.argv[1])
wanted = set(sys.argv[2:])


def want(target):
    return not wanted or target in wanted


here = os.path.dirname(os.path.abspath(__file__))
tmp = tempfile.mkdtemp()


def out(target, name, data):
    os.makedirs(os.path.join(here, "corpus", target), exist_ok=True)
    with open(os.path.join(here, "corpus", target, name), "wb") as f:
        f.write(data)


def prepare_unused(name, text, *args):
    src = os.path.join(tmp, name)
    with open(src, "w") as f:
        f.write(text)
    dst = os.path.join(tmp, name + ".h5")
    subprocess.run([sturdy, "prepare", "--input", src, "--output", dst, *args], check=True,
                   stdout=subprocess.DEVNULL)
    return open(dst, "rb").read()


# --- ckpt -------------------------------------------------------------------------------------
if want("ckpt"):
    out("ckpt", "state_ok", b"\x00" + b'{"step": 12, "epoch": 0, "consumed_samples": 192, "optimizer_step": 12, '
        b'"seed": 1, "world_size": 2, "config": "run: {}\\n", "label_names": ["a", "b"], '
        b'"extra": {"rng_cpu": ["cpu:00", "cpu:11"]}, "sha256": {"model.h5": "00", "optimizer.h5": "11"}}')
    out("ckpt", "state_types", b"\x00" + b'{"step": "12", "epoch": -1, "world_size": 1e30, "label_names": [1]}')
    for i, latest in enumerate([b"step_00000008\n", b"step_00000004", b"../../outside/step_00000001",
                                b"/etc", b"step_0000000x\n", b"", b"step_00000099\n"]):
        out("ckpt", f"latest_{i}", b"\x01" + latest)

# --- spm --------------------------------------------------------------------------------------
if want("spm"):
    lines = "\n".join(f"the {w} fox jumps over {w} dogs number {i}" for i, w in
                      enumerate(["quick", "lazy", "brown", "red", "tiny", "big"] * 20))
    corpus = os.path.join(tmp, "spm.h5")
    with open(os.path.join(tmp, "spm.txt"), "w") as f:
        f.write(lines + "\n")
    subprocess.run([sturdy, "prepare", "--input", os.path.join(tmp, "spm.txt"), "--output", corpus], check=True,
                   stdout=subprocess.DEVNULL)
    for kind, vocab, extra in (("unigram", "50", []), ("bpe", "300", ["--byte-fallback"])):
        model = os.path.join(tmp, f"{kind}.model")
        subprocess.run([sturdy, "tokenizer", "train", "--corpus", corpus, "--vocab-size", vocab, "--output", model,
                        "--model-type", kind, "--threads", "1", "--normalization", "identity", *extra], check=True,
                       stdout=subprocess.DEVNULL)
        out("spm", kind, open(model, "rb").read())

# --- llama2c (llama2c_fuzz.cpp: byte 0 picks whole file / u64 size + header / header + size offset)
# A tiny model: dim 4, hidden 8, 1 layer, 2 heads, 1 kv head, vocab 8, seq_len 4.
if want("llama2c"):
    def llama2c(version, shared, dims=(4, 8, 1, 2, 1, 8, 4)):
        d, f, layers, heads, kv_heads, vocab, seq = dims
        hd = d // heads
        floats = vocab * d + layers * (2 * d + d * d + 2 * d * kv_heads * hd + d * d + 3 * d * f) + d
        if version == 0:
            head = struct.pack("<7i", d, f, layers, heads, kv_heads, vocab if shared else -vocab, seq)
            floats += seq * hd
        else:
            head = struct.pack("<Ii7iB", 0x616b3432, 1, d, f, layers, heads, kv_heads, vocab, seq, int(shared))
            head += b"\0" * (256 - len(head))
        if not shared:
            floats += vocab * d
        return head, head + struct.pack(f"<{floats}f", *[0.01 * (i % 97) for i in range(floats)])

    for version in (0, 1):
        for shared in (True, False):
            head, whole = llama2c(version, shared)
            tag = f"v{version}_{'shared' if shared else 'separate'}"
            out("llama2c", f"file_{tag}", b"\x00" + whole)
            out("llama2c", f"sized_{tag}", b"\x01" + struct.pack("<Q", len(whole)) + head)
            out("llama2c", f"implied_{tag}", b"\x02\x00" + head)
    head, whole = llama2c(0, True)
    out("llama2c", "file_short", b"\x00" + whole[:-4])
    out("llama2c", "file_tiny", b"\x00" + whole[:20])
    head, whole = llama2c(1, True)
    out("llama2c", "file_version2", b"\x00" + whole[:4] + struct.pack("<i", 2) + whole[8:])
    out("llama2c", "file_flag7", b"\x00" + whole[:36] + b"\x07" + whole[37:])
    out("llama2c", "implied_heads3", b"\x02\x00" + llama2c(0, True, (6, 8, 1, 3, 1, 8, 4))[0])
    out("llama2c", "implied_offset", b"\x02\x01" + llama2c(0, False)[0])

# --- safetensors (safetensors_fuzz.cpp: byte 0 picks whole file / header text) -----------------
if want("safetensors"):
    def safetensors(header, data, length=None):
        text = json.dumps(header, separators=(",", ":")).encode() if isinstance(header, dict) else header
        return struct.pack("<Q", len(text) if length is None else length) + text + data

    def entry(dtype, shape, begin, end):
        return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}

    good = {"a": entry("F32", [2, 2], 0, 16), "b": entry("BF16", [3], 16, 22), "empty": entry("I64", [0, 5], 22, 22),
            "__metadata__": {"format": "pt"}}
    data = bytes(range(22))
    out("safetensors", "file_ok", b"\x00" + safetensors(good, data))
    out("safetensors", "file_scalar", b"\x00" + safetensors({"s": entry("F64", [], 0, 8)}, b"\x01" * 8))
    out("safetensors", "file_hole", b"\x00" + safetensors({"a": entry("F32", [2], 0, 8), "b": entry("F32", [1], 12, 16)},
                                                          b"\x02" * 16))
    out("safetensors", "file_overlap", b"\x00" + safetensors({"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 4, 12)},
                                                             b"\x03" * 12))
    out("safetensors", "file_dtype", b"\x00" + safetensors({"a": entry("F8_E4M3", [4], 0, 4)}, b"\x04" * 4))
    out("safetensors", "file_length", b"\x00" + safetensors(good, data, length=1 << 40))
    out("safetensors", "file_tail", b"\x00" + safetensors(good, data + b"tail"))
    out("safetensors", "header_ok", b"\x01" + json.dumps(good).encode())
    out("safetensors", "header_padded", b"\x01" + json.dumps({"x": entry("U8", [7], 0, 7)}).encode() + b"   ")
    out("safetensors", "header_bad_shape", b"\x01" + json.dumps({"x": entry("I32", [-1, 2], 0, 8)}).encode())
    out("safetensors", "header_huge_shape", b"\x01" + json.dumps({"x": entry("I8", [0, 1 << 40, 1 << 40], 0, 0)}).encode())
    out("safetensors", "header_metadata", b"\x01" + json.dumps({"__metadata__": {"k": 1}}).encode())
    # Names and keys with control characters (messages quoting them must stay on one line).
    out("safetensors", "file_escaped_name", b"\x00" + safetensors({"a\nb\u0001": entry("U8", [2], 0, 2),
                                                                    "__metadata__": {"k\r\n": "v\n"}}, b"\x05\x06"))
    out("safetensors", "header_escaped_bad", b"\x01" + json.dumps({"x\ny": entry("U8", [2], 0, 3)}).encode())
    out("safetensors", "header_nested", b"\x01" + json.dumps({"x": entry("U8", [[[[2]]]], 0, 2)}).encode())

print("seeds written under", os.path.join(here, "corpus"))

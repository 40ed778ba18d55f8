"""Regenerates the binary seed inputs of the fuzz targets (tests/fuzz/corpus/<target>/).

    /usr/bin/python3 tests/fuzz/make_seeds.py path/to/sturdy

ckpt/: state.json and
`latest` texts (the model.h5 case takes a description, fuzz_h5.h). spm/: tiny sentencepiece models from `sturdy tokenizer train`.
Text seeds of the other targets are small enough to be written by hand."""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sturdy = os.path.abspath(sys.argv[1])
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
out("ckpt", "state_ok", b"\x00" + b'{"step": 12, "epoch": 0, "consumed_samples": 192, "optimizer_step": 12, '
    b'"seed": 1, "world_size": 2, "config": "run: {}\\n", "label_names": ["a", "b"], '
    b'"extra": {"rng_cpu": ["cpu:00", "cpu:11"]}, "sha256": {"model.h5": "00", "optimizer.h5": "11"}}')
out("ckpt", "state_types", b"\x00" + b'{"step": "12", "epoch": -1, "world_size": 1e30, "label_names": [1]}')
for i, latest in enumerate([b"step_00000008\n", b"step_00000004", b"../../outside/step_00000001",
                            b"/etc", b"step_0000000x\n", b"", b"step_00000099\n"]):
    out("ckpt", f"latest_{i}", b"\x01" + latest)

# --- spm --------------------------------------------------------------------------------------
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
                    "--model-type", kind, "--threads", "1", "--normalization", "identity", *extra], check=True, stdout=subprocess.DEVNULL)
    out("spm", kind, open(model, "rb").read())
print("seeds written under", os.path.join(here, "corpus"))

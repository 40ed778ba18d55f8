"""Reads a Sturdy corpus v1 with h5py alone and checks it against the JSON that
make_test_corpus wrote: attributes, dtypes, shapes, offsets, every text, label and id.

Usage: h5py_read_corpus.py CORPUS.h5 EXPECTED.json
"""
import json
import sys

import h5py
import numpy as np


def as_str(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def main(corpus_path, expected_path):
    with open(expected_path, encoding="utf-8") as f:
        expected = json.load(f)
    examples = expected["examples"]
    n = len(examples)
    with h5py.File(corpus_path, "r") as f:
        attrs = f.attrs
        assert as_str(attrs["format"]) == "sturdy-corpus", attrs["format"]
        assert int(attrs["version"]) == 1
        assert int(attrs["num_examples"]) == n
        assert int(attrs["num_classes"]) == len(expected["label_names"])
        names = [as_str(x) for x in attrs["label_names"]]
        assert names == expected["label_names"], names
        assert as_str(attrs["source"]) == expected["source"]
        assert as_str(attrs["source_sha256"]) == expected["source_sha256"]

        data = f["text/bytes"]
        offsets = f["text/offsets"][...]
        labels = f["label"][...]
        ids = f["id"][...]
        assert data.dtype == np.uint8 and data.ndim == 1, data.dtype
        assert offsets.dtype == np.int64 and offsets.shape == (n + 1,), offsets.dtype
        assert labels.dtype == np.int32 and labels.shape == (n,), labels.dtype
        assert ids.dtype == np.int64 and ids.shape == (n,), ids.dtype
        assert offsets[0] == 0 and offsets[-1] == data.shape[0]
        assert np.all(np.diff(offsets) >= 0)

        raw = data[...].tobytes()
        for i, example in enumerate(examples):
            text = raw[offsets[i]:offsets[i + 1]].decode("utf-8")
            assert text == example["text"], (i, text, example["text"])
            assert int(labels[i]) == example["label"], (i, labels[i])
            assert int(ids[i]) == example["id"], (i, ids[i])
            # A rank reads one example with a slice: the same bytes.
            assert data[offsets[i]:offsets[i + 1]].tobytes() == raw[offsets[i]:offsets[i + 1]]

    # The unlabelled twin: num_classes 0, an empty label_names array, no /label dataset.
    with h5py.File(corpus_path + ".unlabelled.h5", "r") as f:
        assert int(f.attrs["num_classes"]) == 0
        assert len(f.attrs["label_names"]) == 0
        assert "label" not in f
        offsets = f["text/offsets"][...]
        raw = f["text/bytes"][...].tobytes()
        texts = [raw[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n)]
        assert texts == [e["text"] for e in examples], texts
        assert list(f["id"][...]) == list(range(n))
    print(f"ok: {n} examples read with h5py {h5py.__version__}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

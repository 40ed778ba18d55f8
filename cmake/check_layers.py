#!/usr/bin/env python3
"""Checks that no #include runs up Sturdy's layer order (src/layers.txt).

Every file under src/<folder>/, include/sturdy/<folder>/ and bench/ is in the layer of its
folder (bench/ is the layer `bench`); an include of "sturdy/<other>/..." must name a layer at
or below it. Prints one line per violation (file:line: <layer> includes <other>, which is
above it) and exits 1; exits 0 when the tree is clean.

  check_layers.py [--root DIR]        check the tree at DIR (default: this file's repository)
  check_layers.py --self-test         plant an upward include in a copy of the tree and check
                                      that it is caught (and that the copy is clean without it)
"""
import argparse
import pathlib
import re
import shutil
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]sturdy/([A-Za-z0-9_]+)/')
SOURCES = {".h", ".hpp", ".cpp", ".cc", ".cu", ".cuh"}


def read_layers(root):
    path = root / "src" / "layers.txt"
    layers = []
    for raw in path.read_text().splitlines():
        name = raw.split("#", 1)[0].strip()
        if name:
            layers.append(name)
    if not layers:
        raise SystemExit(f"{path}: no layers listed")
    return {name: i for i, name in enumerate(layers)}


def layer_of(root, path):
    rel = path.relative_to(root).parts
    if rel[0] == "src" and len(rel) > 2:
        return rel[1]
    if rel[:2] == ("include", "sturdy") and len(rel) > 3:
        return rel[2]
    if rel[0] == "bench":
        return "bench"
    return None


def check(root):
    rank = read_layers(root)
    problems = []
    files = [p for d in ("src", "include/sturdy", "bench") for p in sorted((root / d).rglob("*"))
             if p.suffix in SOURCES and p.is_file()]
    for path in files:
        layer = layer_of(root, path)
        rel = path.relative_to(root)
        if layer is None:
            continue
        if layer not in rank:
            problems.append(f"{rel}: folder '{layer}' is not in src/layers.txt")
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            target = m.group(1)
            if target not in rank:
                problems.append(f"{rel}:{number}: includes sturdy/{target}/, a folder not in src/layers.txt")
            elif rank[target] > rank[layer]:
                problems.append(f"{rel}:{number}: {layer} includes {target}, which is above it in src/layers.txt")
    return files, problems


def self_test(root):
    with tempfile.TemporaryDirectory() as tmp:
        copy = pathlib.Path(tmp)
        for d in ("src", "include", "bench"):
            shutil.copytree(root / d, copy / d)
        _, clean = check(copy)
        if clean:
            print("self-test: the copied tree is not clean:\n  " + "\n  ".join(clean))
            return 1
        victim = copy / "src" / "model" / "transformer.cpp"
        victim.write_text(victim.read_text() + '\n#include "sturdy/train/trainer.h"\n')
        _, planted = check(copy)
        want = [p for p in planted if p.startswith("src/model/transformer.cpp:") and "model includes train" in p]
        if len(planted) != 1 or not want:
            print(f"self-test: the planted include in src/model/transformer.cpp was not reported alone: {planted}")
            return 1
        print(f"self-test: caught the planted include ({want[0]})")
        return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parent.parent)
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    root = args.root.resolve()
    if args.self_test:
        return self_test(root)
    files, problems = check(root)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} include(s) run up the layer order (src/layers.txt)")
        return 1
    print(f"{len(files)} files: every include runs down the layer order (src/layers.txt)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

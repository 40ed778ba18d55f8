#!/usr/bin/env python3
"""Self time per operator from a LibTorch/PyTorch autograd-profiler chrome trace.

  sturdy bench train --trace sturdy.json ...;  python3 bench/pytorch_train.py --trace torch.json ...
  python3 bench/op_profile.py sturdy.json torch.json [--top 25]

Both traces come from the same legacy autograd profiler (torch::autograd::profiler::RecordProfile in
C++, torch.autograd.profiler.profile in Python), so the op names and the accounting are the same.
Self time = an event's duration minus its children's on the same thread. Prints, per trace, the
top operators by self time with their share, and the ops' total (the rest of the wall time is
outside any op: Python, Sturdy's own code, the profiler, waiting).
"""
import argparse
import collections
import json


def self_times(path):
    with open(path) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    by_thread = collections.defaultdict(list)
    for e in events:
        if e.get("ph") == "X" and "dur" in e:
            by_thread[e.get("tid")].append(e)
    totals, counts = collections.Counter(), collections.Counter()
    span = 0.0
    for evs in by_thread.values():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []  # [end, name, child time]
        def close(until):
            while stack and stack[-1][0] <= until:
                end, name, start, child = stack.pop()
                totals[name] += (end - start) - child
                if stack:
                    stack[-1][3] += end - start
        for e in evs:
            start, end = float(e["ts"]), float(e["ts"]) + float(e["dur"])
            close(start)
            stack.append([end, e["name"], start, 0.0])
            counts[e["name"]] += 1
        close(float("inf"))
        if evs:
            span = max(span, max(float(e["ts"]) + float(e["dur"]) for e in evs) - min(float(e["ts"]) for e in evs))
    return totals, counts, span


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("traces", nargs="+")
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    for path in a.traces:
        totals, counts, span = self_times(path)
        ops = sum(totals.values())
        print(f"\n{path}: {ops / 1e3:.1f} ms in ops over {span / 1e3:.1f} ms traced")
        print(f"{'op':44s} {'self ms':>10s} {'% of ops':>9s} {'calls':>7s}")
        for name, t in totals.most_common(a.top):
            print(f"{name[:44]:44s} {t / 1e3:10.1f} {100 * t / ops:8.1f}% {counts[name]:7d}")


if __name__ == "__main__":
    main()

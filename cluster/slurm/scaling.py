#!/usr/bin/python3
"""Scaling sweep on Slurm: submits one training job per (nodes, ranks per node), waits for all,
then collects throughput and scaling efficiency into CSV and a PNG plot.

  cluster/slurm/scaling.py --config configs/run.yaml [--variant NAME] --nodes 1,2,4 --ranks-per-node 4 \
      --steps 200 --out runs/scaling [--weak] [--set key=value ...] [--sbatch-args "--gpus-per-node=4"]
  cluster/slurm/scaling.py --out runs/scaling --collect-only      # re-read finished runs

Throughput is the median tokens_per_second of metrics.jsonl after the first logged window
(start-up and warm-up excluded), falling back to train_summary.json. Strong scaling (default)
keeps data.global_batch fixed; --weak multiplies it by the world size. Efficiency of a point =
(throughput / world) / (throughput / world of the smallest world in the sweep).
Uses the multinode template (cluster/slurm/train-multinode.sbatch) for every point, with
--exclusive nodes so jobs of the sweep do not share a node.
On CPU nodes pass --sbatch-args "--gpus-per-node=0 --cpus-per-task=C" (the template asks for GPUs)."""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HOME = os.path.dirname(os.path.dirname(HERE))


def ints(text):
    return [int(x) for x in text.split(",") if x]


def submit(args, nodes, rpn, out):
    world = nodes * rpn
    sets = [f"run.output_dir={out}", f"optim.max_steps={args.steps}", "checkpoint.every_steps=0",
            "checkpoint.resume=never", f"log.every_steps={args.log_every}"]
    if args.weak:
        sets.append(f"data.global_batch={args.global_batch * world}")
    for s in args.set:
        sets.append(s)
    env = ",".join(["ALL", f"STURDY_CONFIG={os.path.abspath(args.config)}", f"STURDY_HOME={HOME}"]
                   + ([f"STURDY_BIN={args.bin}"] if args.bin else []))
    cmd = ["sbatch", "--parsable", f"--nodes={nodes}", f"--ntasks-per-node={rpn}",
           f"--job-name=sturdy-scale-n{nodes}r{rpn}", f"--output={out}.out", f"--export={env}",
           "--no-requeue", "--exclusive"]  # --exclusive: no neighbours in a measurement
    cmd += args.sbatch_args.split() + [args.template]  # sbatch options end at the script
    if args.variant:
        cmd += ["--variant", args.variant]
    for s in sets:
        cmd += ["--set", s]
    print("+", " ".join(cmd), flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"scaling: sbatch failed: {p.stderr.strip()} (adjust --sbatch-args, e.g. "
                 "'--gpus-per-node=0 --cpus-per-task=1' on CPU nodes)")
    return p.stdout.strip().split(";")[0]


def wait_all(job_ids, timeout):
    t0 = time.time()
    while True:
        q = subprocess.run(["squeue", "-h", "-o", "%i", "-j", ",".join(job_ids)], capture_output=True, text=True)
        left = [j for j in q.stdout.split() if j in job_ids]
        if not left:
            return
        if time.time() - t0 > timeout:
            sys.exit(f"scaling: jobs {left} still queued or running after {timeout} s")
        time.sleep(5)


def throughput(run_dir):
    tps = []
    path = os.path.join(run_dir, "metrics.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            tps = [json.loads(line)["tokens_per_second"] for line in f if line.strip()]
    if len(tps) > 1:
        return statistics.median(tps[1:])
    summary = os.path.join(run_dir, "train_summary.json")
    if os.path.exists(summary):
        with open(summary) as f:
            return json.load(f)["train_tokens_per_second"]
    return None


def collect(out_root, points):
    rows = []
    for nodes, rpn in points:
        run_dir = os.path.join(out_root, f"n{nodes}_r{rpn}")
        tps = throughput(run_dir)
        if tps is None:
            print(f"scaling: {run_dir} has no metrics (failed job? see {run_dir}.out)", file=sys.stderr)
            continue
        rows.append({"nodes": nodes, "ranks_per_node": rpn, "world_size": nodes * rpn,
                     "tokens_per_second": tps})
    if not rows:
        sys.exit("scaling: no finished run to collect")
    base = min(rows, key=lambda r: r["world_size"])
    per_rank0 = base["tokens_per_second"] / base["world_size"]
    for r in rows:
        r["speedup"] = r["tokens_per_second"] / base["tokens_per_second"]
        r["efficiency"] = r["tokens_per_second"] / r["world_size"] / per_rank0
    rows.sort(key=lambda r: (r["world_size"], r["nodes"]))
    return rows


def write_outputs(rows, out_root):
    csv_path = os.path.join(out_root, "scaling.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in r.items()})
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    worlds = [r["world_size"] for r in rows]
    ax1.plot(worlds, [r["tokens_per_second"] for r in rows], "o-", label="measured")
    ax1.plot(worlds, [rows[0]["tokens_per_second"] * w / rows[0]["world_size"] for w in worlds], "--",
             color="gray", label="linear")
    ax1.set_xlabel("ranks")
    ax1.set_ylabel("tokens / s")
    ax1.set_title("Throughput")
    ax1.legend()
    ax2.plot(worlds, [100 * r["efficiency"] for r in rows], "o-")
    ax2.set_xlabel("ranks")
    ax2.set_ylabel("scaling efficiency (%)")
    ax2.set_ylim(0, max(110, 10 + max(100 * r["efficiency"] for r in rows)))
    ax2.set_title("Efficiency vs smallest run")
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    png_path = os.path.join(out_root, "scaling.png")
    fig.savefig(png_path, dpi=120)
    print(f"scaling: wrote {csv_path} and {png_path}")
    for r in rows:
        print(f"  {r['nodes']} node(s) x {r['ranks_per_node']}: {r['tokens_per_second']:.0f} tok/s, "
              f"speedup {r['speedup']:.2f}, efficiency {100 * r['efficiency']:.0f}%")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config")
    p.add_argument("--variant", help="a variant of --config (variants.yaml beside it, docs/configuration.md)")
    p.add_argument("--nodes", type=ints, default=[1])
    p.add_argument("--ranks-per-node", type=ints, default=[1])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--global-batch", type=int, default=32, help="per-rank base for --weak")
    p.add_argument("--weak", action="store_true")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--bin", help="the sturdy binary (default: the template's)")
    p.add_argument("--template", default=os.path.join(HERE, "train-multinode.sbatch"))
    p.add_argument("--sbatch-args", default="", help="extra sbatch options, e.g. '--gpus-per-node=4'")
    p.add_argument("--out", required=True)
    p.add_argument("--timeout", type=int, default=24 * 3600)
    p.add_argument("--collect-only", action="store_true")
    args = p.parse_args()
    out_root = os.path.abspath(args.out)
    os.makedirs(out_root, exist_ok=True)
    points = [(n, r) for n in args.nodes for r in args.ranks_per_node]
    if not args.collect_only:
        if not args.config:
            p.error("--config is required unless --collect-only")
        jobs = [submit(args, n, r, os.path.join(out_root, f"n{n}_r{r}")) for n, r in points]
        wait_all(jobs, args.timeout)
    write_outputs(collect(out_root, points), out_root)


if __name__ == "__main__":
    main()

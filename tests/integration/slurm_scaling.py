"""The scaling sweep under a real single-node Slurm (cluster/local-slurm): cluster/slurm/scaling.py
submits the multinode template for 1 and 2 ranks on one node (a tiny model on a tiny generated
corpus), waits for both jobs, and must write scaling.csv with the two rows (world sizes 1 and 2,
efficiency 1 for the smallest) and scaling.png. Starts Slurm itself and stops it afterwards;
exits 77 (CTest: skipped) with the reason when Slurm cannot start here (not root, packages
missing)."""
import csv
import os
import shutil
import subprocess
import sys

from common import run, write_toy_tsv

SKIP = 77
sturdy, repo, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
os.chdir(work)

write_toy_tsv("toy.tsv", 400)
run([sturdy, "prepare", "--input", "toy.tsv", "--output", "toy.h5"])
with open("toy.yaml", "w") as f:
    f.write(f"""
data: {{train: {os.path.abspath("toy.h5")}, max_length: 32, micro_batch: 8, global_batch: 16}}
model: {{dim: 32, layers: 1, heads: 4, kv_heads: 2, ffn: 64, dropout: 0.0}}
optim: {{lr: 1.0e-3, warmup: 2, epochs: 100}}
""")

state = os.path.abspath("slurm-state")
# Ports of its own, so that slurm_requeue.py (default 16817/16818) may run at the same time.
os.environ.setdefault("STURDY_SLURM_PORT", "16837")
start = subprocess.run([f"{repo}/cluster/local-slurm/start.sh", state], capture_output=True, text=True)
if start.returncode != 0:
    print(f"SKIP: local Slurm did not start (exit {start.returncode}): {start.stderr.strip()[-2000:]}")
    sys.exit(SKIP)
os.environ["SLURM_CONF"] = f"{state}/slurm.conf"

failures = []
try:
    # The template asks for GPUs, 8 CPUs per task and 12 hours: a CPU node of this machine's size.
    p = subprocess.run([sys.executable, f"{repo}/cluster/slurm/scaling.py", "--config", "toy.yaml",
                        "--nodes", "1", "--ranks-per-node", "1,2", "--steps", "24", "--log-every", "4",
                        "--bin", sturdy, "--out", "sweep", "--timeout", "90",
                        "--sbatch-args=--gpus-per-node=0 --cpus-per-task=1 --time=3"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=150)
    print(p.stdout, flush=True)
    if p.returncode != 0:
        failures.append(f"scaling.py exited {p.returncode}")
    csv_path, png_path = "sweep/scaling.csv", "sweep/scaling.png"
    rows = list(csv.DictReader(open(csv_path))) if os.path.exists(csv_path) else []
    worlds = sorted(int(r["world_size"]) for r in rows)
    if worlds != [1, 2]:
        failures.append(f"scaling.csv rows have world sizes {worlds}, expected [1, 2]")
    for r in rows:
        for key in ("tokens_per_second", "speedup", "efficiency"):
            if not float(r.get(key) or 0) > 0:
                failures.append(f"world {r['world_size']}: {key} = {r.get(key)!r}")
        if int(r["world_size"]) == 1 and abs(float(r["efficiency"]) - 1) > 1e-6:
            failures.append(f"the smallest run's efficiency is {r['efficiency']}, expected 1")
    png = open(png_path, "rb").read() if os.path.exists(png_path) else b""
    if not png.startswith(b"\x89PNG\r\n\x1a\n") or len(png) < 10000:
        failures.append(f"{png_path}: not a plot ({len(png)} bytes)")
    if rows:
        print(open(csv_path).read(), flush=True)
    print(f"scaling.png: {len(png)} bytes", flush=True)
finally:
    if failures:
        for f in ("sweep/n1_r1.out", "sweep/n1_r2.out", f"{state}/log/slurmctld.log"):
            if os.path.exists(f):
                print(f"--- {f}\n" + open(f).read()[-3000:])
    subprocess.run([f"{repo}/cluster/local-slurm/stop.sh", state])
for f in failures:
    print("FAIL:", f)
print("ok" if not failures else f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)

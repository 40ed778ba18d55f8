"""Damaged and failed checkpoints through the real binary.

    resume_damage.py path/to/sturdy WORKDIR (bitflip | disk-full)

bitflip: the newest checkpoint of a killed run gets a flipped bit: the resumed run names the
   damaged file, falls back to the previous checkpoint and still ends bitwise equal to an
   uninterrupted run.
disk-full: the run folder sits on a tiny tmpfs that holds one checkpoint but not two: the second
   save fails with exit 3 and a clear message, and the first checkpoint stays complete and valid.
   Needs root for the mount; exits 77 (CTest: skipped) with the reason otherwise."""
import hashlib
import json
import os
import subprocess
import sys
import time

from resume_util import (bitwise_equal, final_checkpoint, kill9_all, prepare, run, show, start,
                         train_cmd)

SKIP = 77
sturdy, work, part = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3]
if part not in ("bitflip", "disk-full"):
    sys.exit(f"usage: {sys.argv[0]} STURDY WORKDIR (bitflip | disk-full), not {part!r}")
STEPS = 48
config = prepare(sturdy, work, dropout=0.1, steps=STEPS)


def bitflip():
    """Flipped bit in the newest checkpoint; returns the number of failures."""
    ref = "runs/uninterrupted"
    run(train_cmd(sturdy, config, ref))
    out = "runs/damaged"
    cmd = train_cmd(sturdy, config, out, 1, ["checkpoint.every_steps=8", "checkpoint.keep=3"])
    proc = start(cmd, "damaged.log")
    latest = f"{out}/checkpoints/latest"
    t0 = time.time()
    while True:  # until the second checkpoint is committed
        if os.path.exists(latest) and open(latest).read().strip() >= "step_00000016":
            break
        if proc.poll() is not None or time.time() - t0 > 120:
            sys.exit("FAILED: the run ended before its second checkpoint")
        time.sleep(0.005)
    kill9_all(proc)
    newest = open(latest).read().strip()
    if newest == f"step_{STEPS:08d}":
        sys.exit("FAILED: the run finished before the kill")
    model = f"{out}/checkpoints/{newest}/model.h5"
    with open(model, "r+b") as f:
        f.seek(os.path.getsize(model) // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0x04]))
    p = run(cmd)
    named = f"{newest}/model.h5" in p.stdout and "skipping damaged checkpoint" in p.stdout
    fell_back = "resumed from" in p.stdout and newest not in p.stdout.split("resumed from", 1)[1].split("\n")[0]
    ok, msg = bitwise_equal(final_checkpoint(ref, STEPS), final_checkpoint(out, STEPS))
    print(f"flipped bit in {newest}: named {named}, fell back {fell_back}, {msg}", flush=True)
    return int(not (named and fell_back and ok))


def disk_full():
    """A save onto a full disk; returns the number of failures (exits 77 when it cannot mount)."""
    ref = "runs/reference"  # the size of one checkpoint (it does not depend on the step)
    run(train_cmd(sturdy, config, ref, 1, ["optim.max_steps=8"]))
    mnt = os.path.abspath("tiny")
    os.makedirs(mnt, exist_ok=True)
    one = sum(os.path.getsize(os.path.join(final_checkpoint(ref, 8), f)) for f in ("model.h5", "optimizer.h5"))
    size_kb = (one * 3 // 2) // 1024  # room for one checkpoint (+ logs), not two
    if os.geteuid() != 0 or subprocess.call(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", mnt]) != 0:
        print("SKIP: cannot mount a tmpfs here (needs root): the disk-full case did not run", flush=True)
        sys.exit(SKIP)
    try:
        out = f"{mnt}/run"
        p = run(train_cmd(sturdy, config, out, 1, ["checkpoint.every_steps=8"]), check=False)
        state = json.load(open(f"{out}/checkpoints/step_00000008/state.json"))
        intact = all(hashlib.sha256(open(f"{out}/checkpoints/step_00000008/{f}", "rb").read()).hexdigest()
                     == state["sha256"][f] for f in ("model.h5", "optimizer.h5"))
        latest_ok = open(f"{out}/checkpoints/latest").read().strip() == "step_00000008"
        clear = "disk full" in p.stdout and "step_00000008" in p.stdout
        no_tmp = not any(n.endswith(".tmp") for n in os.listdir(f"{out}/checkpoints"))
        ok = p.returncode == 3 and intact and latest_ok and clear and no_tmp
        print(f"disk full: exit {p.returncode}, message clear {clear}, step 8 intact {intact}, latest kept "
              f"{latest_ok}, no leftover tmp {no_tmp} -> {'ok' if ok else 'FAIL'}", flush=True)
        return int(not ok)
    finally:
        subprocess.call(["umount", mnt])


failures = bitflip() if part == "bitflip" else disk_full()
sys.exit(1 if failures else 0)

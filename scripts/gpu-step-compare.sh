#!/usr/bin/env bash
# Sturdy's training step against the same step in eager PyTorch, on one GPU (gpu-check.sh runs it).
#
#   scripts/gpu-step-compare.sh BUILD_DIR OUTDIR
#
# Shape: dim 768, 12 layers, 12 heads (12 K/V heads), SwiGLU 3072, 128 tokens per row, byte
# vocabulary (260), 2 classes, dropout 0.1, bf16 autocast (fp32 master weights and AdamW),
# global batch $STEP_BATCH (64) on one rank. Both sides process the same real tokens per step:
#   Sturdy   `sturdy bench train --device cuda --bf16` on a generated TSV whose every row has
#            >= 200 bytes, truncated to --max-length 128: every row is 128 real tokens, no padding
#            (the JSON's padding_share must be 0);
#   PyTorch  bench/pytorch_step.py --full-length --seq 128 --vocab 260: every row 128 real tokens.
# Runs alternate (Sturdy, PyTorch, Sturdy, PyTorch, ... $STEP_REPS times); medians are reported.
# Then FreeLB (K = 2) and consistency with Sturdy alone, for their step cost against ERM.
#
# Reported:
#   tokens/s of each side (real tokens per second), ratio Sturdy / PyTorch (target >= 1.2),
#   MFU = 6 * N * tokens/s / peak, N = the model's parameters (embedding included; the same count
#         on both sides, checked), peak = $STEP_PEAK_TFLOPS (989: H200/H100 SXM dense bf16).
#         6N per token is forward + backward of the matrix products; attention's score and value
#         products (12 * layers * seq * dim per token, ~3% here) are not counted.
#   FreeLB-2 / ERM and consistency / ERM: Sturdy's ms per optimizer step.
# Writes OUTDIR/step_compare.json and OUTDIR/step_compare.md (+ the raw JSON lines and logs).
# Exit 0 when every run worked (a missed target is reported, not an error); 1 when a run failed.
# env: PYTHON (a python3 with torch), STEP_BATCH (64), STEP_REPS (2), STEP_STEPS (30),
#      STEP_PEAK_TFLOPS (989), STEP_RUN_LIMIT (seconds per run, 150);
#      STEP_DRY_RUN=1 checks this script's plumbing without a GPU: the CPU, a tiny model (dim 64,
#      2 layers, 4 heads, ffn 128, 32 tokens, batch 8, 2 steps); its numbers mean nothing.
set -uo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BUILD_DIR OUTDIR" >&2; exit 2; }
BUILD=$(cd "$1" && pwd) || { echo "$0: no build folder $1" >&2; exit 2; }
OUT=$(mkdir -p "$2" && cd "$2" && pwd) || { echo "$0: cannot create $2" >&2; exit 2; }
cd "$(dirname "$0")/.." || exit 2
STURDY=$BUILD/src/apps/sturdy
[ -x "$STURDY" ] || { echo "$0: $STURDY is missing (build the sturdy target)" >&2; exit 2; }
if [ -z "${PYTHON:-}" ]; then
  for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import torch' 2>/dev/null; then PYTHON=$(command -v "$p"); break; fi
  done
fi
[ -n "${PYTHON:-}" ] || { echo "$0: no python3 with torch (set PYTHON)" >&2; exit 2; }
BATCH=${STEP_BATCH:-64}
REPS=${STEP_REPS:-2}
STEPS=${STEP_STEPS:-30}
PEAK=${STEP_PEAK_TFLOPS:-989}
LIMIT=${STEP_RUN_LIMIT:-150}
DIM=768 LAYERS=12 HEADS=12 KV=12 FFN=3072 SEQ=128 VOCAB=260 DROPOUT=0.1 DEVICE=cuda
if [ "${STEP_DRY_RUN:-0}" = 1 ]; then
  DIM=64 LAYERS=2 HEADS=4 KV=4 FFN=128 SEQ=32 DEVICE=cpu BATCH=8 STEPS=2 REPS=1
fi
BATCHES=4
POOL=$((BATCH * BATCHES * 2))

# Rows of >= 200 ASCII bytes (two classes; the words do not matter for timing).
TSV=$OUT/step_compare_rows.tsv
"$PYTHON" - "$TSV" "$POOL" <<'PY'
import random, sys
path, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(1)
words = "the a film story very quite and of with some it was dull flat lovely sharp moving".split()
with open(path, "w") as f:
    f.write("sentence\tlabel\n")
    for i in range(n):
        text = ""
        while len(text) < 200:
            text += rng.choice(words) + " "
        f.write(text.strip() + f"\t{i % 2}\n")
PY

sturdy_run() {  # sturdy_run NAME OBJECTIVE: one `sturdy bench train` JSON line into OUT/NAME.json
  local name=$1 objective=$2
  timeout "$LIMIT" "$STURDY" bench train --device "$DEVICE" --bf16 --objective "$objective" --data "$TSV" \
    --pool "$POOL" --global-batch "$BATCH" --batches "$BATCHES" --warmup 4 --steps "$STEPS" \
    --dim "$DIM" --layers "$LAYERS" --heads "$HEADS" --kv-heads "$KV" --ffn "$FFN" --max-length "$SEQ" \
    --dropout "$DROPOUT" > "$OUT/$name.log" 2>&1
  local rc=$?
  grep '^{' "$OUT/$name.log" | tail -1 > "$OUT/$name.json"
  echo "$name: exit $rc $(cat "$OUT/$name.json")"
  [ $rc -eq 0 ] && [ -s "$OUT/$name.json" ]
}
pytorch_run() {  # pytorch_run NAME
  local name=$1
  timeout "$LIMIT" "$PYTHON" bench/pytorch_step.py --device "$DEVICE" --dtype bf16 --vocab "$VOCAB" --dim "$DIM" \
    --layers "$LAYERS" --heads "$HEADS" --kv-heads "$KV" --ffn "$FFN" --classes 2 --dropout "$DROPOUT" \
    --batch "$BATCH" --seq "$SEQ" --full-length --warmup 5 --steps "$STEPS" > "$OUT/$name.log" 2>&1
  local rc=$?
  grep '^{' "$OUT/$name.log" | tail -1 > "$OUT/$name.json"
  echo "$name: exit $rc $(cat "$OUT/$name.json")"
  [ $rc -eq 0 ] && [ -s "$OUT/$name.json" ]
}

failed=0
for r in $(seq 1 "$REPS"); do
  sturdy_run "step_sturdy_erm_$r" erm || failed=1
  pytorch_run "step_pytorch_$r" || failed=1
done
sturdy_run step_sturdy_freelb freelb || failed=1
sturdy_run step_sturdy_consistency consistency || failed=1

"$PYTHON" - "$OUT" "$REPS" "$PEAK" "$BATCH" "$SEQ" "$failed" "$DIM" "$LAYERS" "$HEADS" "$KV" "$FFN" <<'PY'
import json, os, statistics, sys
out, reps, peak, batch, seq, failed = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
dim, layers, heads, kv, ffn = (int(x) for x in sys.argv[7:12])

def load(name):
    try:
        with open(os.path.join(out, name + ".json")) as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None

sturdy = [j for j in (load(f"step_sturdy_erm_{r}") for r in range(1, reps + 1)) if j]
torch_ = [j for j in (load(f"step_pytorch_{r}") for r in range(1, reps + 1)) if j]
freelb, consistency = load("step_sturdy_freelb"), load("step_sturdy_consistency")
med = lambda xs: statistics.median(xs) if xs else None
s_tps = med([j["tokens_per_second"] for j in sturdy])
p_tps = med([j["tokens_per_s"] for j in torch_])
s_ms = med([j["ms_per_step"] for j in sturdy])
p_ms = med([j["ms_per_step"] for j in torch_])
problems = []
s_params = sturdy[0].get("params") if sturdy else None
p_params = torch_[0].get("params") if torch_ else None
if s_params and p_params and s_params != p_params:
    problems.append(f"parameter counts differ: Sturdy {s_params}, PyTorch {p_params} (not the same model)")
for j in sturdy:
    if j.get("padding_share", 1) > 1e-9:
        problems.append(f"Sturdy batches have padding ({j['padding_share']:.3f}): rows shorter than {seq} bytes")
    tok = j["tokens_per_second"] * j["ms_per_step"] / 1e3
    if abs(tok - batch * seq) > 0.5:
        problems.append(f"Sturdy processed {tok:.0f} real tokens per step, not {batch * seq}")
for j in torch_:
    if j.get("tokens_per_step") != batch * seq:
        problems.append(f"PyTorch processed {j.get('tokens_per_step')} real tokens per step, not {batch * seq}")
if failed:
    problems.append("a run failed (see its .log)")
N = s_params or p_params
mfu = lambda tps: 6.0 * N * tps / (peak * 1e12) if (N and tps) else None
ratio = s_tps / p_tps if (s_tps and p_tps) else None
erm_ms = s_ms
res = {
    "shape": {"dim": dim, "layers": layers, "heads": heads, "kv_heads": kv, "ffn": ffn, "seq": seq, "vocab": 260,
              "global_batch": batch, "tokens_per_step": batch * seq, "dropout": 0.1, "precision": "bf16 autocast"},
    "device": sturdy[0].get("device") if sturdy else None,
    "torch": torch_[0].get("torch") if torch_ else None,
    "params": N,
    "sturdy": {"tokens_per_second": s_tps, "ms_per_step": s_ms, "runs": sturdy},
    "pytorch": {"tokens_per_second": p_tps, "ms_per_step": p_ms, "runs": torch_},
    "ratio_sturdy_over_pytorch": ratio, "target_ratio": 1.2,
    "target_met": bool(ratio is not None and ratio >= 1.2),
    "mfu_formula": "6 * params * tokens_per_second / (peak_tflops * 1e12)", "peak_tflops": peak,
    "mfu": {"sturdy": mfu(s_tps), "pytorch": mfu(p_tps)},
    "objective_cost": {
        "freelb_k2_over_erm": freelb["ms_per_step"] / erm_ms if (freelb and erm_ms) else None,
        "consistency_over_erm": consistency["ms_per_step"] / erm_ms if (consistency and erm_ms) else None,
        "freelb": freelb, "consistency": consistency},
    "problems": problems,
}
with open(os.path.join(out, "step_compare.json"), "w") as f:
    json.dump(res, f, indent=2)
fmt = lambda x, spec: "n/a" if x is None else format(x, spec)
md = [f"## Training step on one GPU: Sturdy vs eager PyTorch ({res['device'] or 'device?'}, torch {res['torch'] or '?'})", "",
      f"dim {dim}, {layers} layers, {heads} heads ({kv} K/V), SwiGLU {ffn}, {seq} tokens per row, vocabulary 260, "
      f"global batch {batch} ({batch * seq} real tokens per step, no padding), dropout 0.1, bf16 autocast; "
      f"{fmt(N, ',')} parameters. Median of {reps} alternating runs each.", "",
      "| side | ms/step | tokens/s | MFU |", "|---|---:|---:|---:|",
      f"| PyTorch eager (bench/pytorch_step.py) | {fmt(p_ms, '.2f')} | {fmt(p_tps, ',.0f')} | {fmt(mfu(p_tps), '.1%')} |",
      f"| Sturdy (`sturdy bench train --device cuda --bf16`) | {fmt(s_ms, '.2f')} | {fmt(s_tps, ',.0f')} | {fmt(mfu(s_tps), '.1%')} |",
      "", f"Sturdy / PyTorch tokens/s: **{fmt(ratio, '.2f')}x** (target >= 1.2x: {'met' if res['target_met'] else 'NOT met'}).",
      f"MFU = 6 x {fmt(N, ',')} x tokens/s / {peak:g} TFLOP/s (dense bf16 peak); attention's own products not counted.", "",
      "| Sturdy objective | ms/step | x ERM |", "|---|---:|---:|",
      f"| erm | {fmt(erm_ms, '.2f')} | 1.00 |"]
for name, j in (("freelb (K = 2)", freelb), ("consistency", consistency)):
    md.append(f"| {name} | {fmt(j['ms_per_step'] if j else None, '.2f')} | "
              f"{fmt(j['ms_per_step'] / erm_ms if (j and erm_ms) else None, '.2f')} |")
if problems:
    md += ["", "Problems:"] + [f"- {p}" for p in problems]
with open(os.path.join(out, "step_compare.md"), "w") as f:
    f.write("\n".join(md) + "\n")
print("\n".join(md))
print(f"step-compare: ratio {fmt(ratio, '.2f')} (target 1.2: {'met' if res['target_met'] else 'NOT met'}), "
      f"MFU sturdy {fmt(mfu(s_tps), '.1%')} pytorch {fmt(mfu(p_tps), '.1%')}, freelb/erm "
      f"{fmt(res['objective_cost']['freelb_k2_over_erm'], '.2f')}, consistency/erm "
      f"{fmt(res['objective_cost']['consistency_over_erm'], '.2f')}")
sys.exit(1 if failed or any("not the same model" in p or "padding" in p or "tokens per step" in p for p in problems) else 0)
PY

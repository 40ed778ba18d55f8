#!/usr/bin/env bash
# Adversarial examples in training on SST-2 (docs/robustness.md, "Adversarial examples in
# training"), two ways against one ERM baseline (configs/sst2/base.yaml, same model and step budget),
# every model evaluated on SST-2 dev with configs/eval/robustness.yaml (R.json) and under both search
# attacks, configs/eval/search.yaml (R-search.json):
#   offline (TextAttack's recipe): train ERM (variant erm); attack the TRAINING corpus with both
#     search attacks and keep their successful adversarial texts (sturdy eval --dump-adversarial);
#     prepare SST-2 train + those texts as one corpus (sturdy prepare --input A --input B); train ERM
#     again on it (variant adv-offline);
#   online: objective.kind attack_augment (variant attack-augment), no precomputed attack.
# Usage: scripts/sst2-adversarial.sh [offline] [online]   (default: both; ERM is trained either way)
# Environment: STEPS (optimizer steps of every run, default 1000), SEED (run.seed), TAG (suffix of the
# run folders and of the adversarial corpus), ATTACK_EXAMPLES (attack only the first N training
# examples; default all 67,349: the search attacks score up to 500 sequences per example, hours on
# one core), DEV_EXAMPLES (evaluate only the first N dev examples), TRAIN_ROWS (train on the first N
# rows of SST-2 train only: a quick end-to-end check), STURDY_BUILD_DIR, SST2_DIR.
# Without TAG it renders the comparison into docs/reports/sst2-adversarial (R.json) and its search/
# folder (R-search.json).
set -euo pipefail
cd "$(dirname "$0")/.."
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(offline online)
for p in "${parts[@]}"; do
  case "$p" in offline | online) ;; *) echo "sst2-adversarial.sh: unknown part '$p' (offline, online)" >&2; exit 2 ;; esac
done
source scripts/sst2-data.sh  # STURDY, SST2; data/sst2-{train,dev}.h5 and base.yaml's tokenizer
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
TAG=${TAG:-}
TRAIN_TSV=$SST2/train.tsv
TRAIN=data/sst2-train.h5
if [ -n "${TRAIN_ROWS:-}" ]; then
  TRAIN_TSV=data/sst2-train-$TRAIN_ROWS.tsv
  TRAIN=data/sst2-train-$TRAIN_ROWS.h5
  head -n $((TRAIN_ROWS + 1)) "$SST2/train.tsv" > "$TRAIN_TSV"  # the header and N rows
  "$STURDY" prepare --input "$TRAIN_TSV" --output "$TRAIN"
fi
COMMON=(--set optim.max_steps="${STEPS:-1000}" --set checkpoint.every_steps=0)
[ -n "${SEED:-}" ] && COMMON+=(--set run.seed="$SEED")
DEV=()
[ -n "${DEV_EXAMPLES:-}" ] && DEV=(--max-examples "$DEV_EXAMPLES")

train() {  # VARIANT RUN [--set ...]: the later --set wins
  local variant=$1 run=$2
  shift 2
  rm -rf "$run"
  "$STURDY" train --config configs/sst2/base.yaml --variant "$variant" "${COMMON[@]}" --set data.train="$TRAIN" \
    --set run.output_dir="$run" --set run.name="$(basename "$run")" "$@"
}
evaluate() {  # RUN: SST-2 dev under the robustness suite and under both search attacks
  "$STURDY" eval --checkpoint "$1" --suite configs/eval/robustness.yaml --output "$1/R.json" "${DEV[@]}"
  "$STURDY" eval --checkpoint "$1" --suite configs/eval/search.yaml --output "$1/R-search.json" "${DEV[@]}"
}

erm=runs/sst2-erm$TAG
train erm "$erm"
evaluate "$erm"
runs=("$erm")
for p in "${parts[@]}"; do
  if [ "$p" = offline ]; then
    adv=$erm/adversarial-train.jsonl
    attack=()
    [ -n "${ATTACK_EXAMPLES:-}" ] && attack=(--max-examples "$ATTACK_EXAMPLES")
    "$STURDY" eval --checkpoint "$erm" --data "$TRAIN" --suite configs/eval/search.yaml \
      --output "$erm/R-train-search.json" --dump-adversarial "$adv" "${attack[@]}"
    echo "$(wc -l < "$adv") successful adversarial texts of the training corpus in $adv"
    adv_train=data/sst2-train-adv$TAG${TRAIN_ROWS:+-$TRAIN_ROWS}.h5
    "$STURDY" prepare --input "$TRAIN_TSV" --input "$adv" --output "$adv_train"
    run=runs/sst2-adv-offline$TAG
    train adv-offline "$run" --set data.train="$adv_train"
  else
    run=runs/sst2-attack-augment$TAG
    train attack-augment "$run"
  fi
  evaluate "$run"
  runs+=("$run")
done

python3 - "${runs[@]}" <<'PY'
import json, sys
print(f"{'run':32} {'clean':>6} {'typos x3':>8} {'char_search':>11} {'success':>7} {'word_search':>11} {'success':>7}")
for run in sys.argv[1:]:
    r, s = json.load(open(f"{run}/R.json")), json.load(open(f"{run}/R-search.json"))
    x3 = next(p["accuracy"] for p in r["perturbations"] if p["name"] == "typos" and p["rate"] == 3.0)
    a = {x["kind"]: x for x in s["attacks"]}
    print(f"{run:32} {r['clean']['accuracy']:6.3f} {x3:8.3f} {a['char_search']['accuracy_under_attack']:11.3f} "
          f"{a['char_search']['attack_success_rate']:7.3f} {a['word_search']['accuracy_under_attack']:11.3f} "
          f"{a['word_search']['attack_success_rate']:7.3f}")
PY
[ -z "$TAG" ] || exit 0  # tagged runs: the table above only
"$STURDY" report "${runs[@]/%//R.json}" --output docs/reports/sst2-adversarial
"$STURDY" report "${runs[@]/%//R-search.json}" --output docs/reports/sst2-adversarial/search

# Sourced by the SST-2 scripts (scripts/sst2-objectives.sh, scripts/sst2-adversarial.sh): sets
# STURDY (the binary) and SST2 (the TSV folder), and makes what configs/sst2/base.yaml reads when
# it is missing: data/sst2-train.h5, data/sst2-dev.h5 and the 4k-piece sentencepiece tokenizer
# data/sst2-sp4k.model (a subword model learns SST-2 far faster than bytes in this budget, and a
# typo still changes the segmentation: it is trained on clean training text only).
STURDY=${STURDY_BUILD_DIR:-build}/src/apps/sturdy
SST2=${SST2_DIR:-../shared/data/sst2}
mkdir -p data
[ -f data/sst2-train.h5 ] || "$STURDY" prepare --input "$SST2/train.tsv" --output data/sst2-train.h5
[ -f data/sst2-dev.h5 ] || "$STURDY" prepare --input "$SST2/dev.tsv" --output data/sst2-dev.h5
[ -f data/sst2-sp4k.model ] || "$STURDY" tokenizer train --corpus data/sst2-train.h5 --vocab-size 4000 \
  --output data/sst2-sp4k.model

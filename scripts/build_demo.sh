#!/usr/bin/env bash
# Rebuild the embedded demo from nothing: corpus -> model -> SAE, features, labels -> scorecard
# -> resources/demo. Every stage resumes when the script is rerun (CPU: about five hours).
# Usage: scripts/build_demo.sh [WORK_DIR]   (default: ./demo_work, which is git-ignored)
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-demo_work}"
scripts/bootstrap.sh dev
export HF_HUB_OFFLINE=1 OMP_WAIT_POLICY=PASSIVE  # passive threads: no spin-waiting on a shared CPU
musae=.venv/bin/musae
$musae demo build-corpus --out "$work/corpus" --clips 1960 --seed 0
# another seed's clips, never trained on: more held-out examples for the factor classifier
$musae demo build-corpus --out "$work/classifier_corpus" --clips 1000 --seed 1
$musae demo train --corpus "$work/corpus" --out "$work/train" --lm-minutes 215 --seed 0
# the SAE: the best cell of the demo sweep (docs/demo_sweep.md), a Matryoshka BatchTopK on layer 2
$musae harvest --model "$work/train/model" --device cpu --layers 2 --audio "$work/corpus/clips" \
  --out "$work/store"
$musae sweep --store "$work/store" --out "$work/sweep_full" --layers 2 --expansions 16 --ks 32 \
  --archs matryoshka_batchtopk --tokens 2641920 --model "$work/train/model" --delta-clips 4
$musae demo features --model "$work/train/model" --corpus "$work/corpus" --out "$work/features" \
  --classifier-corpus "$work/classifier_corpus" --layer 2 \
  --sae-from "$work/sweep_full/cells/L2-x16-matryoshka_batchtopk-k32/sae"
# the scorecard as docs/demo_scorecard.md reports it: every 2nd frame, every tracking feature
# steered at alpha 4 and 8 on 2-s takes (about 20 CPU minutes; the v1 sections are skipped)
$musae demo score --model "$work/train/model" --features "$work/features" --corpus "$work/corpus" \
  --out docs/demo_scorecard_levels --label-fine --write-db --skip-window-probes --frame-stride 2 \
  --concept-features 400 --alphas 4 8 --take-seconds 2 --max-features 0 --skip-prompt-following
$musae map --db "$work/features/features.db" --sae "$work/features/sae"   # the app's feature map
$musae demo ship --model "$work/train/model" --features "$work/features" --to resources/demo
.venv/bin/python bench/demo_quality.py --model resources/demo/model --corpus "$work/corpus" \
  --classifier resources/demo/factor_classifier.npz --classifier-corpus "$work/classifier_corpus" \
  --out docs/demo_quality.json

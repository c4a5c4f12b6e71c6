#!/usr/bin/env bash
# A warm restart of the shipped DiT with one change, scored against the shipped model.
#
#     bash scripts/warm_restart.sh NAME [--set KEY=VALUE ...]
#
# The card's third warm restart after the new decoder is the control (MODEL_CARD.md, "A third warm
# restart"): the fourth version's DiT continued for 3000 steps on its latents, 100 warmup to
# 1.5e-4, cosine to zero, p_independent_t 0.1, p_image 0.1, batch 8. The --set overrides are the
# change (they come last, so they win). Then the run's raw weights at guidance 2 on the card's 200
# `id` prompts, the shipped model on the same prompts on this machine (fp32 and bf16 sampling part
# ways on some prompts, so a pair is only exact when both ran here), and the paired comparison:
# runs/dit-NAME, runs/model-NAME, runs/eval-NAME, runs/eval-NAME/vs-shipped.
#
# Resumable: runs/dit-NAME continues where it stopped; without it, from a committed
# checkpoints/dit-NAME/checkpoint when there is one (kinema.checkpoint.slim_training_state: the EMA
# restarts from the weights and Adam's moments afresh, with a re-warmup of the learning rate).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
name=${1:?usage: bash scripts/warm_restart.sh NAME [--set KEY=VALUE ...]}
shift
run=runs/dit-$name

# 1. the world data of the shipped model (written clips are skipped), merged
bash scripts/world_data.sh

# 2. the run (its latent cache builds itself first, shared by every restart)
if [ ! -d $run/checkpoint ] && [ -d checkpoints/dit-$name/checkpoint ]; then
  mkdir -p $run && cp -r checkpoints/dit-$name/checkpoint $run/
fi
resume=()
[ -d $run/checkpoint ] && resume=(--resume)
OMP_NUM_THREADS=$THREADS kinema train dit --config default-dit --set data=data/world-mix --set output_dir=$run \
  --set vae=kinema/assets/default --set latent_cache=runs/latents4 --set init_from=kinema/assets/default \
  --set total_steps=3000 --set lr=1.5e-4 --set warmup_steps=100 --set p_independent_t=0.1 --set p_image=0.1 \
  --set sample_every=1500 --set checkpoint_every=250 --set checkpoint_minutes=10 --set num_workers=0 \
  "$@" "${resume[@]}"

# 3. raw weights at guidance 2, both models' evaluation on this machine, the paired comparison
[ -f runs/model-$name/model_index.json ] || \
  python scripts/export_model.py $run runs/model-$name --weights raw --guidance 2
[ -f runs/eval-$name/report.json ] || \
  OMP_NUM_THREADS=$THREADS kinema eval --model runs/model-$name --split id --num 200 --out runs/eval-$name
[ -f runs/eval-shipped/report.json ] || \
  OMP_NUM_THREADS=$THREADS kinema eval --split id --num 200 --out runs/eval-shipped
kinema eval --compare runs/eval-shipped runs/eval-$name --out runs/eval-$name/vs-shipped

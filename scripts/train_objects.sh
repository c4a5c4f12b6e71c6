#!/usr/bin/env bash
# Object supervision (MODEL_CARD.md, "Object supervision"): the shipped DiT continued exactly as the
# card's third warm restart after the new decoder (3000 steps, 100 warmup to 1.5e-4, cosine to zero,
# p_independent_t 0.1, p_image 0.1, batch 8), plus a probe after block 3 trained on the simulator's
# object maps with weight 0.5 (kinema.models.objects); then its raw weights on the card's 200 `id`
# prompts, paired against the shipped model's report.
#
# Result (MODEL_CARD.md): the same trade as the plain restart, not shipped.
#
# Resumable: runs/dit-obj continues where it stopped. On a machine without that folder the run
# starts from a checkpoint in checkpoints/dit-obj when there is one (commit 96292c7 holds the
# step-2565 state; the tree no longer does, so a fresh run starts from the fourth version)
# (`kinema.checkpoint.slim_training_state`: weights in bf16, no EMA, no AdamW state; the EMA restarts
# from the weights and Adam's moments afresh, with a 100-step re-warmup of the learning rate).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}

# 1. the world data of the shipped model (written clips are skipped), merged
kinema world dataset --out data/world-id --num 5160 --buckets --workers 2
for fps in 8 12 24; do
  kinema world dataset --out data/world-id-${fps}fps --num 1200 --fps $fps --buckets --workers 2
done
python -c "from kinema.data import merge_datasets; merge_datasets('data/world-mix', ['data/world-id', 'data/world-id-8fps', 'data/world-id-12fps', 'data/world-id-24fps'])"

# 2. the run (its latent cache and object maps build themselves first)
if [ ! -d runs/dit-obj/checkpoint ] && [ -d checkpoints/dit-obj/checkpoint ]; then
  mkdir -p runs/dit-obj && cp -r checkpoints/dit-obj/checkpoint runs/dit-obj/
fi
resume=()
[ -d runs/dit-obj/checkpoint ] && resume=(--resume)
OMP_NUM_THREADS=$THREADS kinema train dit --config default-dit --set data=data/world-mix --set output_dir=runs/dit-obj \
  --set vae=kinema/assets/default --set latent_cache=runs/latents4 --set init_from=kinema/assets/default \
  --set total_steps=3000 --set lr=1.5e-4 --set warmup_steps=100 --set p_independent_t=0.1 --set p_image=0.1 \
  --set object_weight=0.5 --set object_block=3 \
  --set sample_every=1500 --set checkpoint_every=250 --set checkpoint_minutes=10 --set num_workers=0 "${resume[@]}"

# 3. raw weights at guidance 2 (the probe is not exported), the card's evaluation of both models on
#    this machine (sampling differs in the last bits between machines and precisions, so the pair is
#    only exact when both ran here), the paired comparison
[ -f runs/model-obj/model_index.json ] || \
  python scripts/export_model.py runs/dit-obj runs/model-obj --weights raw --guidance 2
[ -f runs/eval-obj/report.json ] || \
  OMP_NUM_THREADS=$THREADS kinema eval --model runs/model-obj --split id --num 200 --out runs/eval-obj
[ -f runs/eval-shipped/report.json ] || \
  OMP_NUM_THREADS=$THREADS kinema eval --split id --num 200 --out runs/eval-shipped
kinema eval --compare runs/eval-shipped runs/eval-obj --out runs/eval-obj/vs-shipped

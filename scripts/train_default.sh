#!/usr/bin/env bash
# Reproduces the shipped default model from scratch in two stages (MODEL_CARD.md has the measured
# times and figures of each):
#   stage 1: world dataset -> 8-channel VAE -> latent cache -> DiT   (the first default model)
#   stage 2: 16-channel VAE warm-started from stage 1's VAE -> latent cache -> DiT warm-started
#            from stage 1's DiT (the second default model)
#   stage 3: stage 2's DiT continued for 3000 steps, then stage 2's VAE decoder fine-tuned on
#            33-frame windows (encoder frozen, so the DiT's latents stay valid) -> export into
#            kinema/assets/default (shipped)
# Every step is resumable: re-running this script after an interruption continues where it stopped
# (the dataset skips finished clips, training resumes from its last checkpoint, a finished run
# resumes to no steps at all).
#
#   bash scripts/train_default.sh            # CPU: hours (about 9 h on a 2-core CPU in all)
#
# Two OpenMP threads on a free 2-core machine; on a CPU shared with other work one thread per
# process is several times faster (THREADS=1). Under torchrun the same configs train with DDP.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
DATA=${DATA:-data/world-id}

# 1. Data: 5160 clips at 16 fps in three aspect buckets, 1200 each at 8, 12 and 24 fps. ~5 min.
bash scripts/world_data.sh "$DATA"

# resume=(--resume) when the run's folder already has a checkpoint
resume_if() { if [ -d "$1/checkpoint" ]; then echo --resume; fi; }

# 2. Stage 1 VAE: 8 latent channels, 7000 steps (~0.5 s each)
OMP_NUM_THREADS=$THREADS kinema train vae --config default-vae --set data="$DATA" --set output_dir=runs/vae \
  --set model=fast --set num_frames=9 --set batch_size=12 --set crop_size=64 --set total_steps=7000 \
  --set warmup_steps=100 --set lr=5e-4 --set model_config.mse_weight=2 --set model_config.fg_weight=20 \
  --set sample_every=500 --set checkpoint_every=250 --set checkpoint_minutes=6 --set num_workers=1 \
  $(resume_if runs/vae)

# 3. Stage 1 DiT on those latents (the latent cache builds itself first): cosine from 4e-4 to zero
#    at step 2800. Exported as the raw weights at guidance 2 into runs/model-stage1.
OMP_NUM_THREADS=$THREADS kinema train dit --config default-dit --set data=data/world-mix --set output_dir=runs/dit \
  --set vae=runs/vae/export --set warmup_steps=200 --set total_steps=2800 --set lr=4e-4 --set sample_every=500 \
  --set checkpoint_every=250 --set checkpoint_minutes=10 --set num_workers=0 $(resume_if runs/dit)
[ -f runs/model-stage1/model_index.json ] || \
  python scripts/export_model.py runs/dit runs/model-stage1 --weights raw --guidance 2

# 4. Stage 2 VAE: 16 latent channels, from stage 1's VAE (kinema.models.vae.grow_latent_channels:
#    8 new channels that the decoder ignores at first, so step 0 reconstructs exactly as stage 1),
#    stage 1's recipe at a lower peak lr: 10000 steps, ~0.6 s each. Why: stage 1's VAE's own
#    reconstructions of the simulator's clips scored as low as its DiT's samples (MODEL_CARD.md).
OMP_NUM_THREADS=$THREADS kinema train vae --config default-vae --set data="$DATA" --set output_dir=runs/vae16 \
  --set model=fast --set model_config.latent_channels=16 --set init_from=runs/vae/export \
  --set num_frames=9 --set batch_size=12 --set crop_size=64 --set total_steps=10000 --set warmup_steps=100 \
  --set lr=3e-4 --set model_config.mse_weight=2 --set model_config.fg_weight=20 --set sample_every=1000 \
  --set checkpoint_every=500 --set checkpoint_minutes=6 --set num_workers=1 $(resume_if runs/vae16)
[ -f runs/vae16/vae_report.json ] || kinema eval --vae runs/vae16/export --num 48 --out runs/vae16  # PSNR, parser

# 5. Stage 2 DiT on the 16-channel latents, from stage 1's DiT (kinema.models.dit.grow_in_channels:
#    patch embedding and output layer grown to 16 channels): 2000 steps, 1.7 s each, cosine 3e-4 to
#    zero; fewer independent per-frame noise levels than stage 1 and 10% of steps on stills.
OMP_NUM_THREADS=$THREADS kinema train dit --config default-dit --set data=data/world-mix --set output_dir=runs/dit16 \
  --set vae=runs/vae16/export --set init_from=runs/model-stage1 --set total_steps=2000 --set lr=3e-4 \
  --set warmup_steps=100 --set p_independent_t=0.2 --set p_image=0.1 --set sample_every=1000 \
  --set checkpoint_every=250 --set checkpoint_minutes=10 --set num_workers=0 $(resume_if runs/dit16)

[ -f runs/model-stage2/model_index.json ] || \
  python scripts/export_model.py runs/dit16 runs/model-stage2 --weights raw --guidance 2

# 6. Stage 3: the same DiT continued on the same latents, warm restart: 100 warmup steps to 2e-4,
#    cosine to zero at step 3000, fewer independent per-frame noise levels (a tenth). 1.75 s/step.
OMP_NUM_THREADS=$THREADS kinema train dit --config default-dit --set data=data/world-mix --set output_dir=runs/dit-c3 \
  --set vae=runs/vae16/export --set init_from=runs/model-stage2 --set total_steps=3000 --set lr=2e-4 \
  --set warmup_steps=100 --set p_independent_t=0.1 --set p_image=0.1 --set sample_every=1500 \
  --set checkpoint_every=250 --set checkpoint_minutes=10 --set num_workers=0 $(resume_if runs/dit-c3)

# 7. The VAE above saw only 9-frame windows, but clips decode as 33-frame windows: later latent
#    frames decoded with ghosts and streaks (PSNR fell from 31 dB at frame 8 to 26 dB at frame 16,
#    docs/eval/vae-dec33). Fine-tune its decoder on 33-frame windows with the encoder frozen, so the
#    latents, and with them the DiT, stay exactly as trained: 3000 steps, ~0.7 s each.
OMP_NUM_THREADS=$THREADS kinema train vae --config default-vae --set data="$DATA" --set output_dir=runs/vae16-dec33 \
  --set model=fast --set model_config.latent_channels=16 --set init_from=runs/vae16/export --set freeze_encoder=true \
  --set num_frames=33 --set batch_size=8 --set crop_size=64 --set total_steps=3000 --set warmup_steps=50 \
  --set lr=2e-4 --set model_config.mse_weight=2 --set model_config.fg_weight=20 --set sample_every=1000 \
  --set checkpoint_every=250 --set checkpoint_minutes=6 --set num_workers=1 $(resume_if runs/vae16-dec33)

# the shipped model: stage 3's DiT (raw weights at guidance 2, which scored at least as high as the
# EMA's) with step 7's decoder, sampled in 16 Euler steps (higher adherence than 20 and as steady,
# in 80% of the time: docs/experiments.md, "Fewer steps, and a second-order solver")
rm -rf kinema/assets/default
python scripts/export_model.py runs/dit-c3 kinema/assets/default --weights raw --guidance 2 --steps 16 \
  --vae runs/vae16-dec33/export

#!/usr/bin/env bash
# The default model's world data: 5160 clips at 16 fps in three aspect buckets, and 1200 each at
# 8, 12 and 24 fps (one model serves several frame rates: fps is a conditioning input), merged into
# data/world-mix. ~5 min on 2 cores; finished clips are skipped, so re-running it is cheap.
#
#     bash scripts/world_data.sh [DATA]     # DATA: the 16-fps folder (default data/world-id)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-data/world-id}
kinema world dataset --out "$DATA" --num 5160 --buckets --workers 2
for fps in 8 12 24; do
  kinema world dataset --out "$DATA-${fps}fps" --num 1200 --fps $fps --buckets --workers 2
done
python -c "from kinema.data import merge_datasets; merge_datasets('data/world-mix', ['$DATA', '$DATA-8fps', '$DATA-12fps', '$DATA-24fps'])"

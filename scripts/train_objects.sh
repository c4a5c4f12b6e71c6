#!/usr/bin/env bash
# Object supervision (MODEL_CARD.md, "Object supervision"): the card's warm restart (the control,
# scripts/warm_restart.sh) plus a probe after block 3 trained on the simulator's object maps with
# weight 0.5 (kinema.models.objects). Result: the plain restart's trade, not shipped. Commit 96292c7
# holds its step-2565 state in checkpoints/dit-obj, from which this resumes when it is there.
exec bash "$(dirname "$0")/warm_restart.sh" obj --set object_weight=0.5 --set object_block=3

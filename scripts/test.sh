#!/usr/bin/env bash
# Set up (or reuse) .venv, then run the test suite. Extra arguments go to pytest, e.g. -m "not slow".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=3 CUDA_VISIBLE_DEVICES=""
exec .venv/bin/python -m pytest "$@"

#!/usr/bin/env bash
# Set up (or reuse) .venv, then run the test suite's default tier (what CI runs). Arguments go to pytest; a marker
# expression replaces the default one: `-m slow` (the slow tier), `-m ""` (everything), `tests/vision` (a folder).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=3 CUDA_VISIBLE_DEVICES=""
case " $* " in
  *" -m "*) ;;
  *) set -- -m "not slow" "$@" ;;
esac
exec .venv/bin/python -m pytest "$@"

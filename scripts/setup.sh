#!/usr/bin/env bash
# Create or reuse .venv and install kerazoo with the tested stack (setup.cfg's ranges, pinned by constraints.txt);
# install Debian's Fashion-MNIST if missing. Reinstalls only when setup.cfg, pyproject.toml or constraints.txt
# change (a stamp in .venv records their hash). torch comes as its CPU build where a local wheel folder has it
# (PIP_FIND_LINKS or pip's config, e.g. /opt/wheels); constraints.txt pins its version, not the build.
set -euo pipefail
cd "$(dirname "$0")/.."

# Offline data from Debian: Fashion-MNIST (IDX files) and the fortunes text corpus (the char-RNN's default).
missing=""
[ -d /usr/share/datasets/fashion-mnist ] || missing="$missing dataset-fashion-mnist"
[ -d /usr/share/games/fortunes ] || missing="$missing fortunes"
if [ -n "$missing" ]; then
  echo "installing Debian packages:$missing"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $missing >/dev/null
fi

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=".venv/.kerazoo-installed"
want="$(sha256sum setup.cfg pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing kerazoo and its dependencies into .venv (about a minute)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]"
  .venv/bin/python -m pip check
  echo "$want" > "$stamp"
fi

#!/usr/bin/env bash
# The main job on a fresh machine: set up, train a zoo model on Fashion-MNIST under a tf.distribute strategy,
# export it (SavedModel, TFLite float and int8, ONNX), evaluate every format on the test set, serve and query it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL=3
KZ=.venv/bin/kerazoo
MODEL="${MODEL:-lenet5}" EPOCHS="${EPOCHS:-2}"

$KZ train "$MODEL" --dataset fashion_mnist --epochs "$EPOCHS" --batch-size 128 --strategy mirrored \
    --out "runs/demo_$MODEL" --overwrite
version_dir=$($KZ export "runs/demo_$MODEL" --repo models --name "fashion_$MODEL" | tee /dev/stderr | sed -n 's/^exported //p')
echo
echo "== every exported format on the Fashion-MNIST test set =="
$KZ evaluate "$version_dir"

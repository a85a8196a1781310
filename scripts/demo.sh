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

echo
echo "== serve the repository TF Serving-style and query it over REST and gRPC =="
REST_PORT="${REST_PORT:-8501}" GRPC_PORT="${GRPC_PORT:-8500}"
$KZ serve --repo models --rest-port "$REST_PORT" --grpc-port "$GRPC_PORT" --enable-batching &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
for _ in $(seq 120); do  # wait until the model is AVAILABLE (loading imports TensorFlow first)
  if .venv/bin/python - "$REST_PORT" "fashion_$MODEL" <<'PY' 2>/dev/null; then break; fi
import json, sys, urllib.request
status = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/v1/models/{sys.argv[2]}", timeout=2))
sys.exit(0 if any(v["state"] == "AVAILABLE" for v in status["model_version_status"]) else 1)
PY
  sleep 1
done
.venv/bin/python examples/query_server.py --model "fashion_$MODEL" --rest "127.0.0.1:$REST_PORT" \
    --grpc "127.0.0.1:$GRPC_PORT" --n 8

"""Query a TF Serving-compatible server (kerazoo serve, or real TF Serving) over REST and gRPC.

    python examples/query_server.py --model fashion_lenet5 --rest localhost:8501 --grpc localhost:8500 --n 8

Sends the first N Fashion-MNIST test images as raw pixels; prints the predicted and true classes from both protocols.
Uses only what a TF Serving client uses (urllib/json for REST, the tensorflow-serving-api stubs for gRPC): no kerazoo
code touches the model.
"""

from __future__ import annotations

import argparse
import json
import urllib.request

import numpy as np


def fashion_test_images(n: int):
    from kerazoo.datasets import load_arrays  # only to read the dataset files; the model is queried over the wire

    images, labels = load_arrays("fashion_mnist", f"test[:{n}]")
    return images.astype(np.float32), labels


def rest_predict(address: str, model: str, images: np.ndarray) -> np.ndarray:
    body = json.dumps({"signature_name": "serving_default", "instances": images.tolist()}).encode()
    request = urllib.request.Request(f"http://{address}/v1/models/{model}:predict", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        predictions = json.load(response)["predictions"]
    return np.array([p["probabilities"] for p in predictions])


def grpc_predict(address: str, model: str, images: np.ndarray) -> np.ndarray:
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        request.model_spec.signature_name = "serving_default"
        request.inputs["images"].CopyFrom(tf.make_tensor_proto(images))
        response = stub.Predict(request, timeout=30)
    return tf.make_ndarray(response.outputs["probabilities"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--rest", default="127.0.0.1:8501")
    parser.add_argument("--grpc", default="127.0.0.1:8500")
    parser.add_argument("--n", type=int, default=8)
    args = parser.parse_args()

    images, labels = fashion_test_images(args.n)
    rest = rest_predict(args.rest, args.model, images)
    grpc_probs = grpc_predict(args.grpc, args.model, images)
    print(f"{'#':>3} {'true':>5} {'REST':>5} {'gRPC':>5}  max |REST - gRPC| probability")
    for i, label in enumerate(labels):
        print(f"{i:>3} {label:>5} {rest[i].argmax():>5} {grpc_probs[i].argmax():>5}  {np.abs(rest[i] - grpc_probs[i]).max():.2e}")
    agree = float(np.mean(rest.argmax(-1) == labels))
    print(f"REST and gRPC agree on all {args.n}: {bool((rest.argmax(-1) == grpc_probs.argmax(-1)).all())}; "
          f"accuracy on these {args.n}: {agree:.2f}")


if __name__ == "__main__":
    main()

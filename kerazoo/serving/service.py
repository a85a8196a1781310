"""What the server does, apart from the wire: find the servable, check inputs, run, shape the results.

REST (``rest.py``) and gRPC (``grpc_service.py``) both call :class:`ServingService`, so the two protocols agree on
every rule and every error message.
"""

from __future__ import annotations

import numpy as np

from kerazoo.serving.errors import ServingError, invalid_argument
from kerazoo.serving.images import DEFAULT_MAX_IMAGE_PIXELS, check_image_pixels
from kerazoo.serving.metrics import ServingMetrics
from kerazoo.serving.repository import (
    CLASSIFY_METHOD, REGRESS_METHOD, ModelRepository, Servable, Signature,
)

UNKNOWN_MODEL = "<unknown>"
METADATA_FIELDS = ("signature_def", "model_card")  # TF Serving's one field, and kerazoo's card
DEFAULT_MAX_REQUEST_ELEMENTS = 2**23  # numbers or strings in one request's tensors, over both protocols


class ServingService:
    """Args:
        repository: the model repository.
        metrics: where requests are counted.
        max_request_elements: the most tensor elements one request may carry (REST and gRPC alike).
        max_image_pixels: the most pixels an encoded image in a DT_STRING input may declare in its header.
    """

    def __init__(self, repository: ModelRepository, metrics: ServingMetrics | None = None, *,
                 max_request_elements: int = DEFAULT_MAX_REQUEST_ELEMENTS,
                 max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS):
        for name, value in (("max_request_elements", max_request_elements), ("max_image_pixels", max_image_pixels)):
            if value < 1:
                raise ValueError(f"Invalid {name}: expected >= 1. Received: {value}")
        self.repository = repository
        self.metrics = metrics or ServingMetrics()
        self.max_request_elements = max_request_elements
        self.max_image_pixels = max_image_pixels

    def record_request(self, model: str, api: str, entrypoint: str, code: str, seconds: float) -> None:
        """Count a request; names of unknown models are counted as ``<unknown>`` so clients cannot grow the metrics."""
        name = model if self.repository.knows(model) else UNKNOWN_MODEL
        self.metrics.record_request(name, api, entrypoint, code, seconds)

    def servable(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        return self.repository.get(name, version, label)

    # -- predict ---------------------------------------------------------------------------------------------

    @staticmethod
    def check_input_names(signature: Signature, names) -> None:
        names = set(names)
        unknown = sorted(names - set(signature.inputs))
        if unknown:
            raise invalid_argument(f"input tensor alias not found in signature: {unknown[0]}. Inputs expected to be "
                                   f"in the set {{{','.join(sorted(signature.inputs))}}}.")
        missing = sorted(set(signature.inputs) - names)
        if missing:
            raise invalid_argument(f"Missing input tensor(s) {{{','.join(missing)}}} of signature "
                                   f"{signature.key!r}; it expects {{{','.join(sorted(signature.inputs))}}}.")

    def check_elements(self, count: int, where: str) -> None:
        if count > self.max_request_elements:
            raise invalid_argument(f"{where}: {count} elements, over the server's limit of {self.max_request_elements}"
                                   " per request (--max-request-elements)")

    def check_inputs(self, servable: Servable, inputs: dict[str, np.ndarray]) -> None:
        """The limits every request meets before it runs: total elements, rows the batch queue can hold, and the
        pixel count of encoded images."""
        self.check_elements(sum(int(np.size(v)) for v in inputs.values()), "the request")
        batcher = servable.batcher
        if batcher is not None:
            rows = max((np.shape(v)[0] for v in inputs.values() if np.ndim(v)), default=0)
            limit = batcher.options.max_batch_size * batcher.options.max_enqueued_batches
            if rows > limit:
                raise invalid_argument(f"The request has {rows} rows, over the batching limit of {limit} "
                                       "(max_batch_size x max_enqueued_batches)")
        for key, value in inputs.items():
            if value.dtype == object:
                check_image_pixels(value, self.max_image_pixels, f"input {key!r}")

    def predict(self, servable: Servable, signature: Signature, inputs: dict[str, np.ndarray],
                output_filter=()) -> dict[str, np.ndarray]:
        """Run a signature on checked inputs; ``output_filter`` keeps only those outputs (all if empty)."""
        self.check_input_names(signature, inputs)
        self.check_inputs(servable, inputs)
        for name in output_filter:
            if name not in signature.outputs:
                raise invalid_argument(f"output tensor alias not found in signature: {name} Outputs expected to be "
                                       f"in the set {{{','.join(sorted(signature.outputs))}}}.")
        outputs = servable.run(signature.key, inputs)
        if output_filter:
            outputs = {k: outputs[k] for k in output_filter}
        return outputs

    # -- classify / regress ------------------------------------------------------------------------------------

    @staticmethod
    def _example_input(signature: Signature, method: str, kind: str) -> str:
        if signature.method_name != method:
            raise invalid_argument(f"Expected {kind} signature method_name to be {method}. "
                                   f"Was: {signature.method_name}")
        if len(signature.inputs) != 1:
            raise invalid_argument(f"Expected one input Tensor in the {kind} signature; it has {len(signature.inputs)}")
        (key, info), = signature.inputs.items()
        if info.dtype.name != "string":
            raise invalid_argument(f"The {kind} signature's input {key!r} must be DT_STRING (serialized tf.Example)")
        return key

    def classify(self, servable: Servable, signature_name: str, examples: list[bytes]) -> list[list[tuple[str, float]]]:
        """(label, score) pairs per example, from a signature with ``classes`` and/or ``scores`` outputs."""
        signature = servable.signature(signature_name)
        key = self._example_input(signature, CLASSIFY_METHOD, "classification")
        self.check_inputs(servable, {key: _string_batch(examples)})
        if "classes" not in signature.outputs and "scores" not in signature.outputs:
            raise invalid_argument("Expected classification signature outputs 'classes' and/or 'scores'")
        outputs = servable.run(signature.key, {key: _string_batch(examples)})
        n = len(examples)
        classes, scores = outputs.get("classes"), outputs.get("scores")
        for name, tensor in (("classes", classes), ("scores", scores)):
            if tensor is not None and (tensor.ndim != 2 or tensor.shape[0] != n):
                raise invalid_argument(f"Expected Tensor shape: [{n} num_classes] for output {name!r} but got "
                                       f"{list(tensor.shape)}")
        if classes is not None and scores is not None and classes.shape != scores.shape:
            raise invalid_argument(f"Tensors class and score should match in shape; got {list(classes.shape)} and "
                                   f"{list(scores.shape)}")
        width = (classes if classes is not None else scores).shape[1]
        results = []
        for i in range(n):
            row = []
            for j in range(width):
                label = classes[i, j] if classes is not None else b""
                label = label.decode("utf-8", "replace") if isinstance(label, bytes) else str(label)
                row.append((label, float(scores[i, j]) if scores is not None else 0.0))
            results.append(row)
        return results

    def regress(self, servable: Servable, signature_name: str, examples: list[bytes]) -> list[float]:
        """One value per example, from a signature whose ``outputs`` is [batch] or [batch, 1]."""
        signature = servable.signature(signature_name)
        key = self._example_input(signature, REGRESS_METHOD, "regression")
        self.check_inputs(servable, {key: _string_batch(examples)})
        if "outputs" not in signature.outputs:
            raise invalid_argument("No regression outputs found in the signature (expected an output 'outputs')")
        values = servable.run(signature.key, {key: _string_batch(examples)})["outputs"]
        n = len(examples)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.ndim != 1 or values.shape[0] != n:
            raise invalid_argument(f"Expected output Tensor shape to be either [{n}] or [{n}, 1] but got "
                                   f"{list(values.shape)}")
        return [float(v) for v in values]

    # -- metadata and status -----------------------------------------------------------------------------------

    def metadata(self, servable: Servable, fields=("signature_def",)):
        """A ``GetModelMetadataResponse`` with the SavedModel's SignatureDefs (TF Serving's field) and, when asked
        for the ``model_card`` field, the version's model card (its ``kerazoo.json``) as a ``google.protobuf.Struct``."""
        from google.protobuf import any_pb2, struct_pb2
        from tensorflow_serving.apis import get_model_metadata_pb2

        if not fields:
            raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
        for field in fields:
            if field not in METADATA_FIELDS:
                raise invalid_argument(f"Metadata field {field} is not supported (supported: "
                                       f"{', '.join(METADATA_FIELDS)})")
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for key, value in servable.signature_defs.items():
            signature_map.signature_def[key].CopyFrom(value)
        if "signature_def" in fields:
            packed = any_pb2.Any()
            packed.Pack(signature_map)
            response.metadata["signature_def"].CopyFrom(packed)
        if "model_card" in fields:
            card = struct_pb2.Struct()
            card.update(servable.card)
            packed = any_pb2.Any()
            packed.Pack(card)
            response.metadata["model_card"].CopyFrom(packed)
        return response, signature_map

    def list_models(self) -> list[dict]:
        """Every model the server knows with each version's state (``GET /v1/models``), newest version first."""
        models = []
        for name in self.repository.model_names():
            try:
                states = self.repository.status(name)
            except ServingError:  # configured, no version seen yet
                states = []
            models.append({"name": name, "versions": [
                {"version": str(s.version), "state": s.state,
                 "status": {"error_code": s.error_code, "error_message": s.error_message}} for s in states]})
        return models

    def status(self, name: str, version: int | None = None, label: str | None = None):
        """A ``GetModelStatusResponse`` for a model (or one of its versions)."""
        from tensorflow.core.protobuf import error_codes_pb2
        from tensorflow_serving.apis import get_model_status_pb2

        response = get_model_status_pb2.GetModelStatusResponse()
        for state in self.repository.status(name, version, label):
            entry = response.model_version_status.add()
            entry.version = state.version
            entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(state.state)
            entry.status.error_code = error_codes_pb2.Code.Value(state.error_code)
            entry.status.error_message = state.error_message
        return response


def _string_batch(items: list[bytes]) -> np.ndarray:
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array

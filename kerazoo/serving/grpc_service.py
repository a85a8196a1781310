"""TF Serving's gRPC services from the ``tensorflow-serving-api`` protos: PredictionService and ModelService.

``Predict``, ``Classify``, ``Regress`` and ``GetModelMetadata`` (PredictionService), ``GetModelStatus`` and
``HandleReloadConfigRequest`` (ModelService). Failures abort with the gRPC code of the same name as the TF Serving
status (NOT_FOUND, INVALID_ARGUMENT, ...). ``MultiInference`` answers UNIMPLEMENTED. ``HandleReloadConfigRequest``
answers PERMISSION_DENIED when the admin API is off or a base path lies outside the repository's roots.
"""

from __future__ import annotations

import logging
import time
from concurrent import futures

import grpc
from tensorflow_serving.apis import (
    classification_pb2, model_management_pb2, model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc,
    regression_pb2,
)

from kerazoo.serving.config import host_port, models_from_proto
from kerazoo.serving.errors import ServingError, invalid_argument
from kerazoo.serving.service import ServingService
from kerazoo.serving.tensors import fill_proto, input_proto_to_examples, proto_to_array

log = logging.getLogger("kerazoo.serving")


def _spec(model_spec) -> tuple[str, int | None, str | None]:
    version = model_spec.version.value if model_spec.HasField("version") else None
    label = model_spec.version_label if model_spec.WhichOneof("version_choice") == "version_label" else None
    return model_spec.name, version, label


class _Base:
    def __init__(self, service: ServingService):
        self.service = service

    def _serve(self, context, api: str, model: str, fn):
        start = time.perf_counter()
        try:
            result = fn()
        except ServingError as error:
            code, message = error.code, error.message
        except Exception as error:  # a bug: report it as INTERNAL and keep serving
            log.exception("internal error in gRPC %s", api)
            internal = ServingError("INTERNAL", f"Internal error: {type(error).__name__}: {error}")  # cut to size
            code, message = internal.code, internal.message
        else:
            self.service.record_request(model, api, "GRPC", "OK", time.perf_counter() - start)
            return result
        self.service.record_request(model, api, "GRPC", code, time.perf_counter() - start)
        context.abort(getattr(grpc.StatusCode, code), message)


class PredictionServicer(_Base, prediction_service_pb2_grpc.PredictionServiceServicer):
    def Predict(self, request, context):
        def run():
            servable = self.service.servable(*_spec(request.model_spec))
            signature = servable.signature(request.model_spec.signature_name)
            self.service.check_input_names(signature, request.inputs.keys())
            limit = self.service.max_request_elements
            inputs = {key: proto_to_array(value, signature.inputs[key], f"input {key!r}", limit)
                      for key, value in request.inputs.items()}
            outputs = self.service.predict(servable, signature, inputs, list(request.output_filter))
            response = predict_pb2.PredictResponse()
            response.model_spec.name = servable.name
            response.model_spec.version.value = servable.version
            response.model_spec.signature_name = signature.key
            for key, value in outputs.items():
                fill_proto(response.outputs[key], value)
            return response

        return self._serve(context, "predict", request.model_spec.name, run)

    def Classify(self, request, context):
        def run():
            servable = self.service.servable(*_spec(request.model_spec))
            signature_name = request.model_spec.signature_name
            rows = self.service.classify(servable, signature_name, input_proto_to_examples(request.input))
            response = classification_pb2.ClassificationResponse()
            _fill_spec(response.model_spec, servable, signature_name)
            for row in rows:
                classifications = response.result.classifications.add()
                for label_text, score in row:
                    classifications.classes.add(label=label_text, score=score)
            return response

        return self._serve(context, "classify", request.model_spec.name, run)

    def Regress(self, request, context):
        def run():
            servable = self.service.servable(*_spec(request.model_spec))
            signature_name = request.model_spec.signature_name
            values = self.service.regress(servable, signature_name, input_proto_to_examples(request.input))
            response = regression_pb2.RegressionResponse()
            _fill_spec(response.model_spec, servable, signature_name)
            for value in values:
                response.result.regressions.add(value=value)
            return response

        return self._serve(context, "regress", request.model_spec.name, run)

    def GetModelMetadata(self, request, context):
        def run():
            servable = self.service.servable(*_spec(request.model_spec))
            response, _ = self.service.metadata(servable, list(request.metadata_field))
            return response

        return self._serve(context, "GetModelMetadata", request.model_spec.name, run)

    def MultiInference(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "MultiInference is not implemented by kerazoo serve")


class ModelServicer(_Base, model_service_pb2_grpc.ModelServiceServicer):
    """``admin``: whether HandleReloadConfigRequest may change what is served (off: PERMISSION_DENIED);
    ``workers``: server processes sharing the port (more than one: FAILED_PRECONDITION, as the request would
    change only the worker it reaches)."""

    def __init__(self, service: ServingService, *, admin: bool = True, workers: int = 1):
        super().__init__(service)
        self.admin = admin
        self.workers = workers

    def GetModelStatus(self, request, context):
        def run():
            name, version, label = _spec(request.model_spec)
            return self.service.status(name, version, label)

        return self._serve(context, "GetModelStatus", request.model_spec.name, run)

    def HandleReloadConfigRequest(self, request, context):
        def run():
            if not self.admin:
                raise ServingError("PERMISSION_DENIED", "The admin API (HandleReloadConfigRequest) is off on this "
                                   "server (--no-admin, or a non-loopback --host without --admin)")
            if self.workers > 1:
                raise ServingError("FAILED_PRECONDITION", f"This server runs {self.workers} worker processes "
                                   "(--workers) and a reload would reach only one; change the --model-config-file "
                                   "instead (every worker polls it: --model-config-file-poll-wait-seconds)")
            repository = self.service.repository
            try:
                models = models_from_proto(request.config, source="<ReloadConfigRequest>", repo=repository.repo)
            except ValueError as error:
                raise invalid_argument(str(error)) from None
            if not models:  # TF Serving would unload every model; one client should not be able to
                raise invalid_argument("The config names no model; a reload must keep at least one model served")
            repository.reload_config(models)
            response = model_management_pb2.ReloadConfigResponse()
            response.status.error_code = 0
            return response

        return self._serve(context, "HandleReloadConfigRequest", "", run)  # counted as <unknown>


def _fill_spec(model_spec, servable, signature_name: str) -> None:
    model_spec.name = servable.name
    model_spec.version.value = servable.version
    model_spec.signature_name = signature_name or "serving_default"


class GrpcServer:
    """The gRPC server: both servicers on one port, a thread pool of ``max_workers``. ``workers``: server
    processes sharing the port (SO_REUSEPORT when more than one; otherwise a port in use is an error)."""

    def __init__(self, service: ServingService, host: str, port: int, *, max_request_bytes: int,
                 max_workers: int = 128, admin: bool = True, workers: int = 1):
        options = [("grpc.max_receive_message_length", max_request_bytes),
                   ("grpc.max_send_message_length", -1),
                   ("grpc.so_reuseport", int(workers > 1))]
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
                                   options=options)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionServicer(service), self._server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(service, admin=admin, workers=workers),
                                                                  self._server)
        self.port = self._server.add_insecure_port(host_port(host, port))
        if not self.port:
            raise OSError(f"cannot listen for gRPC on {host_port(host, port)}")
        self.address = host_port(host, self.port)

    def start(self) -> None:
        self._server.start()

    def stop(self, grace: float = 2.0) -> None:
        self._server.stop(grace).wait(grace + 5)

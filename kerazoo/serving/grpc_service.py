"""TF Serving's gRPC services from the ``tensorflow-serving-api`` protos: PredictionService and ModelService.

``Predict``, ``Classify``, ``Regress`` and ``GetModelMetadata`` (PredictionService), ``GetModelStatus`` and
``HandleReloadConfigRequest`` (ModelService). Failures abort with the gRPC code of the same name as the TF Serving
status (NOT_FOUND, INVALID_ARGUMENT, ...). ``MultiInference`` answers UNIMPLEMENTED. ``HandleReloadConfigRequest``
answers PERMISSION_DENIED when the admin API is off or a base path lies outside the repository's roots.

The server is gRPC's asyncio one, on an event loop in a thread of its own. A batched ``Predict`` is read, queued
and answered on the loop: no thread waits for its batch (the batch thread wakes the loop once the batch is done),
where a thread per request cost a hand-off to the pool and a wake-up per request (measured: bench/serving_load.py).
Work that blocks (a model call without batching, classify and regress, metadata, reloads) runs in a thread pool.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent import futures

import grpc
from tensorflow_serving.apis import (
    classification_pb2, model_management_pb2, model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc,
    regression_pb2,
)

from kerazoo.serving.config import models_from_proto
from kerazoo.serving.errors import ServingError, invalid_argument
from kerazoo.serving.service import ServingService, filter_outputs
from kerazoo.serving.tensors import fill_proto, input_proto_to_examples, proto_to_array

log = logging.getLogger("kerazoo.serving")


def _spec(model_spec) -> tuple[str, int | None, str | None]:
    version = model_spec.version.value if model_spec.HasField("version") else None
    label = model_spec.version_label if model_spec.WhichOneof("version_choice") == "version_label" else None
    return model_spec.name, version, label


class _Base:
    def __init__(self, service: ServingService, executor: futures.Executor):
        self.service = service
        self.executor = executor

    async def _serve(self, context, api: str, model: str, fn, *, blocking: bool = True):
        """Run ``fn`` (in the pool when it may block, else a coroutine function on the loop) and answer its result,
        or abort with its ServingError's code; every request is counted once."""
        start = time.perf_counter()
        try:
            result = await (asyncio.get_running_loop().run_in_executor(self.executor, fn) if blocking else fn())
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
        await context.abort(getattr(grpc.StatusCode, code), message)


class PredictionServicer(_Base, prediction_service_pb2_grpc.PredictionServiceServicer):
    async def Predict(self, request, context):
        async def run():
            servable = self.service.servable(*_spec(request.model_spec))
            signature = servable.signature(request.model_spec.signature_name)
            self.service.check_input_names(signature, request.inputs.keys())
            limit = self.service.max_request_elements
            inputs = {key: proto_to_array(value, signature.inputs[key], f"input {key!r}", limit)
                      for key, value in request.inputs.items()}
            output_filter = list(request.output_filter)
            self.service.check_predict(servable, signature, inputs, output_filter)
            outputs = filter_outputs(await self._run(servable, signature.key, inputs), output_filter)
            response = predict_pb2.PredictResponse()
            response.model_spec.name = servable.name
            response.model_spec.version.value = servable.version
            response.model_spec.signature_name = signature.key
            for key, value in outputs.items():
                fill_proto(response.outputs[key], value)
            return response

        return await self._serve(context, "predict", request.model_spec.name, run, blocking=False)

    async def _run(self, servable, signature_key: str, inputs: dict):
        """The signature's outputs: through the batcher without blocking the loop, or in the pool when the request
        cannot be batched (batching off, too many rows, the version retiring)."""
        loop = asyncio.get_running_loop()
        batcher = servable.batcher
        if batcher is not None:
            done = loop.create_future()
            task = batcher.enqueue(signature_key, inputs, lambda task: _settle_from_thread(loop, done, task))
            if task is not None:
                return await done
        return await loop.run_in_executor(self.executor, servable.call, signature_key, inputs)

    async def Classify(self, request, context):
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

        return await self._serve(context, "classify", request.model_spec.name, run)

    async def Regress(self, request, context):
        def run():
            servable = self.service.servable(*_spec(request.model_spec))
            signature_name = request.model_spec.signature_name
            values = self.service.regress(servable, signature_name, input_proto_to_examples(request.input))
            response = regression_pb2.RegressionResponse()
            _fill_spec(response.model_spec, servable, signature_name)
            for value in values:
                response.result.regressions.add(value=value)
            return response

        return await self._serve(context, "regress", request.model_spec.name, run)

    async def GetModelMetadata(self, request, context):
        def run():
            servable = self.service.servable(*_spec(request.model_spec))
            response, _ = self.service.metadata(servable, list(request.metadata_field))
            return response

        return await self._serve(context, "GetModelMetadata", request.model_spec.name, run)

    async def MultiInference(self, request, context):
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "MultiInference is not implemented by kerazoo serve")


class ModelServicer(_Base, model_service_pb2_grpc.ModelServiceServicer):
    """``admin``: whether HandleReloadConfigRequest may change what is served (off: PERMISSION_DENIED)."""

    def __init__(self, service: ServingService, executor: futures.Executor, *, admin: bool = True):
        super().__init__(service, executor)
        self.admin = admin

    async def GetModelStatus(self, request, context):
        def run():
            name, version, label = _spec(request.model_spec)
            return self.service.status(name, version, label)

        return await self._serve(context, "GetModelStatus", request.model_spec.name, run)

    async def HandleReloadConfigRequest(self, request, context):
        def run():
            if not self.admin:
                raise ServingError("PERMISSION_DENIED", "The admin API (HandleReloadConfigRequest) is off on this "
                                   "server (--no-admin, or a non-loopback --host without --admin)")
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

        return await self._serve(context, "HandleReloadConfigRequest", "", run)  # counted as <unknown>


def _fill_spec(model_spec, servable, signature_name: str) -> None:
    model_spec.name = servable.name
    model_spec.version.value = servable.version
    model_spec.signature_name = signature_name or "serving_default"


def _settle_from_thread(loop: asyncio.AbstractEventLoop, done: asyncio.Future, task) -> None:
    """Called by a batch thread when ``task`` is finished: hand its outcome to the loop."""
    try:
        loop.call_soon_threadsafe(_settle, done, task)
    except RuntimeError:  # the loop is closed: the server stopped and nobody waits for the answer
        task.error = task.result = task.inputs = None


def _settle(done: asyncio.Future, task) -> None:
    try:
        result = task.outcome()
    except BaseException as error:
        if not done.cancelled():
            done.set_exception(error)
        return
    if not done.cancelled():  # the client went away
        done.set_result(result)


def _grpc_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class GrpcServer:
    """The gRPC server: both servicers on one port, an asyncio server on a loop thread, and ``max_workers``
    threads for the work that blocks."""

    def __init__(self, service: ServingService, host: str, port: int, *, max_request_bytes: int,
                 max_workers: int = 128, admin: bool = True):
        self._options = [("grpc.max_receive_message_length", max_request_bytes),
                         ("grpc.max_send_message_length", -1),
                         ("grpc.so_reuseport", 0)]
        self._executor = futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="grpc-loop", daemon=True)
        self._thread.start()
        try:
            self.port = self._call(self._create(service, _grpc_address(host, port), admin))
        except BaseException:
            self._close_loop()
            raise
        if not self.port:
            self._close_loop()
            raise OSError(f"cannot listen for gRPC on {_grpc_address(host, port)}")
        self.address = _grpc_address(host, self.port)

    def _call(self, coroutine, timeout: float | None = 60.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _create(self, service: ServingService, address: str, admin: bool) -> int:
        self._server = grpc.aio.server(options=self._options)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionServicer(service, self._executor), self._server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(
            ModelServicer(service, self._executor, admin=admin), self._server)
        try:
            return self._server.add_insecure_port(address)
        except RuntimeError:  # gRPC's asyncio server raises where the threaded one returned 0
            return 0

    def start(self) -> None:
        self._call(self._server.start())

    def stop(self, grace: float = 2.0) -> None:
        if self._loop.is_closed():
            return
        try:
            self._call(self._server.stop(grace), timeout=grace + 5)
        finally:
            self._close_loop()

    def _close_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()
        self._executor.shutdown(wait=False)

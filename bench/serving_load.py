"""Serving throughput and latency on loopback: kerazoo serve (batched) vs. in-process predict vs. a naive server.

    python bench/serving_load.py                       # resnet20 (CIFAR size) from the zoo, 4 s per point
    python bench/serving_load.py --model-dir models/fashion_r20/1 --seconds 8

For concurrency 1, 16 and 64, a load generator sends predict requests (one image each, bodies made once) for a
bounded time and counts, and records throughput and p50/p99 latency. The load comes from h2load (nghttp2's load
generator, written in C: ``apt-get install nghttp2-client``) when it is installed: keep-alive HTTP/1.1 connections
for REST, 4 HTTP/2 connections for gRPC; otherwise from 4 Python client processes (``http.client`` connections, one
gRPC channel each). The clients run on the same cores as the server, so their CPU per request is recorded too
(h2load: ~0.035 ms, the Python clients: 0.17 ms REST and 0.24 ms gRPC, measured here). Against:

- limit: the SavedModel's ``serving_default`` called in-process on batches of ``--max-batch-size`` images
  (no server, no serialization) — the most this machine can do with the model;
- batched: ``kerazoo serve`` with server-side batching (``--max-batch-size``, timeout 0, the server's default
  number of batch threads);
- naive: the same server with batching off, so every request runs its own model call (one request, one predict).

``--workers N`` runs both servers as N processes on the same ports (``kerazoo serve --workers N``) and also
measures the limit as they split the machine (N processes at once, each with cores / N TensorFlow threads).

Goals (issue 7): batched >= 70 % of the limit and >= 3x naive at concurrency 64. Issue 15 adds: JSON pixels vs
encoded PNG files (``serving_bytes``, base64) through the batched server at concurrency 16, and the first request's
latency right after a version swap with and without replaying the warm-up file, against the steady state's p50/p99.
Prints a table and writes bench/results/serving_load.json (``--quick``: serving_load_quick.json, ~2 minutes).
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import shutil
import sys
import tempfile
import time

# bench/ is off the path until TensorFlow is imported: a bench file named like a module that TF or jax imports
# would shadow it. `common` is imported at the end.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"


# -- clients (run in spawned processes: no TensorFlow import here) -------------------------------------------------


def _rest_worker(host, port, path, body, start_at, end_at, max_requests, out, index, errors):
    import http.client

    connection = http.client.HTTPConnection(host, port, timeout=60)
    request = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    latencies = []
    sent = 0
    while sent < max_requests:
        now = time.time()
        if now >= end_at:
            break
        try:
            if connection.sock is None:
                connection.connect()
            connection.sock.sendall(request)  # one write: no Nagle / delayed-ACK stall
            response = http.client.HTTPResponse(connection.sock, method="POST")
            response.begin()
            payload = response.read()
            ok = response.status == 200 and payload.startswith(b'{"predictions"')
        except OSError:
            connection.close()
            ok = False
        done = time.time()
        sent += 1
        if not ok:
            errors[index] += 1
        elif now >= start_at:
            latencies.append(done - now)
    connection.close()
    out[index] = latencies, sent


def _grpc_worker(address, body, start_at, end_at, max_requests, out, index, errors, channel):
    import grpc

    predict = channel.unary_unary(PREDICT_METHOD)  # raw bytes in and out: the request is pre-serialized
    latencies = []
    sent = 0
    while sent < max_requests:
        now = time.time()
        if now >= end_at:
            break
        try:
            ok = len(predict(body, timeout=60)) > 0
        except grpc.RpcError:
            ok = False
        done = time.time()
        sent += 1
        if not ok:
            errors[index] += 1
        elif now >= start_at:
            latencies.append(done - now)
    out[index] = latencies, sent


def client_process(kind, target, path, body, threads, start_at, end_at, max_requests, queue):
    import threading

    cpu_start = time.process_time()

    out, errors = [None] * threads, [0] * threads
    channel = None
    if kind == "grpc":
        import grpc

        channel = grpc.insecure_channel(target)
        grpc.channel_ready_future(channel).result(timeout=60)
        workers = [threading.Thread(target=_grpc_worker, args=(target, body, start_at, end_at, max_requests, out, i,
                                                                errors, channel)) for i in range(threads)]
    else:
        host, port = target.rsplit(":", 1)
        workers = [threading.Thread(target=_rest_worker, args=(host, int(port), path, body, start_at, end_at,
                                                                max_requests, out, i, errors)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=max(1.0, end_at - time.time()) + 120)
    if channel is not None:
        channel.close()
    # The clients' CPU time per request: on one machine it is CPU the server does not get.
    latencies = [x for got in out if got for x in got[0]]
    queue.put((latencies, sum(errors), time.process_time() - cpu_start, sum(got[1] for got in out if got)))


def run_load(kind, target, path, body, concurrency, seconds, warmup, max_requests):
    """Throughput (requests/s) and latency percentiles (ms) of ``concurrency`` clients for ``seconds``."""
    import multiprocessing

    import numpy as np

    context = multiprocessing.get_context("spawn")
    processes = min(concurrency, 4)
    per_process = [concurrency // processes + (1 if i < concurrency % processes else 0) for i in range(processes)]
    queue = context.Queue()
    start_at = time.time() + warmup + 3.0  # time for the processes to start
    end_at = start_at + seconds
    procs = [context.Process(target=client_process, args=(kind, target, path, body, n, start_at, end_at,
                                                          max_requests, queue), daemon=True)
             for n in per_process]
    for proc in procs:
        proc.start()
    latencies, errors, client_cpu, sent = [], 0, 0.0, 0
    for _ in procs:
        got, failed, cpu, count = queue.get(timeout=seconds + warmup + 300)
        latencies += got
        errors += failed
        client_cpu += cpu
        sent += count
    for proc in procs:
        proc.join(timeout=30)
    latencies = np.array(latencies) * 1e3
    return {
        "concurrency": concurrency,
        "requests": int(len(latencies)),
        "errors": int(errors),
        "throughput_rps": round(len(latencies) / seconds, 1),
        "p50_ms": round(float(np.percentile(latencies, 50)), 2) if len(latencies) else None,
        "p99_ms": round(float(np.percentile(latencies, 99)), 2) if len(latencies) else None,
        "client_cpu_ms_per_request": round(client_cpu / sent * 1e3, 3) if sent else None,
    }


def h2load_load(kind, target, path, body, concurrency, seconds, warmup, server, grpc_connections=4) -> dict:
    """The same load from h2load (nghttp2's load generator, written in C): for REST ``concurrency`` keep-alive
    HTTP/1.1 connections with one request in flight each, for gRPC ``grpc_connections`` HTTP/2 connections (4: as
    the Python clients' 4 channels) with ``concurrency / grpc_connections`` streams each. gRPC answers its errors
    with HTTP 200, so the server's own request counts by status give the errors."""
    import resource
    import struct
    import subprocess

    import numpy as np

    folder = tempfile.mkdtemp(prefix="h2load_")
    data, log_file = os.path.join(folder, "body"), os.path.join(folder, "requests.tsv")
    with open(data, "wb") as f:
        f.write(body if kind == "rest" else b"\0" + struct.pack(">I", len(body)) + body)  # gRPC's message frame
    if kind == "rest":
        url = f"http://{target}{path}"
        shape = ["--h1", "-c", str(concurrency), "-m", "1", "-H", "content-type: application/json"]
    else:
        connections = min(concurrency, grpc_connections)
        url = f"http://{target}{PREDICT_METHOD}"
        shape = ["-c", str(connections), "-m", str(-(-concurrency // connections)),
                 "-H", "content-type: application/grpc", "-H", "te: trailers"]
    command = ["h2load", *shape, "-t", "1", "-D", f"{seconds:g}", "--warm-up-time", f"{warmup:g}", "-d", data,
               f"--log-file={log_file}", url]
    before, statuses_before = resource.getrusage(resource.RUSAGE_CHILDREN), _status_counts(server)
    finished = subprocess.run(command, capture_output=True, text=True, timeout=seconds + warmup + 300, check=False)
    if hasattr(server, "pids"):
        time.sleep(0.7)  # worker processes publish their metrics every 0.5 s
    after, statuses_after = resource.getrusage(resource.RUSAGE_CHILDREN), _status_counts(server)
    if finished.returncode != 0:
        raise RuntimeError(f"h2load failed ({finished.returncode}): {finished.stderr.strip()[-500:]}")
    rows = np.loadtxt(log_file, dtype=np.int64, ndmin=2) if os.path.getsize(log_file) else np.zeros((0, 3), np.int64)
    shutil.rmtree(folder, ignore_errors=True)
    ok = rows[rows[:, 1] == 200] if len(rows) else rows
    failed = int(len(rows) - len(ok)) + sum(count - statuses_before.get(status, 0)
                                            for status, count in statuses_after.items() if status != "OK")
    latencies = ok[:, 2] / 1e3  # microseconds to milliseconds
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    served = sum(statuses_after.values()) - sum(statuses_before.values())  # as _served_requests
    return {
        "concurrency": concurrency,
        "requests": int(len(ok)),
        "errors": failed,
        "throughput_rps": round(len(ok) / seconds, 1),
        "p50_ms": round(float(np.percentile(latencies, 50)), 2) if len(latencies) else None,
        "p99_ms": round(float(np.percentile(latencies, 99)), 2) if len(latencies) else None,
        "client_cpu_ms_per_request": round(cpu / served * 1e3, 3) if served else None,
    }


def _status_counts(server) -> dict:
    """The server's answered requests by status (OK, INVALID_ARGUMENT, ...), every model and API."""
    counter = server.metrics.request_count
    with counter._lock:
        totals = {}
        for (_, status), count in counter._values.items():
            totals[status] = totals.get(status, 0) + int(count)
    return totals


# -- the model and the in-process limit ----------------------------------------------------------------------------


def export_model(args, repo: str) -> tuple[str, tuple]:
    """The version folder to serve and its image shape (H, W, C)."""
    import numpy as np

    from kerazoo.export.exporter import write_saved_model, write_warmup_requests

    if args.model_dir:
        from kerazoo.serving.repository import read_signature_defs

        info = read_signature_defs(args.model_dir)["serving_default"].inputs["images"]
        shape = tuple(int(d.size) for d in info.tensor_shape.dim[1:])
        target = os.path.join(repo, "bench", "1")
        shutil.copytree(args.model_dir, target)  # a copy: the server does not follow links out of its repository
        return target, shape
    from kerazoo.applications import create_model

    model = create_model(args.zoo, input_shape=(32, 32, 3), classes=10, weights=None)
    shape = tuple(model.input_shape[1:])

    path = os.path.join(repo, "bench", "1")
    write_saved_model(model, path)  # serving_default (pixels) and serving_bytes (files), as kerazoo export writes
    image = np.random.default_rng(1).integers(0, 256, (1, *shape)).astype(np.float32)
    write_warmup_requests(path, "bench", image)
    return path, shape


def in_process_limit(path, shape, batch, seconds, start_at=None):
    """Images/s of the SavedModel called in this process on batches of ``batch`` for ``seconds`` (from ``start_at``,
    a time.time(), when given: processes measured side by side start together once each has loaded the model)."""
    import numpy as np
    import tensorflow as tf

    fn = tf.saved_model.load(path).signatures["serving_default"]
    x = tf.constant(np.random.default_rng(0).uniform(0, 255, (batch, *shape)).astype(np.float32))
    for _ in range(3):
        fn(images=x)
    if start_at is not None:
        time.sleep(max(0.0, start_at - time.time()))
    count, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        fn(images=x)["probabilities"].numpy()
        count += 1
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {"batch": batch, "images_per_s": round(count * batch / elapsed, 1),
            "ms_per_batch": round(elapsed / count * 1e3, 2), "cpu_ms_per_image": round(cpu / (count * batch) * 1e3, 3)}


def _split_limit_worker(path, shape, batch, seconds, threads, start_at, queue):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    queue.put(in_process_limit(path, shape, batch, seconds, start_at)["images_per_s"])


def split_limit(path, shape, batch, seconds, workers):
    """The in-process limit as ``kerazoo serve --workers N`` splits the machine: N processes, each with cores / N
    intra-op threads, calling the model on batches of ``batch`` at the same time (images/s summed)."""
    import multiprocessing

    from kerazoo.serving.workers import default_intra_op_threads

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    start_at = time.time() + 30  # after every process has loaded the model
    processes = [context.Process(target=_split_limit_worker, args=(path, shape, batch, seconds,
                                                                   default_intra_op_threads(workers), start_at, queue))
                 for _ in range(workers)]
    for process in processes:
        process.start()
    rates = [queue.get(timeout=300) for _ in processes]
    for process in processes:
        process.join()
    return {"batch": batch, "workers": workers, "images_per_s": round(sum(rates), 1),
            "by_worker": [round(r, 1) for r in rates]}


def _server_cpu(server) -> float:
    """CPU seconds the server has used: this process's, or its worker processes' (kerazoo serve --workers)."""
    if not hasattr(server, "pids"):
        return time.process_time()
    total = 0
    for pid in server.pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def _rest_once(port: int, path: str, body: bytes) -> float:
    """Seconds for one REST request on a fresh connection (raises unless it answers 200)."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    start = time.perf_counter()
    connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    payload = response.read()
    elapsed = time.perf_counter() - start
    connection.close()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status}: {payload[:200]!r}")
    return elapsed


def first_request_after_swap(repo: str, bodies: dict, warmup: bool, steady_requests: int) -> dict:
    """Serve version 1, publish version 2 (a copy), poll (load 2, retire 1), then time the first request of each
    kind on version 2 and the p50/p99 of ``steady_requests`` more: the cost a client pays right after a swap."""
    import shutil

    import numpy as np

    from kerazoo.serving import serve

    model_dir = os.path.join(repo, "bench")
    for version in sorted(os.listdir(model_dir), key=int)[1:]:
        shutil.rmtree(os.path.join(model_dir, version))
    server = serve(repo, rest_port=0, grpc_port=None, poll_interval=0, warmup=warmup)
    try:
        shutil.copytree(os.path.join(model_dir, "1"), os.path.join(model_dir, "2"), symlinks=True)
        started = time.perf_counter()
        server.repository.poll()
        load_s = time.perf_counter() - started
        assert server.repository.available_versions("bench") == [2]
        figures = {"warmup": warmup, "load_s": round(load_s, 3)}
        for kind, body in bodies.items():
            first = _rest_once(server.rest_port, "/v1/models/bench:predict", body)
            steady = np.array([_rest_once(server.rest_port, "/v1/models/bench:predict", body)
                               for _ in range(steady_requests)]) * 1e3
            figures[kind] = {"first_ms": round(first * 1e3, 2), "steady_p50_ms": round(float(np.percentile(steady, 50)), 2),
                             "steady_p99_ms": round(float(np.percentile(steady, 99)), 2),
                             "first_within_steady_p99": bool(first * 1e3 <= np.percentile(steady, 99))}
        return figures
    finally:
        server.stop()
        shutil.rmtree(os.path.join(model_dir, "2"), ignore_errors=True)


def _served_requests(server) -> int:
    """Requests the server has answered so far (every API, protocol and status)."""
    return sum(_status_counts(server).values())


def _batch_totals(server) -> tuple[float, int]:
    histogram = server.metrics.batch_size
    series = histogram._series.get(("bench",))
    return (series[-2], series[-1]) if series else (0.0, 0)


# -- main -----------------------------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", default="resnet20", help="registry model to export and serve (32x32x3, 10 classes)")
    parser.add_argument("--model-dir", default=None, help="an exported version folder to serve instead")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--protocols", default="rest,grpc")
    parser.add_argument("--seconds", type=float, default=4.0, help="measured time per point")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--max-requests", type=int, default=20000, help="per client thread, per point")
    parser.add_argument("--max-batch-size", type=int, default=64)
    parser.add_argument("--num-batch-threads", type=int, default=None,
                        help="default: kerazoo serve's (2, or 1 on a one-CPU machine)")
    parser.add_argument("--batch-timeout-micros", type=int, default=0)
    parser.add_argument("--servers", default="batched,naive")
    parser.add_argument("--grpc-connections", type=int, default=4,
                        help="h2load's HTTP/2 connections for gRPC (the streams are shared among them); with --workers "
                             "the kernel spreads connections, not requests, over the workers")
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes (kerazoo serve --workers) for the batched and naive servers; with more "
                             "than one the limit is also measured as the workers split the machine")
    parser.add_argument("--switch-interval", type=float, default=None, help="sys.setswitchinterval for the server")
    parser.add_argument("--steady-requests", type=int, default=50, help="requests after the first, per swap point")
    parser.add_argument("--quick", action="store_true",
                        help="~2 minutes: batched server, REST, concurrency 16, 2 s per point (no naive comparison)")
    parser.add_argument("--client", choices=("auto", "h2load", "python"), default="auto",
                        help="load generator: h2load (C, nghttp2-client; its CPU per request is ~1/7 of the Python "
                             "clients', CPU the server shares on one machine) or Python processes; auto: h2load "
                             "when it is on PATH")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results/serving_load.json")
    parser.add_argument("--out", default=None, help="also write the figures as JSON to this path")
    parser.add_argument("--load-only", action="store_true",
                        help="only the load points and the limit (no JSON-vs-PNG and version-swap measurements)")
    args = parser.parse_args(argv)
    if args.quick:
        args.concurrency, args.protocols, args.servers, args.seconds = "16", "rest", "batched", 2.0
        args.steady_requests = min(args.steady_requests, 20)

    import numpy as np
    import tensorflow as tf

    from kerazoo.serving import BatchingOptions, serve

    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    if args.num_batch_threads is None:  # older trees (bench/serving_compare.py's "before") lack default_threads
        default = getattr(BatchingOptions, "default_threads", lambda *_: max(1, min(2, os.cpu_count() or 1)))
        args.num_batch_threads = default(args.workers) if args.workers > 1 else default()
    if args.client == "auto":
        args.client = "h2load" if shutil.which("h2load") else "python"
        if args.client == "python":
            print("h2load not found (apt-get install nghttp2-client): the load comes from Python client processes, "
                  "whose CPU the server shares", flush=True)
    elif args.client == "h2load" and not shutil.which("h2load"):
        parser.error("--client h2load: h2load is not on PATH (apt-get install nghttp2-client)")

    def load(kind, server, body, concurrency):
        target = f"127.0.0.1:{server.rest_port}" if kind == "rest" else server.grpc_address
        path = "/v1/models/bench:predict" if kind == "rest" else ""
        if args.client == "h2load":
            return h2load_load(kind, target, path, body, concurrency, args.seconds, args.warmup, server,
                               args.grpc_connections)
        return run_load(kind, target, path, body, concurrency, args.seconds, args.warmup, args.max_requests)

    levels = [int(c) for c in args.concurrency.split(",")]
    protocols = args.protocols.split(",")
    repo = tempfile.mkdtemp(prefix="serving_load_")
    path, shape = export_model(args, repo)
    print(f"model: {args.model_dir or args.zoo}, input {shape}; {os.cpu_count()} CPUs", flush=True)

    # The machine may be shared: the limit is measured before and after the load runs and averaged.
    limit_before = in_process_limit(path, shape, args.max_batch_size, args.seconds)
    limit_by_batch = {c: in_process_limit(path, shape, c, min(args.seconds, 2.0)) for c in levels}
    split_before = split_limit(path, shape, args.max_batch_size, args.seconds, args.workers) \
        if args.workers > 1 else None
    print(f"in-process limit (batch {args.max_batch_size}): {limit_before['images_per_s']} images/s; by batch size: "
          + ", ".join(f"{c}: {v['images_per_s']}" for c, v in limit_by_batch.items()), flush=True)

    image = np.random.default_rng(1).integers(0, 256, (1, *shape)).astype(np.float32)
    rest_body = json.dumps({"instances": image.astype(int).tolist()}).encode()
    png = tf.io.encode_png(image[0].astype(np.uint8)).numpy()
    bytes_body = json.dumps({"signature_name": "serving_bytes",
                             "instances": [{"b64": base64.b64encode(png).decode()}]}).encode()
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "bench"
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(image))
    grpc_body = request.SerializeToString()

    results = {}
    servers = {
        "batched": BatchingOptions(max_batch_size=args.max_batch_size, batch_timeout_micros=args.batch_timeout_micros,
                                   max_enqueued_batches=1000, num_batch_threads=args.num_batch_threads),
        "naive": None,
    }
    servers = {k: v for k, v in servers.items() if k in args.servers.split(",")}
    for label, batching in servers.items():
        if args.workers > 1:
            from kerazoo.serving.workers import WorkerPool

            server = WorkerPool(args.workers, repo=repo, rest_port=0, grpc_port=0, poll_interval=0,
                                batching=batching).start()
        else:
            server = serve(repo, rest_port=0, grpc_port=0, poll_interval=0, batching=batching)
        try:
            for protocol in protocols:
                for concurrency in levels:
                    rows_before, batches_before = _batch_totals(server)
                    # The clients are other processes: this process's CPU time is the server's (and the model's).
                    cpu_before, all_before = _server_cpu(server), _served_requests(server)
                    gc_before = [g["collections"] for g in gc.get_stats()]
                    point = load(protocol, server, rest_body if protocol == "rest" else grpc_body, concurrency)
                    rows, batches = _batch_totals(server)
                    served = _served_requests(server) - all_before  # warm-up requests included: CPU covers them
                    if args.workers == 1:  # the workers' collections happen in their own processes
                        point["gc_collections_by_generation"] = [g["collections"] - b for g, b in
                                                                 zip(gc.get_stats(), gc_before)]
                    if served:
                        point["server_cpu_ms_per_request"] = round((_server_cpu(server) - cpu_before) / served * 1e3,
                                                                   3)
                    if batches > batches_before:
                        point["mean_batch_rows"] = round((rows - rows_before) / (batches - batches_before), 1)
                    results.setdefault(label, {}).setdefault(protocol, []).append(point)
                    print(f"{label:>8} {protocol:>5} c={concurrency:<3} {point['throughput_rps']:>9.1f} req/s  "
                          f"p50 {point['p50_ms']} ms  p99 {point['p99_ms']} ms  errors {point['errors']}  "
                          f"mean batch {point.get('mean_batch_rows', '-')}  "
                          f"server CPU {point.get('server_cpu_ms_per_request', '-')} ms/request  "
                          f"client CPU {point.get('client_cpu_ms_per_request', '-')} ms/request  "
                          f"gc {point.get('gc_collections_by_generation', '-')}",
                          flush=True)
        finally:
            server.stop()

    # JSON pixels vs encoded PNG files (serving_bytes) through the batched server, REST, at concurrency 16.
    body_kinds = {"json_pixels": rest_body, "image_bytes": bytes_body}
    if args.model_dir:  # a version from elsewhere may have no serving_bytes signature
        body_kinds.pop("image_bytes")
    if args.load_only:
        body_kinds = {}
    server = serve(repo, rest_port=0, grpc_port=None, poll_interval=0, batching=servers.get("batched") or BatchingOptions(
        max_batch_size=args.max_batch_size, batch_timeout_micros=args.batch_timeout_micros, max_enqueued_batches=1000,
        num_batch_threads=args.num_batch_threads))
    inputs = {}
    try:
        for kind, body in body_kinds.items():
            point = load("rest", server, body, 16)
            point["request_bytes"] = len(body)
            inputs[kind] = point
            print(f"{kind:>12} REST c=16 {point['throughput_rps']:>9.1f} req/s  p50 {point['p50_ms']} ms  "
                  f"p99 {point['p99_ms']} ms  {len(body)} bytes/request  errors {point['errors']}", flush=True)
    finally:
        server.stop()

    # First request after a version swap, with and without replaying the warm-up file.
    swap = {}
    for warmup in (False, True) if not (args.model_dir or args.load_only) else ():
        swap["with_warmup" if warmup else "without_warmup"] = figures_point = first_request_after_swap(
            repo, body_kinds, warmup, args.steady_requests)
        print(f"swap {'with' if warmup else 'without'} warm-up: load {figures_point['load_s']} s; " + "; ".join(
            f"{k} first {v['first_ms']} ms (steady p50 {v['steady_p50_ms']}, p99 {v['steady_p99_ms']})"
            for k, v in figures_point.items() if isinstance(v, dict)), flush=True)

    limit_after = in_process_limit(path, shape, args.max_batch_size, args.seconds)
    limit = dict(limit_before, images_per_s=round((limit_before["images_per_s"] + limit_after["images_per_s"]) / 2, 1),
                 images_per_s_before=limit_before["images_per_s"], images_per_s_after=limit_after["images_per_s"])
    print(f"in-process limit after the load runs: {limit_after['images_per_s']} images/s; "
          f"mean {limit['images_per_s']}", flush=True)
    split = None
    if split_before:
        split_after = split_limit(path, shape, args.max_batch_size, args.seconds, args.workers)
        before, after = split_before["images_per_s"], split_after["images_per_s"]
        split = dict(split_before, images_per_s=round((before + after) / 2, 1), images_per_s_before=before,
                     images_per_s_after=after)
        print(f"in-process limit split as the {args.workers} workers run: {before} images/s before, {after} after; "
              f"mean {split['images_per_s']}", flush=True)
    top = max(levels)
    goals = {}
    for protocol in protocols if {"batched", "naive"} <= set(results) else ():
        batched = next(p for p in results["batched"][protocol] if p["concurrency"] == top)["throughput_rps"]
        naive = next(p for p in results["naive"][protocol] if p["concurrency"] == top)["throughput_rps"]
        goals[protocol] = {
            "fraction_of_limit": round(batched / limit["images_per_s"], 3),
            "speedup_over_naive": round(batched / naive, 2) if naive else None,
        }
        goals[protocol]["meets_70pct_of_limit"] = goals[protocol]["fraction_of_limit"] >= 0.7
        if split:
            goals[protocol]["fraction_of_split_limit"] = round(batched / split["images_per_s"], 3)
        goals[protocol]["meets_3x_naive"] = bool(naive) and batched / naive >= 3
    print(f"\nat concurrency {top}:")
    for protocol, goal in goals.items():
        print(f"  {protocol}: {goal['fraction_of_limit'] * 100:.0f} % of the in-process limit (goal >= 70 %), "
              f"{goal['speedup_over_naive']}x the naive server (goal >= 3x)"
              + (f"; {goal['fraction_of_split_limit'] * 100:.0f} % of the split limit" if split else ""))
    figures = {
        "model": args.model_dir or args.zoo, "input_shape": list(shape),
        "settings": {"seconds": args.seconds, "warmup": args.warmup, "max_requests": args.max_requests,
                     "max_batch_size": args.max_batch_size, "num_batch_threads": args.num_batch_threads,
                     "workers": args.workers, "grpc_connections": args.grpc_connections,
                     "batch_timeout_micros": args.batch_timeout_micros,
                     "client": args.client, "client_processes": "min(concurrency, 4)" if args.client == "python" else 1,
                     "images_per_request": 1},
        "in_process_limit": limit, "in_process_by_batch": list(limit_by_batch.values()), "split_limit": split,
        "servers": results, "goals_at_concurrency_%d" % top: goals,
        "json_pixels_vs_image_bytes_c16": inputs, "first_request_after_swap": swap, "quick": args.quick,
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(figures, f, indent=1)
    if not args.no_write:
        sys.path.append(_HERE)
        from common import write_results

        print("wrote", write_results("serving_load_quick" if args.quick else "serving_load", figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())

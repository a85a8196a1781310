"""kerazoo serve --workers N: N server processes on the same ports (kerazoo/serving/workers.py)."""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from serving_helpers import images
from tensorflow_serving.apis import (
    model_management_pb2, model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc,
)

from kerazoo.serving.metrics import ServingMetrics, SharedMetrics, read_shared_metrics
from kerazoo.serving.workers import WorkerPool, reserve_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# -- metrics shared between workers --------------------------------------------------------------------------------


def test_merged_metrics_sum_counters_and_histograms_and_keep_the_highest_gauge():
    first, second = ServingMetrics(), ServingMetrics()
    for _ in range(3):
        first.record_request("m", "predict", "REST", "OK", 0.002)
    second.record_request("m", "predict", "REST", "OK", 0.2)
    second.record_request("m", "predict", "GRPC", "NOT_FOUND", 0.001)
    first.available_versions.set("m", value=1)
    second.available_versions.set("m", value=2)
    merged = ServingMetrics()
    merged.merge(json.loads(json.dumps(first.state())))  # what travels between processes is JSON
    merged.merge(json.loads(json.dumps(second.state())))
    assert merged.request_count.value("m", "OK") == 4
    assert merged.request_count.value("m", "NOT_FOUND") == 1
    assert merged.request_latency.count("m", "predict", "REST") == 4
    assert merged.available_versions.value("m") == 2
    text = merged.render()
    assert ':tensorflow:serving:request_latency_bucket{model_name="m",API="predict",entrypoint="REST",le="2500"} 3' \
        in text
    assert ':tensorflow:serving:request_latency_sum{model_name="m",API="predict",entrypoint="REST"} 206000' in text


def test_a_workers_scrape_shows_its_own_live_values_and_the_others_published_ones(tmp_path):
    first, second = SharedMetrics(str(tmp_path), 0, interval=60), SharedMetrics(str(tmp_path), 1, interval=60)
    try:
        first.record_request("m", "predict", "REST", "OK", 0.001)
        second.record_request("m", "predict", "REST", "OK", 0.001)
        assert 'status="OK"} 1\n' in first.render()  # the other worker has published nothing yet
        second.publish()
        first.record_request("m", "predict", "REST", "OK", 0.001)  # live, unpublished
        assert 'status="OK"} 3\n' in first.render()
        (tmp_path / "worker-7.json").write_text("{half a file")  # a torn or foreign file is left out
        assert 'status="OK"} 3\n' in first.render()
        first.publish()
        assert read_shared_metrics(str(tmp_path)).request_count.value("m", "OK") == 3
    finally:
        first.close()
        second.close()


# -- ports ---------------------------------------------------------------------------------------------------------


def test_a_reserved_port_takes_no_connections_but_workers_can_listen_on_it():
    reserved = reserve_port("127.0.0.1", 0)
    port = reserved.getsockname()[1]
    try:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        worker = socket.socket()
        worker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        worker.bind(("127.0.0.1", port))
        worker.listen()
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        worker.close()
    finally:
        reserved.close()


def test_a_port_another_server_listens_on_is_refused():
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # even one that would share it
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(OSError, match=f"127.0.0.1:{port} is not available"):
            reserve_port("127.0.0.1", port)


@pytest.mark.parametrize("workers", [1, 0, "2", True])
def test_a_pool_needs_two_or_more_workers(workers):
    with pytest.raises(ValueError, match=r"Invalid workers: expected an integer >= 2 .*Received: "):
        WorkerPool(workers, repo="models")


# -- a running pool ------------------------------------------------------------------------------------------------


def _rest_predict(port: int, x: np.ndarray) -> list:
    """One request on a connection of its own (the kernel picks a worker per connection)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", "/v1/models/tiny:predict", json.dumps({"instances": x.tolist()}),
                           {"Content-Type": "application/json"})
        response = connection.getresponse()
        body = json.loads(response.read())
        assert response.status == 200, body
        return body["predictions"]
    finally:
        connection.close()


def _worker_requests(pool) -> dict[int, float]:
    counts = {}
    for name in os.listdir(pool.metrics_dir):
        if name.startswith("worker-"):
            with open(os.path.join(pool.metrics_dir, name)) as f:
                state = json.load(f)
            counts[int(name[7:-5])] = sum(v for _, v in state[":tensorflow:serving:request_count"])
    return counts


def _wait_for(condition, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_workers_share_the_ports_count_together_and_come_back_when_killed(make_repo, reference):
    repo = make_repo({"tiny": [1]})
    x = images(2)
    with WorkerPool(2, repo=repo, rest_port=0, grpc_port=0, poll_interval=0, enable_batching=True) as pool:
        pool.start(timeout=300)
        assert len(set(pool.pids)) == 2 and os.getpid() not in pool.pids
        assert pool.ready_info["models"] == {"tiny": [1]}
        expected = reference(x, 1)
        for _ in range(30):  # connections land on both workers (all on one: 2 ** -29)
            np.testing.assert_allclose(np.asarray([p["logits"] for p in _rest_predict(pool.rest_port, x)]),
                                       expected, rtol=1e-5, atol=1e-5)
        with grpc.insecure_channel(pool.grpc_address) as channel:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "tiny"
            request.inputs["images"].CopyFrom(tf.make_tensor_proto(x))
            response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=60)
            np.testing.assert_allclose(tf.make_ndarray(response.outputs["logits"]), expected, rtol=1e-5, atol=1e-5)
            reload = model_management_pb2.ReloadConfigRequest()
            reload.config.model_config_list.config.add(name="tiny", base_path=os.path.join(repo, "tiny"))
            with pytest.raises(grpc.RpcError) as refused:
                model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(reload, timeout=60)
            assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "runs 2 worker processes (--workers)" in refused.value.details()

        _wait_for(lambda: sum(_worker_requests(pool).values()) >= 32)
        by_worker = _worker_requests(pool)
        assert sorted(by_worker) == [0, 1] and min(by_worker.values()) > 0, by_worker
        assert pool.metrics.request_count.value("tiny", "OK") == 31
        connection = http.client.HTTPConnection("127.0.0.1", pool.rest_port, timeout=60)
        connection.request("GET", "/monitoring/prometheus/metrics")
        scraped = connection.getresponse().read().decode()
        connection.close()
        assert re.search(r':tensorflow:serving:request_count\{model_name="tiny",status="OK"\} 3[01]\n', scraped)

        killed = pool.pids[0]
        os.kill(killed, signal.SIGKILL)
        _wait_for(lambda: killed not in pool.pids and len(pool.pids) == 2)
        _rest_predict(pool.rest_port, x)  # the other worker answers while the new one loads
        _wait_for(lambda: _worker_requests(pool).get(0) == 0)  # the new worker 0 counts from zero, as a restart does

        def worker_0_answered():
            _rest_predict(pool.rest_port, x)
            return _worker_requests(pool)[0] > 0

        _wait_for(worker_0_answered, timeout=300)
        pids = pool.pids
    assert pool.wait(0)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with socket.socket() as again:  # the ports are free again
        again.bind(("127.0.0.1", pool.rest_port))


def test_a_worker_that_cannot_start_fails_the_pool_with_its_own_error(make_repo, tmp_path):
    pool = WorkerPool(2, repo=make_repo({"tiny": [1]}), rest_port=0, grpc_port=0,
                      model_config_file=str(tmp_path / "missing.config"))
    with pytest.raises(FileNotFoundError, match="Model config file not found: .*missing.config"):
        pool.start(timeout=300)
    assert pool.wait(0) and not any(_running(pid) for pid in pool.pids)


def test_workers_that_keep_dying_stop_the_pool(make_repo):
    with WorkerPool(2, repo=make_repo({"tiny": [1]}), rest_port=0, grpc_port=None, poll_interval=0) as pool:
        pool.start(timeout=300)
        for _ in range(3):  # RESTART_LIMIT deaths within the window
            victim = pool.pids[1]
            os.kill(victim, signal.SIGKILL)
            _wait_for(lambda: victim not in pool.pids or pool.wait(0))  # noqa: B023 - evaluated at once
        assert pool.wait(60)
        assert re.fullmatch(r"worker 1 \(pid \d+\) exited with code -9: 3 worker exits within 60 s, stopping",
                            pool.failed)
        assert not any(_running(pid) for pid in pool.pids)


@pytest.mark.parametrize("ending", ["ctrl_c", "kill"])
def test_cli_serve_with_workers_leaves_no_worker_behind(make_repo, ending):
    """Ctrl-C stops every worker in order; a SIGKILL of `kerazoo serve` itself (no chance to stop them) ends them
    too, as their pipe to it closes."""
    repo = make_repo({"tiny": [1]})
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    process = subprocess.Popen(
        [sys.executable, "-m", "kerazoo", "serve", "--repo", repo, "--rest-port", "0", "--grpc-port", "0",
         "--workers", "2", "--enable-batching", "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        lines, deadline = [], time.monotonic() + 300
        while not lines or "Ctrl-C stops the server" not in lines[-1]:
            lines.append(process.stdout.readline())
            assert lines[-1] and time.monotonic() < deadline, "".join(lines)
        output = "".join(lines)
        pids = [int(p) for p in re.search(r"2 workers share the ports: pids (\d+), (\d+)", output).groups()]
        port = int(re.search(r"REST\s+http://127\.0\.0\.1:(\d+)", output).group(1))
        assert "model tiny: versions [1]" in output
        _rest_predict(port, images(1))
        if ending == "ctrl_c":
            os.killpg(process.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole process group
            try:
                code = process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                code = "still running 90 s after Ctrl-C"
            assert code == 0, output + process.stdout.read()
        else:
            process.kill()
            process.wait(timeout=30)
        deadline = time.monotonic() + 60
        for pid in pids:  # spawned children of the killed process are not ours to reap: look at their state
            while _running(pid):
                assert time.monotonic() < deadline, f"worker {pid} still runs"
                time.sleep(0.2)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.parametrize(("value", "message"), [("0", "expected a positive integer, got '0'"),
                                                 ("two", "expected a positive integer, got 'two'")])
def test_cli_rejects_a_bad_worker_count(value, message):
    result = subprocess.run([sys.executable, "-m", "kerazoo", "serve", "--workers", value], capture_output=True,
                            text=True, cwd=ROOT, timeout=120, check=False)
    assert result.returncode == 2
    assert message in result.stderr

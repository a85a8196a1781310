"""The dynamic batcher, with a fake model (no TensorFlow): batches form, results split, errors stay per request."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from kerazoo.serving.batching import Batcher
from kerazoo.serving.config import BatchingOptions
from kerazoo.serving.errors import ServingError


class FakeModel:
    """Doubles its input; records the batch sizes it saw; can be slowed down or made to fail on a marker value."""

    def __init__(self, delay=0.0):
        self.calls = []
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, key, inputs):
        x = inputs["x"]
        with self.lock:
            self.calls.append(len(x))
        time.sleep(self.delay)
        if np.any(x == -1):
            raise ServingError("INVALID_ARGUMENT", "poisoned row")
        return {"y": x * 2, "n": np.full(len(x), len(x))}


def submit_all(batcher, values, workers=None):
    def one(v):
        try:
            return batcher.submit("sig", {"x": np.array([[v]], np.float32)})
        except ServingError as error:
            return error

    with ThreadPoolExecutor(workers or len(values)) as pool:
        return list(pool.map(one, values))


def test_concurrent_requests_share_one_call_and_get_their_own_rows():
    model = FakeModel()
    batcher = Batcher(model, BatchingOptions(max_batch_size=8, batch_timeout_micros=5_000_000))
    try:
        results = submit_all(batcher, list(range(8)))
    finally:
        batcher.close()
    assert [float(r["y"][0, 0]) for r in results] == [2.0 * v for v in range(8)]
    assert model.calls == [8]  # a full batch goes at once, without waiting for the timeout


def test_max_batch_size_splits_and_timeout_flushes_partial_batches():
    model = FakeModel()
    batcher = Batcher(model, BatchingOptions(max_batch_size=4, batch_timeout_micros=50_000))
    try:
        results = submit_all(batcher, list(range(6)))
        start = time.monotonic()
        single = batcher.submit("sig", {"x": np.ones((1, 1), np.float32)})
        waited = time.monotonic() - start
    finally:
        batcher.close()
    assert all(isinstance(r, dict) for r in results) and float(single["y"][0, 0]) == 2.0
    assert max(model.calls) <= 4 and sum(model.calls) == 7
    assert 0.03 < waited < 5.0  # a lone request waits for the batch timeout, then runs


def test_a_failing_request_does_not_fail_its_batch_mates():
    model = FakeModel()
    batcher = Batcher(model, BatchingOptions(max_batch_size=4, batch_timeout_micros=5_000_000))
    try:
        results = submit_all(batcher, [1, -1, 3, 4])
    finally:
        batcher.close()
    assert isinstance(results[1], ServingError) and results[1].code == "INVALID_ARGUMENT"
    assert [float(results[i]["y"][0, 0]) for i in (0, 2, 3)] == [2.0, 6.0, 8.0]


def test_full_queue_is_refused_with_unavailable():
    model = FakeModel(delay=0.3)
    batcher = Batcher(model, BatchingOptions(max_batch_size=1, max_enqueued_batches=2, num_batch_threads=1))
    try:
        results = submit_all(batcher, list(range(8)))
    finally:
        batcher.close()
    refused = [r for r in results if isinstance(r, ServingError)]
    assert refused and all(r.code == "UNAVAILABLE" and r.http_status == 503 for r in refused)
    assert len(refused) < 8


def test_allowed_batch_sizes_pad_and_outputs_are_trimmed():
    model = FakeModel()
    batcher = Batcher(model, BatchingOptions(max_batch_size=8, batch_timeout_micros=1_000_000,
                                             allowed_batch_sizes=(4, 8)))
    try:
        results = submit_all(batcher, [1, 2, 3])
    finally:
        batcher.close()
    assert model.calls == [4]
    assert [r["y"].shape for r in results] == [(1, 1)] * 3


def test_close_drains_the_queue_and_later_requests_run_directly():
    model = FakeModel(delay=0.05)
    batcher = Batcher(model, BatchingOptions(max_batch_size=2, batch_timeout_micros=0))
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(batcher.submit, "sig", {"x": np.full((1, 1), v, np.float32)}) for v in range(6)]
        time.sleep(0.02)
        batcher.close()
        results = [f.result(timeout=10) for f in futures]
    assert [float(r["y"][0, 0]) for r in results] == [2.0 * v for v in range(6)]
    assert float(batcher.submit("sig", {"x": np.ones((1, 1), np.float32)})["y"][0, 0]) == 2.0


def test_requests_that_cannot_be_batched_run_alone():
    model = FakeModel()
    batcher = Batcher(model, BatchingOptions(max_batch_size=2, batch_timeout_micros=300_000))
    try:
        big = batcher.submit("sig", {"x": np.ones((5, 1), np.float32)})  # larger than max_batch_size
    finally:
        batcher.close()
    assert big["y"].shape == (5, 1) and model.calls == [5]


@pytest.mark.parametrize("kwargs", [dict(max_batch_size=0), dict(batch_timeout_micros=-1),
                                    dict(max_batch_size=8, allowed_batch_sizes=(4, 6)),
                                    dict(max_batch_size=8, allowed_batch_sizes=(8, 4))])
def test_invalid_options(kwargs):
    with pytest.raises(ValueError, match="Invalid batching parameter"):
        BatchingOptions(**kwargs)


def _submit_later(batcher, value, rows=1):
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault(
        "y", batcher.submit("sig", {"x": np.full((rows, 1), value, np.float32)})))
    thread.start()
    return thread, result


def test_a_second_batch_thread_waits_for_half_a_batch_while_one_runs():
    """Two batch threads: while one model call runs, the other does not start a call for a few rows (each call has
    a fixed cost); it waits for half a batch, or for the running call to end."""
    model = FakeModel(delay=0.3)
    batcher = Batcher(model, BatchingOptions(max_batch_size=8, num_batch_threads=2))
    try:
        first, _ = _submit_later(batcher, 1)
        time.sleep(0.1)  # the first call is running
        few = [_submit_later(batcher, v) for v in (2, 3, 4)]
        time.sleep(0.05)
        assert model.calls == [1]  # three rows wait: less than half of 8
        for thread, _ in [(first, None), *few]:
            thread.join(5)
        assert model.calls == [1, 3]  # then run together once the first call ended
        assert [float(result["y"]["y"][0, 0]) for _, result in few] == [4.0, 6.0, 8.0]

        model.calls.clear()
        first, _ = _submit_later(batcher, 1)
        time.sleep(0.1)
        half, _ = _submit_later(batcher, 5, rows=4)
        time.sleep(0.05)
        assert model.calls == [1, 4]  # half a batch starts beside the running call
        first.join(5)
        half.join(5)
    finally:
        batcher.close()

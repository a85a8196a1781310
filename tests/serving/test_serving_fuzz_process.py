"""The slow tier's fuzz run: bench/serving_fuzz.py against a ``kerazoo serve`` process (2,000 generated malformed
REST requests, 200 gRPC requests, then the memory bombs): no unintended 5xx, the server alive and giving the same
answer afterwards, and its resident memory after the bombs within 200 MB of where it started."""

import importlib.util
import os

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "bench",
                     "serving_fuzz.py")


@pytest.mark.slow
def test_generated_and_bomb_requests_against_a_server_process():
    spec = importlib.util.spec_from_file_location("serving_fuzz", BENCH)
    fuzz = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fuzz)
    figures = fuzz.run(rest=2000, grpc_requests=200, seed=1, verbose=False)
    assert figures["unintended"] == []
    assert sum(figures["rest"].values()) == 2000 and sum(figures["grpc"].values()) == 200
    assert figures["rest"].get("200", 0) > 0 and figures["rest"].get("400", 0) > 0
    assert figures["grpc"].get("OK", 0) > 0 and figures["grpc"].get("PERMISSION_DENIED", 0) > 0
    assert {label: status for label, status in figures["bombs"].items()} == {
        **{label: 400 for label in figures["bombs"] if label.startswith(("png_", "json_"))},
        "grpc_shape_1e9x8x8x1": "INVALID_ARGUMENT"}
    assert figures["alive"] and figures["same_answer_after"]
    assert figures["memory"]["growth_after_bombs_mb"] <= fuzz.MEMORY_BUDGET_MB, figures["memory"]

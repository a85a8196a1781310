"""``launch(command, workers)``: run one training command as N local workers of a multi-worker cluster.

Each worker is the same command with its own ``TF_CONFIG`` (the variable a cluster scheduler such as Kubeflow's
TFJob sets), naming every worker's ``127.0.0.1:PORT`` and this worker's index::

    launch(["kerazoo", "train", "lenet5", "--strategy", "multi_worker", "--out", "runs/mw"], workers=2)

``tf.distribute.MultiWorkerMirroredStrategy`` reads the cluster from there, so the command is unchanged between a
single box (this launcher) and a real cluster (the scheduler). Worker 0 is the chief: it alone writes the run files.
Output lines are prefixed ``[worker i]``. When one worker fails the others are stopped (a collective step would wait
for the missing worker forever), unless ``wait=True``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

LOCALHOST = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports that are free on 127.0.0.1 now (the OS picks them)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((LOCALHOST, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _check_ports_free(ports: list[int]) -> None:
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((LOCALHOST, port))
            except OSError:
                raise ValueError(
                    f"Invalid port_base: port {port} on {LOCALHOST} is in use (ports {ports[0]}-{ports[-1]} are "
                    "needed). Choose another --port-base, or leave it out to use free ports."
                ) from None


def tf_config(addresses: list[str], index: int) -> str:
    """The ``TF_CONFIG`` JSON of worker ``index`` in a cluster of ``addresses`` (worker 0 is the chief)."""
    return json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})


def _resolve(command: list[str]) -> list[str]:
    """Run ``kerazoo ...`` with this interpreter when no ``kerazoo`` script is on PATH (e.g. an unactivated venv)."""
    if command[0] == "kerazoo" and shutil.which("kerazoo") is None:
        return [sys.executable, "-m", "kerazoo", *command[1:]]
    return list(command)


def _stream(process: subprocess.Popen, prefix: str, out) -> None:
    for line in iter(process.stdout.readline, ""):
        out.write(f"{prefix}{line}" if line.endswith("\n") else f"{prefix}{line}\n")
        out.flush()
    process.stdout.close()


def _stop(processes: list[subprocess.Popen], grace: float) -> set[int]:
    """SIGTERM every running worker, then SIGKILL what is still alive after ``grace`` seconds; returns the indices
    of the workers it stopped."""
    stopped = set()
    for index, p in enumerate(processes):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            stopped.add(index)
    deadline = time.monotonic() + grace
    for p in processes:
        try:
            p.wait(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return stopped


def exit_status(returncode: int) -> int:
    """A process's return code as a shell exit status (killed by signal N → 128 + N)."""
    return 128 - returncode if returncode < 0 else returncode


def launch(
    command: list[str],
    workers: int,
    *,
    port_base: int | None = None,
    wait: bool = False,
    env: dict | None = None,
    out=None,
    grace: float = 10.0,
) -> int:
    """Run ``command`` as ``workers`` local processes, each with its ``TF_CONFIG``; wait for them all.

    Args:
        command: the program and its arguments, e.g. ``["kerazoo", "train", ..., "--strategy", "multi_worker"]``.
        workers: number of worker processes (>= 1).
        port_base: worker i listens on ``port_base + i``; default: free ports chosen by the OS.
        wait: when a worker fails, let the others run on instead of stopping them.
        env: extra environment variables for every worker.
        out: where the ``[worker i]``-prefixed output goes (default: ``sys.stdout``).
        grace: seconds between SIGTERM and SIGKILL when stopping workers.

    Returns:
        The worst (highest) exit status of the workers that ended by themselves: 0 when all succeeded. Workers
        stopped by the launcher after another one failed are not counted. A worker killed by signal N counts as
        128 + N (137 for SIGKILL).
    """
    if not command:
        raise ValueError("Invalid command: expected a program and its arguments after --, e.g. -- kerazoo train ...")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"Invalid workers: expected a positive integer. Received: workers={workers!r}")
    if port_base is None:
        ports = free_ports(workers)
    else:
        if not 1024 <= port_base <= 65535 - workers:
            raise ValueError(f"Invalid port_base: expected 1024..{65535 - workers}. Received: port_base={port_base}")
        ports = list(range(port_base, port_base + workers))
        _check_ports_free(ports)
    addresses = [f"{LOCALHOST}:{port}" for port in ports]
    out = out or sys.stdout
    argv = _resolve(command)

    processes, readers = [], []
    for index in range(workers):
        worker_env = {**os.environ, **(env or {}), "TF_CONFIG": tf_config(addresses, index), "PYTHONUNBUFFERED": "1"}
        p = subprocess.Popen(argv, env=worker_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             bufsize=1)
        processes.append(p)
        reader = threading.Thread(target=_stream, args=(p, f"[worker {index}] ", out), daemon=True)
        reader.start()
        readers.append(reader)

    stopped = set()
    try:
        while [p.poll() for p in processes].count(None):  # poll every worker: this updates each returncode
            if not wait and any(p.returncode not in (None, 0) for p in processes):
                break
            time.sleep(0.2)
    finally:
        stopped = _stop(processes, grace)  # also on KeyboardInterrupt: never leave workers behind
        for reader in readers:
            reader.join(timeout=5)
    return max((exit_status(p.returncode) for i, p in enumerate(processes) if i not in stopped), default=0)

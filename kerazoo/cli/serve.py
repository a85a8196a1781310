"""`kerazoo serve`: a TF Serving-compatible REST + gRPC server over the model repository."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from kerazoo.cli import add_parser
from kerazoo.cli.train import positive_int


def _port(text: str) -> int | None:
    if text.lower() == "off":
        return None
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range: {port}")
    return port


def _threads(text: str) -> int:
    import argparse

    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0 (0: TensorFlow's default), got {text!r}")
    return int(text)


def _flag_bool(text: str) -> bool:
    import argparse

    value = {"true": True, "1": True, "false": False, "0": False}.get(text.lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value


TF_SERVING_FLAGS = {
    "--port": "--grpc-port", "--rest_api_port": "--rest-port", "--model_name": "--model-name",
    "--model_base_path": "--model-base-path", "--model_config_file": "--model-config-file",
    "--model_config_file_poll_wait_seconds": "--model-config-file-poll-wait-seconds",
    "--file_system_poll_wait_seconds": "--file-system-poll-wait-seconds", "--enable_batching": "--enable-batching",
    "--batching_parameters_file": "--batching-parameters-file",
    "--tensorflow_intra_op_parallelism": "--tensorflow-intra-op-parallelism",
    "--tensorflow_inter_op_parallelism": "--tensorflow-inter-op-parallelism",
    "--monitoring_config_file": "--monitoring-config-file",
}
"""``tensorflow_model_server``'s flags that ``kerazoo serve`` takes as they are (hidden aliases of its own)."""


def _rest_api_port(text: str) -> int | None:
    port = _port(text)
    return port or None  # TF Serving's --rest_api_port=0 turns REST off (ours, --rest-port 0: any free port)


def _add_tf_serving_aliases(parser) -> None:
    """TF Serving's spelling of each flag in ``TF_SERVING_FLAGS``, so that a ``tensorflow_model_server`` command
    line made of them runs unchanged; hidden from ``--help`` (the flags table in docs/serving.md lists them)."""
    import argparse

    ours = {option: action for action in parser._actions for option in action.option_strings}
    for theirs, flag in TF_SERVING_FLAGS.items():
        action = ours[flag]
        if action.nargs == 0:  # a switch: TF Serving also takes --enable_batching=true / =false
            parser.add_argument(theirs, dest=action.dest, nargs="?", const=True, type=_flag_bool,
                                default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        else:
            parser.add_argument(theirs, dest=action.dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS,
                                type=_rest_api_port if theirs == "--rest_api_port" else action.type)


def register(subparsers):
    p = add_parser(subparsers, "serve", help="serve the model repository with TF Serving's REST and gRPC APIs",
                   example="kerazoo serve --repo models --rest-port 8501 --grpc-port 8500")
    p.add_argument("--repo", default="models", help="model repository: REPO/NAME/VERSION/ SavedModels")
    p.add_argument("--rest-port", type=_port, default=8501, help="REST port (0: any free port, 'off': no REST)")
    p.add_argument("--grpc-port", type=_port, default=8500, help="gRPC port (0: any free port, 'off': no gRPC)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind; 0.0.0.0 listens on all interfaces")
    p.add_argument("--model-name", default=None,
                   help="serve one model under this name from --model-base-path instead of --repo (TF Serving's "
                        "single-model mode)")
    p.add_argument("--model-base-path", default=None,
                   help="with --model-name: the folder holding that model's integer version folders")
    p.add_argument("--model-config-file", default=None,
                   help="TF Serving model_config_list file (names, base paths, version policies, labels); "
                        "without it every model folder in --repo is served at its latest version")
    p.add_argument("--model-config-file-poll-wait-seconds", type=float, default=0.0,
                   help="re-read --model-config-file when it changes, checking this often (0: never)")
    p.add_argument("--file-system-poll-wait-seconds", type=float, default=1.0,
                   help="how often to look for new and retired versions (0: only at start)")
    p.add_argument("--enable-batching", action="store_true", help="batch concurrent requests server-side")
    p.add_argument("--batching-parameters-file", default=None,
                   help="TF Serving batching parameters file (implies --enable-batching)")
    p.add_argument("--max-batch-size", type=int, default=None, help="rows per batched model call")
    p.add_argument("--batch-timeout-micros", type=int, default=None, help="how long a partial batch waits")
    p.add_argument("--max-enqueued-batches", type=int, default=None, help="queue bound (503 when full)")
    p.add_argument("--num-batch-threads", type=int, default=None, help="batches run at once per model version")
    p.add_argument("--tensorflow-intra-op-parallelism", type=_threads, default=0, metavar="N",
                   help="threads one TensorFlow op may use (0: one per core)")
    p.add_argument("--tensorflow-inter-op-parallelism", type=_threads, default=0, metavar="N",
                   help="threads running independent ops and concurrent model calls (0: TensorFlow's default)")
    p.add_argument("--workers", type=positive_int, default=1, metavar="N",
                   help="server processes sharing the ports (SO_REUSEPORT, Linux): requests spread over N Python "
                        "interpreters; each loads every model (N x the memory) and by default uses cores/N "
                        "TensorFlow threads")
    p.add_argument("--monitoring-config-file", default=None, metavar="F",
                   help="TF Serving monitoring config: where REST serves the Prometheus metrics "
                        "(prometheus_config { enable: true path: ... }); default: on, at /monitoring/prometheus/metrics")
    p.add_argument("--max-request-bytes", type=int, default=64 * 2**20, help="largest request body / message")
    p.add_argument("--max-json-values", type=int, default=2**23,
                   help="most JSON values one REST body may hold, counted before it is decoded")
    p.add_argument("--max-request-elements", type=int, default=2**23,
                   help="most tensor elements one request may carry (REST and gRPC)")
    p.add_argument("--max-image-pixels", type=int, default=4096 * 4096,
                   help="most pixels an encoded image (serving_bytes) may declare in its header")
    admin = p.add_mutually_exclusive_group()
    admin.add_argument("--admin", dest="admin", action="store_true", default=None,
                       help="enable gRPC HandleReloadConfigRequest (default: only when --host is loopback)")
    admin.add_argument("--no-admin", dest="admin", action="store_false", help="disable the admin API")
    p.add_argument("--allow-path", action="append", default=[], metavar="DIR",
                   help="a folder besides --repo that a config reload may serve models from (repeatable)")
    p.add_argument("--follow-symlinks", action="store_true",
                   help="serve version folders that are symbolic links leading out of the repository")
    p.add_argument("--print-model-config", action="store_true",
                   help="print a model_config_list for the models in --repo (base paths under /models, as the "
                        "tensorflow/serving container sees them) and exit")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    _add_tf_serving_aliases(p)
    p.set_defaults(func=run)


def single_model(args):
    """TF Serving's single-model mode: ``--model-base-path`` (``--model-name`` defaults to "default", as there)
    as a one-model list, or None when it is not given."""
    if args.model_base_path is None:
        if args.model_name is not None:
            raise ValueError(f"--model-name {args.model_name} needs --model-base-path (the folder of its versions)")
        return None
    if args.model_config_file:
        raise ValueError("give --model-config-file or --model-name/--model-base-path, not both")
    from kerazoo.serving.config import ModelConfig

    if not os.path.isdir(args.model_base_path):
        raise FileNotFoundError(f"--model-base-path {args.model_base_path}: no such folder")
    return [ModelConfig(args.model_name or "default", os.path.abspath(args.model_base_path))]


def _batching(args):
    from kerazoo.serving import BatchingOptions

    knobs = {name: getattr(args, name) for name in
             ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads")
             if getattr(args, name) is not None}
    if args.batching_parameters_file:
        if knobs:
            raise ValueError("give --batching-parameters-file or the --max-batch-size/... flags, not both")
        return None
    if knobs or args.enable_batching:
        knobs.setdefault("num_batch_threads", BatchingOptions.default_threads(args.workers))
        return BatchingOptions(**knobs)
    return None


def check_port_free(flag: str, host: str, port: int | None) -> None:
    """A fixed port that something already listens on is a one-line error before anything loads."""
    import socket

    if not port:  # None: that API is off; 0: any free port
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: TIME_WAIT is no conflict
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ValueError(f"{flag} {port}: {host}:{port} is not available ({error.strerror}); pick another port "
                             f"(0: any free one) or stop what holds it.") from None


def run(args):
    if not args.print_model_config:
        models = single_model(args)
        check_port_free("--rest-port", args.host, args.rest_port)
        check_port_free("--grpc-port", args.host, args.grpc_port)
    logging.basicConfig(level=getattr(logging, args.log_level), format="%(asctime)s %(levelname)s %(message)s")
    from kerazoo.serving import format_model_config, serve
    from kerazoo.serving.config import discover_models

    if args.print_model_config:
        models = discover_models(args.repo)
        if not models:
            raise FileNotFoundError(f"no model folders in {args.repo}")
        print(format_model_config(models, base_prefix="/models"), end="")
        return 0
    options = dict(
        repo=None if models else args.repo, models=models, rest_port=args.rest_port, grpc_port=args.grpc_port,
        host=args.host, model_config_file=args.model_config_file, poll_interval=args.file_system_poll_wait_seconds,
        config_poll_interval=args.model_config_file_poll_wait_seconds, batching=_batching(args),
        batching_parameters_file=args.batching_parameters_file, max_request_bytes=args.max_request_bytes,
        admin=args.admin, allowed_roots=args.allow_path, follow_symlinks=args.follow_symlinks,
        max_json_values=args.max_json_values, max_request_elements=args.max_request_elements,
        max_image_pixels=args.max_image_pixels, intra_op_parallelism=args.tensorflow_intra_op_parallelism,
        inter_op_parallelism=args.tensorflow_inter_op_parallelism, monitoring_config_file=args.monitoring_config_file,
    )
    if args.workers > 1:
        from kerazoo.serving.workers import WorkerPool

        server = WorkerPool(args.workers, **options)
        print(f"starting {args.workers} worker processes...", flush=True)
        server.start()
    else:
        server = serve(**options)
    # Everything after the start sits inside the try: a Ctrl-C that lands while the banner prints must still stop
    # the server's (non-daemon) threads, or the process would never exit.
    try:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: server.stop())
        for address in server.addresses():
            print(address, flush=True)
        if args.workers > 1:
            print(f"{args.workers} workers share the ports: pids {', '.join(map(str, server.pids))}", flush=True)
            served = server.ready_info.get("models", {})
        else:
            served = {name: server.repository.available_versions(name) for name in server.repository.model_names()}
        for name, versions in served.items():
            print(f"model {name}: versions {versions or 'none available yet'}", flush=True)
        if not served:
            print(f"no models in {args.repo} yet; new model folders are picked up while serving", flush=True)
        print("Ctrl-C stops the server.", flush=True)
        while not server.wait(0.5):
            pass
    except KeyboardInterrupt:
        print("stopping...", file=sys.stderr, flush=True)
    finally:
        server.stop()
    if getattr(server, "failed", ""):  # the workers kept dying
        print(f"kerazoo serve: error: {server.failed}", file=sys.stderr, flush=True)
        return 1
    return 0

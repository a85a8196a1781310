"""Moving to real TF Serving: SavedModel inspection, the deployment files in serving/, and the CLI verb."""

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import yaml
from serving_helpers import export_version, http

from kerazoo.serving import load_batching_parameters_file, parse_model_config
from kerazoo.serving.config import load_monitoring_config_file, parse_monitoring_config
from kerazoo.serving.inspect import check_repository, check_saved_model, describe
from kerazoo.serving.rest import METRICS_PATH

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVING = os.path.join(ROOT, "serving")


def test_fixture_versions_pass_tf_serving_inspection(model_store):
    for path in model_store.values():
        assert check_saved_model(path) == []
        text = describe(path)
        assert "signature 'serving_default' (tensorflow/serving/predict)" in text
        assert "in  images: DT_FLOAT [-1,8,8,1]" in text


def test_every_exported_version_in_the_repository_passes_inspection():
    """Every SavedModel under models/ (and $KERAZOO_MODEL_REPO): the contract's signature, dtypes, no custom ops."""
    repos = [os.path.join(ROOT, "models"), os.environ.get("KERAZOO_MODEL_REPO", "")]
    results = {}
    for repo in filter(None, repos):
        results.update({f"{repo}:{k}": v for k, v in check_repository(repo).items()})
    if not results:
        pytest.skip("no exported models in models/ or $KERAZOO_MODEL_REPO")
    assert {k: v for k, v in results.items() if v} == {}


def test_inspection_reports_problems(tmp_path, model_store):
    from tensorflow.core.protobuf import saved_model_pb2

    assert check_saved_model(str(tmp_path)) and "cannot read" in check_saved_model(str(tmp_path))[0]
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(model_store[1], "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    graph = proto.meta_graphs[0]
    graph.graph_def.node.add(name="mystery", op="KerazooCustomOp")
    signature = graph.signature_def["serving_default"]
    signature.inputs["images"].dtype = 20  # DT_RESOURCE
    signature.outputs.pop("logits")
    with open(tmp_path / "saved_model.pb", "wb") as f:
        f.write(proto.SerializeToString())
    problems = " | ".join(check_saved_model(str(tmp_path)))
    assert "KerazooCustomOp" in problems
    assert "DT_RESOURCE" in problems
    assert "no output 'logits'" in problems


def test_inspection_of_the_exporter_layout(tmp_path):
    """A version folder with the exporter's side files (tflite, onnx, reports) is still one valid SavedModel."""
    path = export_version(str(tmp_path / "m" / "1"), 1)
    for name in ("model.tflite", "model_int8.tflite", "model.onnx", "export_report.json", "kerazoo.json"):
        (tmp_path / "m" / "1" / name).write_bytes(b"{}")
    (tmp_path / "m" / ".tmp-2-abc").mkdir()
    assert check_repository(str(tmp_path)) == {"m/1": []}
    assert check_saved_model(path) == []


def test_models_config_and_batching_parameters_load():
    models = parse_model_config(open(os.path.join(SERVING, "models.config")).read(), repo="/tmp/repo")
    assert models and all(m.base_path.startswith("/tmp/repo/") for m in models)
    options = load_batching_parameters_file(os.path.join(SERVING, "batching_parameters.txt"))
    assert options.max_batch_size >= 1
    monitoring = open(os.path.join(SERVING, "monitoring.config")).read()
    assert re.search(r'path:\s*"([^"]+)"', monitoring).group(1) == METRICS_PATH
    assert load_monitoring_config_file(os.path.join(SERVING, "monitoring.config")) == METRICS_PATH


@pytest.mark.parametrize("text, path", [
    ('prometheus_config { enable: true path: "/metrics" }', "/metrics"),
    ("prometheus_config { enable: true }", METRICS_PATH),  # TF Serving's default path
    ('prometheus_config { enable: false path: "/metrics" }', None),
    ("", None),
    ('prometheus_config { enable: true path: "/v1/models" }', "must start with '/' and not with /v1"),
    ('prometheus_config { enable: true path: "metrics" }', "must start with '/'"),
    ("prometheus_config { enabel: true }", 'no field named "enabel"'),
])
def test_monitoring_config(text, path):
    if path is None or path.startswith("/"):
        assert parse_monitoring_config(text) == path
    else:
        with pytest.raises(ValueError, match=re.escape(path)):
            parse_monitoring_config(text)


@pytest.mark.parametrize("config, served, absent", [
    ('prometheus_config { enable: true path: "/metrics" }', "/metrics", METRICS_PATH),
    ("prometheus_config { enable: false }", None, METRICS_PATH),
])
def test_metrics_route_follows_the_monitoring_config(make_repo, tmp_path, config, served, absent):
    from kerazoo.serving import serve

    config_file = tmp_path / "monitoring.config"
    config_file.write_text(config)
    with serve(make_repo({"tiny": [1]}), rest_port=0, grpc_port=None, poll_interval=0,
               monitoring_config_file=str(config_file)) as server:
        if served:
            status, text = http(server.rest_url, "GET", served)
            assert status == 200 and ":tensorflow:serving:request_count" in text
        assert http(server.rest_url, "GET", absent)[0] == 404
        assert server.addresses()[0].endswith(f"(metrics: {server.rest_url}{served})" if served else "/v1/models/<name>")


def _flags(args):
    return dict(a[2:].split("=", 1) for a in args)


def test_docker_compose_and_kubernetes_run_the_same_server():
    compose = yaml.safe_load(open(os.path.join(SERVING, "docker-compose.yml")))
    service = compose["services"]["tfserving"]
    assert service["image"].startswith("tensorflow/serving:")
    assert {"127.0.0.1:8500:8500", "127.0.0.1:8501:8501"} == set(service["ports"])
    flags = _flags(service["command"])
    mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
    assert mounts["/config"] == "./" and mounts["/models"] == "../models"
    for key in ("model_config_file", "batching_parameters_file", "monitoring_config_file"):
        assert os.path.exists(os.path.join(SERVING, os.path.basename(flags[key]))), key
    documents = {d["kind"]: d for d in yaml.safe_load_all(open(os.path.join(SERVING, "k8s.yaml")))}
    assert {"Deployment", "Service", "PersistentVolumeClaim"} <= set(documents)
    container = documents["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == service["image"]
    assert _flags(container["args"]) == flags


def test_cli_help_and_print_model_config(make_repo, capsys):
    from kerazoo.cli import main

    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "kerazoo serve --repo models --rest-port 8501 --grpc-port 8500" in capsys.readouterr().out
    repo = make_repo({"a": [1], "b": [1]})
    assert main(["serve", "--repo", repo, "--print-model-config"]) == 0
    text = capsys.readouterr().out
    assert [m.name for m in parse_model_config(text, repo=repo)] == ["a", "b"]
    assert "base_path: '/models/a'" in text
    assert main(["serve", "--repo", repo, "--rest-port", "0", "--grpc-port", "0", "--max-batch-size", "0"]) == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--repo", repo, "--tensorflow-intra-op-parallelism", "-1"])
    assert exit_info.value.code == 2
    assert "--tensorflow-intra-op-parallelism: expected a whole number >= 0" in capsys.readouterr().err


def test_tf_serving_flags_parse_as_kerazoos(tmp_path, capsys):
    from kerazoo.cli import build_parser, main
    from kerazoo.cli.serve import TF_SERVING_FLAGS

    parser = build_parser()
    values = {"--port": "8600", "--rest_api_port": "8601", "--model_name": "m", "--model_base_path": "/x",
              "--model_config_file": "c.config", "--model_config_file_poll_wait_seconds": "5",
              "--file_system_poll_wait_seconds": "2", "--batching_parameters_file": "b.txt",
              "--tensorflow_intra_op_parallelism": "1", "--tensorflow_inter_op_parallelism": "3",
              "--monitoring_config_file": "m.config"}
    assert set(values) | {"--enable_batching"} == set(TF_SERVING_FLAGS)
    theirs = parser.parse_args(["serve", "--enable_batching", *(f"{k}={v}" for k, v in values.items())])
    ours = parser.parse_args(["serve", "--enable-batching", *(x for k, v in values.items()
                                                            for x in (TF_SERVING_FLAGS[k], v))])
    assert vars(theirs) == vars(ours) and ours.grpc_port == 8600 and ours.tensorflow_inter_op_parallelism == 3
    assert parser.parse_args(["serve", "--enable_batching=false"]).enable_batching is False
    assert parser.parse_args(["serve", "--rest_api_port=0"]).rest_port is None  # TF Serving's 0: no REST
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "_" not in "".join(re.findall(r"--[\w-]+", capsys.readouterr().out))  # the aliases stay out of --help
    base = tmp_path / "m"
    base.mkdir()
    for argv, message in [
        (["--model_name=m"], "--model-name m needs --model-base-path"),
        ([f"--model_base_path={base}", "--model_config_file=c.config"], "not both"),
        (["--model_base_path=/no/such/folder"], "--model-base-path /no/such/folder: no such folder"),
    ]:
        assert main(["serve", *argv]) == 2
        assert message in capsys.readouterr().err


_THREADS_SCRIPT = """
import sys
import tensorflow as tf
from kerazoo.serving import serve
with serve(sys.argv[1], rest_port=0, grpc_port=None, poll_interval=0, intra_op_parallelism=1,
           inter_op_parallelism=3) as server:
    print(tf.config.threading.get_intra_op_parallelism_threads(), tf.config.threading.get_inter_op_parallelism_threads())
    print(server.rest_port)
    try:
        serve(sys.argv[1], rest_port=0, grpc_port=None, intra_op_parallelism=2)
    except ValueError as error:
        print(error)
"""


def test_serve_sets_tensorflows_thread_pools_before_loading(make_repo):
    repo = make_repo({"tiny": [1]})
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run([sys.executable, "-c", _THREADS_SCRIPT, repo], capture_output=True, text=True, cwd=ROOT,
                            env=env, timeout=300, check=False)
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and len(lines) == 3, result.stdout + result.stderr[-3000:]
    assert lines[0] == "1 3"
    assert lines[2] == ("Invalid intra_op_parallelism: TensorFlow already runs in this process with 1 "
                        "(intra_op_parallelism is fixed by the first TensorFlow operation; set it before). "
                        "Received: 2")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("spelling", ["kerazoo", "tf_serving"])
def test_cli_serve_runs_and_stops_cleanly_on_ctrl_c(make_repo, spelling):
    repo = make_repo({"tiny": [1]})
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    flags = {  # the same server; TF Serving's command line in its single-model mode
        "kerazoo": ["--repo", repo, "--rest-port", "0", "--grpc-port", "0", "--enable-batching",
                    "--tensorflow-intra-op-parallelism", "1", "--tensorflow-inter-op-parallelism", "2"],
        "tf_serving": ["--model_name=tiny", f"--model_base_path={repo}/tiny", f"--rest_api_port={_free_port()}",
                       "--port=0",
                       "--enable_batching=true", "--tensorflow_intra_op_parallelism=1",
                       "--tensorflow_inter_op_parallelism=2", "--monitoring_config_file=serving/monitoring.config"],
    }[spelling]
    process = subprocess.Popen(
        [sys.executable, "-m", "kerazoo", "serve", *flags, "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env,
        # A shell's background job (CI started with `&`) inherits SIGINT ignored, and so would the server.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        url, deadline, lines = None, time.monotonic() + 120, []
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            match = re.match(r"REST\s+(http://127\.0\.0\.1:\d+)", line)
            url = match.group(1) if match else None
        assert url, "".join(lines)
        assert http(url, "GET", "/v1/models/tiny")[0] == 200
        while "Ctrl-C stops the server" not in lines[-1]:  # the handler is in place only after this line
            lines.append(process.stdout.readline())
            assert lines[-1], "".join(lines)
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            code = "still running 60 s after Ctrl-C"
        assert code == 0, "".join(lines) + process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _zoo_models():
    """One classifier per family (the smallest name first); KERAZOO_SERVING_ZOO=all checks every one."""
    try:
        from kerazoo.applications import get_entry, list_models

        names = list_models(task="classification")
    except Exception:  # the registry is optional for these tests
        return []
    if os.environ.get("KERAZOO_SERVING_ZOO") == "all":
        return names
    first = {}
    for name in names:
        first.setdefault(get_entry(name).family, name)
    return sorted(first.values())


@pytest.mark.slow
@pytest.mark.parametrize("name", _zoo_models())
def test_zoo_architectures_export_without_custom_ops(tmp_path, name):
    """Each registered classifier, exported with the repository contract, passes the TF Serving inspection."""
    import inspect

    import keras
    import tensorflow as tf

    from kerazoo.applications import create_model, get_entry

    entry = get_entry(name)
    size = max(entry.min_input_size, 32)
    kwargs = {"input_shape": (size, size, entry.input_shape[-1]), "classes": 10}
    if "weights" in inspect.signature(entry.builder).parameters:
        kwargs["weights"] = None
    model = create_model(name, **kwargs)

    def serve(images):
        logits = tf.cast(model(images, training=False), tf.float32)
        return {"probabilities": tf.nn.softmax(logits), "logits": logits}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name="serving_default", fn=serve,
                         input_signature=[tf.TensorSpec([None, *kwargs["input_shape"]], tf.float32, name="images")])
    archive.write_out(str(tmp_path / "1"), verbose=False)
    assert check_saved_model(str(tmp_path / "1")) == []

"""deploy/tfjob.yaml can be deployed as written: its image has a Dockerfile, every volume it mounts is defined (and
every claim it names is in the file), and its command is a valid `kerazoo train`; serving/'s TF Serving files use
TF Serving's documented model layout (/models/NAME/VERSION)."""

import os
import re

import yaml

import kerazoo

REPO = os.path.dirname(os.path.dirname(os.path.abspath(kerazoo.__file__)))


def documents(path):
    with open(os.path.join(REPO, path)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def test_tfjob_image_volumes_and_command_are_all_defined():
    from kerazoo.cli import build_parser

    docs = documents("deploy/tfjob.yaml")
    job = next(d for d in docs if d["kind"] == "TFJob")
    claims = {d["metadata"]["name"] for d in docs if d["kind"] == "PersistentVolumeClaim"}
    with open(os.path.join(REPO, "deploy", "Dockerfile")) as f:
        dockerfile = f.read()
    for role, replica in job["spec"]["tfReplicaSpecs"].items():
        pod = replica["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in pod["containers"]:
            assert f"-t {container['image']} " in dockerfile, f"{role}: no Dockerfile builds {container['image']}"
            assert container.get("imagePullPolicy") == "IfNotPresent", role  # a local build, not a registry image
            for mount in container["volumeMounts"]:
                assert mount["name"] in volumes, f"{role} mounts undefined volume {mount['name']!r}"
            command = container["command"]
            assert command[:2] == ["kerazoo", "train"]
            args = build_parser().parse_args(command[1:])
            assert args.strategy == "multi_worker"
            config = command[command.index("--config") + 1]
            assert os.path.exists(os.path.join(REPO, config)) and "COPY configs/ configs/" in dockerfile
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, volume["name"]
    data_mount = next(m for m in job["spec"]["tfReplicaSpecs"]["Chief"]["template"]["spec"]["containers"][0]
                      ["volumeMounts"] if m["name"] == "data")
    from kerazoo.datasets import DEBIAN_DIRS

    assert data_mount["mountPath"] == DEBIAN_DIRS["fashion_mnist"]  # where kerazoo.datasets looks by default


def test_serving_files_follow_tf_servings_model_layout():
    # TF Serving (tensorflow.org/tfx/serving/docker): the image tensorflow/serving, gRPC on 8500, REST on 8501,
    # models under /models/NAME/VERSION/ (integer versions, each a SavedModel).
    compose = documents("serving/docker-compose.yml")[0]["services"]["tfserving"]
    assert re.fullmatch(r"tensorflow/serving:\d+\.\d+\.\d+(-gpu)?", compose["image"])
    assert {p.rsplit(":", 2)[-1] for p in compose["ports"]} == {"8500", "8501"}
    assert "../models:/models:ro" in compose["volumes"]
    with open(os.path.join(REPO, "serving", "models.config")) as f:
        config = f.read()
    names = re.findall(r"name:\s*'([^']+)'", config)
    assert names and re.findall(r"base_path:\s*'([^']+)'", config) == [f"/models/{n}" for n in names]

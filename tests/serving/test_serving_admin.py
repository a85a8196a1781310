"""The admin surface: HandleReloadConfigRequest confined to the repository roots, off when asked (and by default
on non-loopback addresses); version folders that are symbolic links out of the repository, and the temporary
folders of a killed export, are not served."""

import os
import shutil

import grpc
import pytest
from serving_helpers import http, images

from kerazoo.serving import ModelRepository, serve
from kerazoo.serving.server import ModelServer, is_loopback


def _reload(server, *entries):
    from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc

    request = model_management_pb2.ReloadConfigRequest()
    request.config.model_config_list.SetInParent()
    for name, base_path in entries:
        request.config.model_config_list.config.add(name=name, base_path=base_path)
    with grpc.insecure_channel(server.grpc_address) as channel:
        return model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(request, timeout=60)


def _predict_ok(server, name="tiny"):
    status, body = http(server.rest_url, "POST", f"/v1/models/{name}:predict", {"instances": images(1).tolist()})
    return status == 200 and len(body["predictions"]) == 1


@pytest.fixture
def admin_server(make_repo, tmp_path, model_store):
    repo = make_repo({"tiny": [1]})
    outside = tmp_path / "outside" / "stolen"
    shutil.copytree(model_store[1], outside / "1")
    allowed = tmp_path / "extra"
    shutil.copytree(model_store[2], allowed / "extra_model" / "1")
    server = serve(repo, rest_port=0, grpc_port=0, poll_interval=0, warmup=False, allowed_roots=[str(allowed)])
    yield server, str(outside), str(allowed / "extra_model")
    server.stop()


@pytest.mark.parametrize("base_path", ["../outside/stolen", "OUTSIDE", "/etc", "tiny/../../outside/stolen"])
def test_reload_outside_the_roots_is_refused_and_models_stay(admin_server, base_path):
    server, outside, _ = admin_server
    base_path = outside if base_path == "OUTSIDE" else base_path
    with pytest.raises(grpc.RpcError) as error:
        _reload(server, ("stolen", base_path))
    assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "outside the folders" in error.value.details()
    assert server.repository.model_names() == ["tiny"] and _predict_ok(server)


def test_reload_with_no_model_is_refused(admin_server):
    server, _, _ = admin_server
    with pytest.raises(grpc.RpcError) as error:
        _reload(server)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _predict_ok(server)


def test_reload_inside_the_repository_and_allowed_roots_works(admin_server):
    server, _, allowed = admin_server
    assert _reload(server, ("tiny", "tiny"), ("extra_model", allowed)).status.error_code == 0
    assert server.repository.available_versions("extra_model") == [1]
    assert _predict_ok(server, "extra_model")


def test_admin_off_refuses_every_reload(make_repo):
    server = serve(make_repo({"tiny": [1]}), rest_port=0, grpc_port=0, poll_interval=0, warmup=False, admin=False)
    try:
        with pytest.raises(grpc.RpcError) as error:
            _reload(server, ("tiny", "tiny"))
        assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert _predict_ok(server)
    finally:
        server.stop()


def test_admin_is_off_by_default_on_non_loopback_addresses(make_repo):
    repository = ModelRepository(make_repo({"tiny": [1]}), poll_interval=0)
    assert ModelServer(repository, host="127.0.0.1").admin
    assert ModelServer(repository, host="::1").admin
    assert not ModelServer(repository, host="0.0.0.0").admin  # not started: nothing binds a public address
    assert not ModelServer(repository, host="10.1.2.3").admin
    assert ModelServer(repository, host="0.0.0.0", admin=True).admin
    assert [is_loopback(h) for h in ("localhost", "127.0.0.2", "::", "example.com")] == [True, True, False, False]


def test_symlinked_versions_leaving_the_repository_are_not_followed(make_repo, tmp_path, model_store):
    repo = make_repo({"tiny": [1]})
    outside = tmp_path / "elsewhere"
    shutil.copytree(model_store[2], outside / "2")
    os.symlink(outside / "2", os.path.join(repo, "tiny", "2"))  # leaves the repository
    os.symlink(os.path.join(repo, "tiny", "1"), os.path.join(repo, "tiny", "3"))  # stays inside it
    from kerazoo.serving import VersionPolicy

    strict = ModelRepository(repo, poll_interval=0, warmup=False, default_policy=VersionPolicy.all())
    strict.start()
    try:
        assert strict.available_versions("tiny") == [1, 3]
    finally:
        strict.stop()
    following = ModelRepository(repo, poll_interval=0, warmup=False, default_policy=VersionPolicy.all(),
                                follow_symlinks=True)
    following.start()
    try:
        assert following.available_versions("tiny") == [1, 2, 3]
    finally:
        following.stop()


def test_leftover_export_temp_folders_are_ignored(make_repo, model_store):
    """A killed ``kerazoo export`` leaves REPO/NAME/.tmp-* (kerazoo.io.temporary_folder): never a version."""
    from kerazoo.serving import VersionPolicy

    repo = make_repo({"tiny": [1]})
    shutil.copytree(model_store[2], os.path.join(repo, "tiny", ".tmp-7-a1b2c3"))
    os.makedirs(os.path.join(repo, ".tmp-9-d4e5f6", "1"))
    repository = ModelRepository(repo, poll_interval=0, warmup=False, default_policy=VersionPolicy.all())
    repository.start()
    try:
        assert repository.model_names() == ["tiny"] and repository.available_versions("tiny") == [1]
    finally:
        repository.stop()


def test_cli_admin_flags():
    from kerazoo.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["serve"]).admin is None  # decided by --host
    args = parser.parse_args(["serve", "--no-admin", "--allow-path", "/data/a", "--allow-path", "/data/b",
                              "--follow-symlinks", "--max-image-pixels", "100"])
    assert (args.admin, args.allow_path, args.follow_symlinks, args.max_image_pixels) == (
        False, ["/data/a", "/data/b"], True, 100)
    assert parser.parse_args(["serve", "--admin"]).admin is True
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--admin", "--no-admin"])

import os
import stat

import pytest

from kerazoo.export import new_version
from kerazoo.io import atomic_file, atomic_write_text, replaced_folder, temporary_folder


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_writes_get_the_umask_permissions_not_private_ones(tmp_path, umask_022):
    # tempfile.mkstemp/mkdtemp would leave 0600 / 0700: unreadable to a TF Serving container running as another user
    text = tmp_path / "config.yaml"
    atomic_write_text(str(text), "a: 1\n")
    with atomic_file(str(tmp_path / "grid.png")) as tmp:
        open(tmp, "wb").close()
    with new_version(str(tmp_path / "repo"), "m") as (version_dir, number):
        open(os.path.join(version_dir, "saved_model.pb"), "w").close()
    assert mode(text) == 0o644 and mode(tmp_path / "grid.png") == 0o644
    assert mode(tmp_path / "repo" / "m" / "1") == 0o755
    assert mode(temporary_folder(str(tmp_path / "x"))) == 0o755


def test_atomic_file_replaces_on_success_and_keeps_the_old_file_on_error(tmp_path):
    path = tmp_path / "summary.json"
    atomic_write_text(str(path), "old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_file(str(path)) as tmp:
            assert tmp.endswith("-summary.json") and os.path.dirname(tmp) == str(tmp_path)  # same folder and suffix
            with open(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("boom")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["summary.json"]
    atomic_write_text(str(path), "new")
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["summary.json"]


def test_atomic_file_fails_when_the_writer_never_created_the_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        with atomic_file(str(tmp_path / "a.png")):
            pass  # a writer that silently wrote nothing must not pass for a saved file
    assert os.listdir(tmp_path) == []


def test_replaced_folder_swaps_in_the_new_folder_or_keeps_the_old_one(tmp_path):
    path = tmp_path / "policy"
    path.mkdir()
    (path / "old.txt").write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with replaced_folder(str(path)) as tmp:
            (tmp_path / os.path.basename(tmp) / "half.txt").write_text("half")
            raise RuntimeError("boom")
    assert os.listdir(path) == ["old.txt"] and os.listdir(tmp_path) == ["policy"]
    with replaced_folder(str(path)) as tmp:
        with open(os.path.join(tmp, "new.txt"), "w") as f:
            f.write("new")
    assert os.listdir(path) == ["new.txt"] and os.listdir(tmp_path) == ["policy"]

import os
import stat

import numpy as np
import pytest

from kerazoo.export import new_version
from kerazoo.io import atomic_file, atomic_write_text, read_image, replaced_folder, save_figure, temporary_folder


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


def test_read_image_gives_raw_pixels_converted_to_the_asked_shape(tmp_path):
    from PIL import Image

    rgb = np.zeros((6, 4, 3), np.uint8)
    rgb[..., 0] = 200  # pure red: luma 0.299 * 200
    Image.fromarray(rgb).save(tmp_path / "red.png")
    Image.fromarray(np.full((5, 5), 7, np.uint8)).save(tmp_path / "grey.png")

    image = read_image(str(tmp_path / "red.png"))
    assert image.dtype == np.float32 and image.shape == (6, 4, 3) and image[0, 0].tolist() == [200, 0, 0]
    assert read_image(str(tmp_path / "grey.png")).shape == (5, 5, 1)
    assert read_image(str(tmp_path / "grey.png"), (5, 5, 3))[0, 0].tolist() == [7, 7, 7]
    grey = read_image(str(tmp_path / "red.png"), (3, 2, 1))
    assert grey.shape == (3, 2, 1) and abs(float(grey[0, 0, 0]) - 0.299 * 200) <= 1
    assert read_image(str(tmp_path / "red.png"), (None, None, 1)).shape == (6, 4, 1)  # any size: kept


def test_read_image_errors_name_the_file(tmp_path):
    bad = tmp_path / "not_an_image.png"
    bad.write_bytes(b"this is not a PNG")
    with pytest.raises(ValueError, match="Cannot read .*not_an_image.png as an image"):
        read_image(str(bad))
    with pytest.raises(FileNotFoundError, match="missing.png does not exist"):
        read_image(str(tmp_path / "missing.png"))


def test_save_figure_writes_a_titled_png_atomically(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = save_figure(fig, str(tmp_path / "sub" / "curve.png"), "a title", dpi=50)
    assert path.endswith("curve.png") and open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert fig._suptitle.get_text() == "a title" and not plt.fignum_exists(fig.number)  # closed
    assert sorted(os.listdir(tmp_path / "sub")) == ["curve.png"]  # no temporary left
    with pytest.raises(ValueError, match=r"expected a path ending in .png. Received: out='x.jpg'"):
        save_figure(plt.figure(), "x.jpg")

"""Every method writes a non-blank 800x600 PNG through ``kerazoo visualize RUN METHOD`` (the library function and the
CLI), and ``kerazoo style`` runs its three modes."""

import os

import numpy as np
import pytest
from matplotlib import image as mpimg
from skimage import data, io

from kerazoo.cli import main
from kerazoo.visualize import FIGURE_PIXELS, METHODS, visualize


def assert_non_blank_png(path):
    pixels = mpimg.imread(path)[..., :3]
    width, height = FIGURE_PIXELS
    assert pixels.shape[:2] == (height, width), path
    not_white = (pixels < 0.95).any(axis=-1).mean()
    assert not_white > 0.02 and pixels.std() > 0.05, f"{path} looks blank ({not_white:.3f} of pixels drawn)"


def test_every_method_writes_a_non_blank_png_of_the_expected_size(trained_run, tmp_path):
    for method in METHODS:
        path = visualize(trained_run, method, out=str(tmp_path), index=1, limit=24, steps=3)
        assert path == os.path.join(str(tmp_path), f"{method}.png")
        assert_non_blank_png(path)


def test_cli_visualize_an_image_file_and_errors(trained_run, tmp_path, capsys):
    picture = tmp_path / "coffee.png"
    io.imsave(str(picture), data.coffee()[::8, ::8])  # colour, any size: fitted to the model's 28x28x1 input
    assert main(["visualize", trained_run, "gradcam", "--image", str(picture), "--out", str(tmp_path / "o")]) == 0
    assert_non_blank_png(capsys.readouterr().out.strip())
    assert main(["visualize", trained_run, "gradcm", "--out", str(tmp_path / "o")]) == 2
    assert "Unknown method 'gradcm'. Did you mean: gradcam?" in capsys.readouterr().err
    code = main(["visualize", trained_run, "activations", "--layer", "c3_cnv", "--out", str(tmp_path / "o")])
    assert code == 2 and "Closest: c3_conv" in capsys.readouterr().err
    (tmp_path / "broken.png").write_bytes(b"not an image")
    assert main(["visualize", trained_run, "saliency", "--image", str(tmp_path / "broken.png"), "--out",
                 str(tmp_path / "o")]) == 2
    assert "Cannot read" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_style_transfer_train_fast_and_apply(tmp_path, capsys):
    paths = {}
    for name in ("astronaut", "coffee", "chelsea"):
        paths[name] = str(tmp_path / f"{name}.png")
        io.imsave(paths[name], getattr(data, name)()[::16, ::16])
    common = ["--network", "lenet5", "--size", "16", "--steps", "2"]
    assert main(["style", paths["astronaut"], paths["coffee"], paths["chelsea"], "--style-weights", "0.5,0.5",
                 "--out", str(tmp_path / "styled.png"), "--comparison", str(tmp_path / "figure.png"), *common]) == 0
    out = capsys.readouterr().out
    assert "random weights" in out and "style loss" in out
    assert mpimg.imread(str(tmp_path / "styled.png")).shape[:2] == (16, 16)  # the image itself, at --size
    assert_non_blank_png(str(tmp_path / "figure.png"))
    net = str(tmp_path / "net.keras")
    assert main(["style", "train-fast", paths["coffee"], "--content", paths["astronaut"], paths["chelsea"],
                 "--batch-size", "2", "--out", net, *common]) == 0
    assert os.path.exists(net) and os.path.exists(net + ".sha256")
    assert main(["style", "apply", net, paths["chelsea"], "--out", str(tmp_path / "fast.png")]) == 0
    assert mpimg.imread(str(tmp_path / "fast.png")).shape[:2] == (16, 28)  # the 19x29 photo cropped to multiples of 4
    capsys.readouterr()
    assert main(["style", "only_one.png", "--out", str(tmp_path / "x.png")]) == 2
    assert "Usage: kerazoo style CONTENT STYLE" in capsys.readouterr().err


def test_cli_style_offline_imagenet_weights_say_where_to_put_the_file(tmp_path, capsys, monkeypatch):
    import keras

    monkeypatch.setenv("KERAZOO_WEIGHTS_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(keras.utils, "get_file", lambda *a, **k: (_ for _ in ()).throw(OSError("no network")))
    picture = str(tmp_path / "p.png")
    io.imsave(picture, data.coffee()[::16, ::16])
    assert main(["style", picture, picture, "--weights", "imagenet", "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "For offline use, put the file vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5" in err
    assert "Traceback" not in err
    assert not np.any([f.endswith(".png") and f.startswith("x") for f in os.listdir(tmp_path)])

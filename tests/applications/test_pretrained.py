"""Pretrained weights: parity with keras.applications on its own file format, the cache, tags, errors, sniffing.

Every parity test builds keras.applications' model with random weights (BatchNorm moving statistics too), saves it
in the layer-keyed HDF5 layout keras publishes its weights in, loads that file into kerazoo with ``weights=PATH`` and
compares logits on the same random raw images through each side's preprocessing. Nothing touches the network:
``keras.utils.get_file`` is replaced by a function that fails.
"""

import os
import struct

import h5py
import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format

from kerazoo.applications import create_model, pretrained
from kerazoo.applications.pretrained import files
from kerazoo.applications.pretrained.preprocess import preprocess_input

KA = keras.applications
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def randomize(model, seed=0):
    """Random weights everywhere, BatchNorm's moving mean and variance included (inference uses them)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if not layer.weights:
            continue
        values = []
        for variable, value in zip(layer.weights, layer.get_weights()):
            path = variable.path
            if path.endswith("moving_variance"):
                values.append(rng.uniform(0.5, 1.5, value.shape))
            elif path.endswith(("moving_mean", "beta")):
                values.append(rng.normal(0.0, 0.2, value.shape))
            elif path.endswith("gamma"):
                values.append(rng.uniform(0.7, 1.3, value.shape))
            else:
                values.append(value + rng.normal(0.0, 0.01, value.shape))
        layer.set_weights([v.astype("float32") for v in values])
    return model


def save_keras_h5(model, path):
    """Save as keras publishes its weights: legacy HDF5 with layer_names / weight_names attributes."""
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return str(path)


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    """A private cache folder and no network: any fetch fails the test."""
    monkeypatch.setenv("KERAZOO_WEIGHTS_DIR", str(tmp_path / "cache"))

    def no_network(*args, **kwargs):
        raise AssertionError(f"the network was asked for: {args} {kwargs}")

    monkeypatch.setattr(keras.utils, "get_file", no_network)


def assert_parity(reference, mode, model, shape, seed=1):
    images = np.random.default_rng(seed).uniform(0, 255, (2, *shape)).astype("float32")
    expected = reference.predict(preprocess_input(images, mode), verbose=0)
    actual = model.predict(images, verbose=0)
    spread = float(expected.max() - expected.min())
    assert spread > 0
    assert np.abs(actual - expected).max() <= 1e-4 * spread


# (kerazoo name, keras builder, keras arguments, preprocessing mode, input shape); the biggest in the slow tier.
PARITY = [
    ("resnet50", KA.ResNet50, {}, "caffe", (64, 64, 3)),
    ("resnet50v2", KA.ResNet50V2, {}, "tf", (64, 64, 3)),
    ("vgg16", KA.VGG16, {}, "caffe", (64, 64, 3)),
    ("inceptionv3", KA.InceptionV3, {}, "tf", (75, 75, 3)),
    ("densenet121", KA.DenseNet121, {}, "torch", (64, 64, 3)),
    ("mobilenet_025", KA.MobileNet, {"alpha": 0.25}, "tf", (64, 64, 3)),
    ("mobilenetv2_035", KA.MobileNetV2, {"alpha": 0.35}, "tf", (64, 64, 3)),
] + [
    pytest.param(*row, marks=pytest.mark.slow)
    for row in [
        ("resnet101", KA.ResNet101, {}, "caffe", (64, 64, 3)),
        ("resnet152", KA.ResNet152, {}, "caffe", (64, 64, 3)),
        ("resnet101v2", KA.ResNet101V2, {}, "tf", (64, 64, 3)),
        ("resnet152v2", KA.ResNet152V2, {}, "tf", (64, 64, 3)),
        ("vgg19", KA.VGG19, {}, "caffe", (64, 64, 3)),
        ("densenet169", KA.DenseNet169, {}, "torch", (64, 64, 3)),
        ("densenet201", KA.DenseNet201, {}, "torch", (64, 64, 3)),
        ("mobilenet", KA.MobileNet, {"alpha": 1.0}, "tf", (64, 64, 3)),
        ("mobilenet_075", KA.MobileNet, {"alpha": 0.75}, "tf", (64, 64, 3)),
        ("mobilenet_050", KA.MobileNet, {"alpha": 0.5}, "tf", (64, 64, 3)),
        ("mobilenetv2", KA.MobileNetV2, {"alpha": 1.0}, "tf", (64, 64, 3)),
        ("mobilenetv2_140", KA.MobileNetV2, {"alpha": 1.4}, "tf", (64, 64, 3)),
    ]
]


@pytest.mark.parametrize("name, keras_builder, keras_kwargs, mode, shape", PARITY)
def test_keras_applications_file_gives_keras_logits(tmp_path, name, keras_builder, keras_kwargs, mode, shape):
    reference = randomize(keras_builder(weights=None, input_shape=shape, classifier_activation=None, **keras_kwargs))
    path = save_keras_h5(reference, tmp_path / f"{name}.h5")
    model = create_model(name, weights=path, input_shape=shape, classifier_activation=None)
    assert model.layers[1].name == "preprocess"
    assert model.pretrained.source == "keras" and len(model.pretrained.class_names) == 1000
    assert_parity(reference, mode, model, shape)


@pytest.mark.parametrize("alpha", [0.5, 0.75, 1.3])
@pytest.mark.slow
def test_mobilenet_v2_alphas_of_keras(tmp_path, alpha):
    reference = randomize(KA.MobileNetV2(weights=None, input_shape=(64, 64, 3), alpha=alpha, classifier_activation=None))
    path = save_keras_h5(reference, tmp_path / "m.h5")
    model = create_model("mobilenetv2", weights=path, alpha=alpha, input_shape=(64, 64, 3), classifier_activation=None)
    assert_parity(reference, "tf", model, (64, 64, 3))


@pytest.fixture(scope="module")
def small_mobilenet(tmp_path_factory):
    """keras' MobileNet alpha 0.25 at 128x128 with random weights, saved as keras publishes it."""
    reference = randomize(KA.MobileNet(weights=None, input_shape=(128, 128, 3), alpha=0.25, classifier_activation=None))
    folder = tmp_path_factory.mktemp("source")
    return reference, save_keras_h5(reference, folder / "mobilenet_2_5_128_tf.h5")


def test_tag_uses_the_file_in_the_cache_folder_then_the_converted_cache(small_mobilenet, monkeypatch):
    reference, source = small_mobilenet
    tag = pretrained.get_tag("mobilenet_025", "keras_in1k_r128")
    assert tag.filename == "mobilenet_2_5_128_tf.h5" and tag.input_shape == (128, 128, 3)
    os.makedirs(files.weights_dir())
    placed = os.path.join(files.weights_dir(), tag.filename)
    with open(source, "rb") as src, open(placed, "wb") as dst:
        dst.write(src.read())

    model = create_model("mobilenet_025", weights="keras_in1k_r128", classifier_activation=None)
    assert model.input_shape == (None, 128, 128, 3)
    assert_parity(reference, "tf", model, (128, 128, 3))
    converted = files.converted_path(tag)
    card = files.read_card(converted)
    assert card["source"] == "keras" and card["tag"] == "keras_in1k_r128" and card["license"] == "Apache-2.0"
    assert card["preprocessing"]["mode"] == "tf"
    with open(f"{converted}.sha256") as f:
        assert f.read().split()[0] == card["sha256"]

    # Later uses load the converted file: the source file is gone and no conversion runs.
    os.remove(placed)
    monkeypatch.setattr(files, "read_tensors", lambda *a, **k: pytest.fail("converted again"))
    again = create_model("mobilenet_025", weights="keras_in1k_r128", classifier_activation=None)
    assert_parity(reference, "tf", again, (128, 128, 3))

    # The converted file by path keeps its preprocessing (from its card); features_only works on it.
    by_path = create_model("mobilenet_025", weights=converted, input_shape=(128, 128, 3), classifier_activation=None)
    assert_parity(reference, "tf", by_path, (128, 128, 3))
    features = create_model("mobilenet_025", features_only=True, weights=converted, input_shape=(128, 128, 3))
    assert features.layers[1].name == "preprocess"
    images = np.random.default_rng(2).uniform(0, 255, (1, 128, 128, 3)).astype("float32")
    tap = features.feature_info[-1]["layer"]
    expected = keras.Model(by_path.inputs, by_path.get_layer(tap).output).predict(images, verbose=0)
    np.testing.assert_allclose(features.predict(images, verbose=0)[-1], expected, atol=1e-5)

    # A corrupted converted file is refused with both hashes.
    with open(f"{converted}.sha256", "w") as f:
        f.write("0" * 64 + "  x\n")
    with pytest.raises(ValueError, match=f"expected sha256 {'0' * 64}, file has {card['sha256']}"):
        create_model("mobilenet_025", weights="keras_in1k_r128")


def test_include_top_false_takes_the_backbone_of_a_top_file(small_mobilenet):
    reference, source = small_mobilenet
    model = create_model("mobilenet_025", weights=source, include_top=False, pooling="avg", input_shape=(128, 128, 3))
    pooled = next(layer for layer in reference.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D))
    backbone = keras.Model(reference.inputs, pooled.output)  # (its automatic name depends on the models built before)
    assert_parity(backbone, "tf", model, (128, 128, 3))
    assert model.pretrained.class_names == ()


def test_published_hash_mismatch_names_both_hashes(tmp_path):
    tag = pretrained.get_tag("resnet50", "imagenet")
    os.makedirs(files.weights_dir())
    with open(os.path.join(files.weights_dir(), tag.filename), "wb") as f:
        f.write(b"not the published file")
    with pytest.raises(ValueError, match=f"expected {tag.file_hash}, file has [0-9a-f]{{32}}"):
        files.source_file(tag)


def test_no_network_says_where_to_put_the_file(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    tag = pretrained.get_tag("vgg16", "keras_in1k_notop")
    with pytest.raises(FileNotFoundError, match=f"put the file {tag.filename} .* at {files.weights_dir()}/{tag.filename}"):
        files.source_file(tag)


def test_unknown_tag_lists_the_models_tags():
    with pytest.raises(ValueError, match=r"Unknown weights 'keras_in1kk' .* Did you mean: keras_in1k.*Its pretrained "
                                         r"tags: keras_in1k, keras_in1k_notop"):
        create_model("resnet50", weights="keras_in1kk")


def test_a_file_of_another_architecture_names_the_first_layer_that_differs(small_mobilenet):
    _, source = small_mobilenet
    with pytest.raises(ValueError, match=r"layer 'stem_conv' expects \[\(3, 3, 3, 16\)\].*\(3, 3, 3, 8\)"):
        create_model("mobilenet_050", weights=source, input_shape=(128, 128, 3))


def test_pretrained_head_keeps_1000_classes():
    with pytest.raises(ValueError, match="1000-way classifier; pass include_top=False"):
        create_model("resnet50", weights="imagenet", classes=10)


def test_files_are_recognised_by_content(tmp_path, small_mobilenet):
    _, source = small_mobilenet
    keras_h5 = tmp_path / "looks_like.pth"
    keras_h5.write_bytes(open(source, "rb").read())
    assert files.sniff(keras_h5) == "keras_h5"

    keras3 = tmp_path / "model.weights.h5"
    small = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    small.save_weights(keras3)
    assert files.sniff(keras3) == "keras_weights"
    archive = tmp_path / "checkpoint.keras"
    small.save(archive)
    assert files.sniff(archive) == "keras_archive"

    from safetensors.numpy import save_file

    safetensors = tmp_path / "model.bin"
    save_file({"fc.weight": np.ones((2, 3), np.float32)}, str(safetensors))
    assert files.sniff(safetensors) == "safetensors"
    np.testing.assert_array_equal(files.read_tensors(safetensors)["fc.weight"], np.ones((2, 3)))

    import zipfile

    zipped = tmp_path / "model.safetensors"  # torch.save's zip layout: ARCHIVE/data.pkl, ARCHIVE/data/0 ...
    with zipfile.ZipFile(zipped, "w") as f:
        f.writestr("model/data.pkl", b"\x80\x02}q\x00.")
    assert files.sniff(zipped) == "torch"
    pickled = tmp_path / "legacy.h5"
    pickled.write_bytes(b"\x80\x02" + bytes(60))
    assert files.sniff(pickled) == "torch"

    junk = tmp_path / "junk.h5"
    junk.write_bytes(struct.pack("<Q", 5) + b"hello")
    with pytest.raises(ValueError, match="Cannot tell what weights file"):
        files.sniff(junk)


def test_plain_kerazoo_weights_file_loads_without_preprocessing(tmp_path):
    model = create_model("mobilenet_025", input_shape=(32, 32, 3), classes=3)
    path = str(tmp_path / "trained.weights.h5")
    model.save_weights(path)
    again = create_model("mobilenet_025", input_shape=(32, 32, 3), classes=3, weights=path)
    assert "preprocess" not in [layer.name for layer in again.layers]
    assert not hasattr(again, "pretrained")


def test_preprocess_input_matches_keras():
    images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    for mode in ("caffe", "torch", "tf"):
        expected = keras.applications.imagenet_utils.preprocess_input(images.copy(), mode=mode)
        np.testing.assert_allclose(preprocess_input(images, mode), expected, rtol=1e-6, atol=1e-5)
    with pytest.raises(ValueError, match="Received: mode='bgr'"):
        preprocess_input(images, "bgr")


def test_decode_predictions_names_imagenet_classes():
    preds = np.zeros((2, 1000), np.float32)
    preds[0, 0], preds[0, 1], preds[1, 999] = 0.9, 0.1, 1.0
    decoded = pretrained.decode_predictions(preds, top=2)
    assert decoded[0] == [("n01440764", "tench", pytest.approx(0.9)), ("n01443537", "goldfish", pytest.approx(0.1))]
    assert decoded[1][0][:2] == ("n15075141", "toilet_tissue")
    with pytest.raises(ValueError, match=r"shape \(N, 1000\)"):
        pretrained.decode_predictions(np.zeros((2, 10)))


def test_every_keras_tag_has_a_converter_and_a_published_file():
    for name in ("resnet50", "resnet101", "resnet152", "resnet50v2", "resnet101v2", "resnet152v2", "vgg16", "vgg19",
                 "inceptionv3", "densenet121", "densenet169", "densenet201"):
        tags = {t.tag: t for t in pretrained.weight_tags(name) if t.source == "keras"}
        assert set(tags) >= {"keras_in1k", "keras_in1k_notop"}
        assert all(len(t.file_hash) == 32 and t.url.endswith(t.filename) for t in tags.values())
    mobilenet_tags = [t for m in ("mobilenet", "mobilenet_075", "mobilenet_050", "mobilenet_025")
                      for t in pretrained.weight_tags(m) if t.source == "keras"]
    assert len(mobilenet_tags) == 4 * 4 * 2  # 4 alphas x 4 resolutions x top/notop
    v2 = [t for m in ("mobilenetv2", "mobilenetv2_035", "mobilenetv2_140")
          for t in pretrained.weight_tags(m) if t.source == "keras"]
    assert sorted({t.builder_kwargs.get("alpha", None) for t in v2 if t.builder_kwargs}) == [0.5, 0.75, 1.3]
    assert len(v2) == 6 * 2


def test_cli_predict_prints_top5_imagenet_names(small_mobilenet, tmp_path, capsys):
    from PIL import Image

    from kerazoo.cli import main

    reference, source = small_mobilenet
    tag = pretrained.get_tag("mobilenet_025", "keras_in1k_r128")
    os.makedirs(files.weights_dir())
    with open(source, "rb") as src, open(os.path.join(files.weights_dir(), tag.filename), "wb") as dst:
        dst.write(src.read())
    pixels = np.random.default_rng(3).integers(0, 256, (150, 200, 3), dtype=np.uint8)
    image = str(tmp_path / "picture.jpg")
    Image.fromarray(pixels).save(image, quality=95)
    capsys.readouterr()
    assert main(["predict", "mobilenet_025", "--weights", "keras_in1k_r128", image]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == image and len(lines) == 6

    # The same crop (shorter side to 146, centre 128x128) through keras' own model names the same best class.
    from kerazoo.applications.pretrained.images import load_image

    crop = load_image(image, tag.preprocessing, (128, 128))
    assert crop.shape == (128, 128, 3)
    logits = reference.predict(preprocess_input(crop[None], "tf"), verbose=0)[0]
    best = pretrained.imagenet_classes()[int(np.argmax(logits))][1]
    assert lines[1].split()[-1] == best


def test_cli_models_lists_tags_and_the_card_quotes_the_source(capsys):
    from kerazoo.cli import main

    assert main(["models", "resnet5*", "--pretrained"]) == 0
    out = capsys.readouterr().out
    assert "resnet50 " in out and "keras_in1k (+1 tags)" in out and "resnet50v2" in out
    assert main(["models", "show", "resnet50"]) == 0
    out = capsys.readouterr().out
    assert "keras_in1k (default: weights='imagenet'): keras, MIT" in out
    assert "74.9 / 92.1 % (keras's figure) https://keras.io/api/applications/" in out


def test_sources_load_without_torch():
    """Using pretrained weights never imports torch: only reading a .pth does (every source module is loaded here)."""
    import subprocess
    import sys

    code = ("import sys; from kerazoo.applications import pretrained; pretrained.load_sources(); "
            "assert pretrained.weight_tags('resnet50'); print(sorted(m for m in ('torch', 'timm', 'torchvision') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": ROOT}).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_imagenet_picks_the_tag_of_the_width_asked_for(monkeypatch):
    """MobileNetV2 alpha 0.5 has keras weights of its own: weights="imagenet" with alpha=0.5 asks for that file."""
    asked = []

    def fetch(tag):
        asked.append(tag.filename)
        raise RuntimeError("offline")

    monkeypatch.setattr(files, "source_file", fetch)
    for kwargs in ({"alpha": 0.5}, {}, {"alpha": 0.5, "include_top": False}):
        with pytest.raises(RuntimeError, match="offline"):
            create_model("mobilenetv2", weights="imagenet", **kwargs)
    assert asked == ["mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224.h5",
                     "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
                     "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224_no_top.h5"]
    with pytest.raises(ValueError, match=r"need alpha=0.5. Received: alpha=0.75"):
        create_model("mobilenetv2", weights="keras_in1k_a050", alpha=0.75)

"""The parity rule of the torchvision/timm converters, shared by tests/applications/test_torch_weights_*.py.

The source framework builds the model with random weights (BatchNorm affine parameters and running statistics
randomised too), the test saves its state dict in the source's own file format (``torch.save`` for torchvision,
``safetensors.torch.save_file`` for timm), reads the file back as NumPy, converts it into a freshly built kerazoo
model, and on the same random images (already normalised, so no preprocessing is involved) the logits of both sides
agree to 1e-4 of the logit range in float32, inference mode.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from kerazoo.applications.pretrained import reference  # noqa: E402

TOLERANCE = 1e-4  # of the source's logit range


def import_torchvision():
    return reference.import_torchvision()


def import_timm():
    reference.import_torchvision()  # timm imports torchvision
    return pytest.importorskip("timm")


def randomise(module, seed: int = 0):
    """Random weights everywhere (the source's own random init, plus random BatchNorm/LayerNorm affine parameters,
    running statistics and ViT tokens, which start as constants), in eval mode."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
            elif isinstance(m, torch.nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
        for name, p in module.named_parameters():
            if name.endswith("cls_token") or name.endswith("pos_embed"):  # timm starts them (near) zero
                p.normal_(0.0, 0.5)
    return module.eval()


def save_and_read(module, path, fmt: str) -> dict:
    """Write the state dict in the source's format (``"pth"`` or ``"safetensors"``) and read it back as NumPy."""
    if fmt == "pth":
        torch.save(module.state_dict(), path)
        return {k: v.numpy() for k, v in torch.load(path, map_location="cpu", weights_only=True).items()}
    from safetensors.numpy import load_file
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))
    return load_file(str(path))


def torch_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def keras_trainable_params(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def images(shape, seed: int = 1) -> np.ndarray:
    """Two random images (N, H, W, C), already normalised the source's way."""
    return np.random.default_rng(seed).normal(size=(2, *shape)).astype(np.float32)


def torch_logits(module, x_nhwc: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)))).numpy()


def assert_parity(expected: np.ndarray, got: np.ndarray) -> float:
    """max |diff| <= TOLERANCE x the range of the source's logits; returns the relative difference."""
    expected, got = np.asarray(expected), np.asarray(got)
    assert expected.shape == got.shape, (expected.shape, got.shape)
    spread = float(expected.max() - expected.min())
    assert spread > 0, "degenerate logits: the comparison would prove nothing"
    relative = float(np.abs(expected - got).max()) / spread
    assert relative <= TOLERANCE, f"max |diff| is {relative:.2e} of the logit range (allowed {TOLERANCE:.0e})"
    return relative


def assert_tags_convertible(models) -> None:
    """Every tag of ``models`` names a registered model and has a converter from its source; each model has one
    default tag at most (``weight_tags`` lists it first)."""
    from kerazoo.applications import get_entry
    from kerazoo.applications.pretrained.tags import get_converter, weight_tags

    for name in models:
        get_entry(name)  # raises for a name the registry does not know
        tags = weight_tags(name)
        assert tags, f"{name} has no weight tags"
        assert sum(t.default for t in tags) <= 1
        for tag in tags:
            assert tag.model == name and callable(get_converter(tag.source, name))


def assert_tags_match_sources(models) -> None:
    """Each tag's facts are those of the installed source package: torchvision's weights enum entry with the same
    URL (its acc@1/acc@5 and transform preset), timm's pretrained_cfg of the hub id (mean/std, interpolation, crop
    and crop_pct, license)."""
    import math

    from kerazoo.applications.pretrained.tags import weight_tags

    torchvision, timm = import_torchvision(), import_timm()
    for name in models:
        for tag in weight_tags(name):
            prep = tag.preprocessing
            if tag.source == "torchvision":
                builder = tag.metrics_link.rsplit("torchvision.models.", 1)[1].removesuffix(".html")
                entries = [w for w in torchvision.models.get_model_weights(builder) if w.url == tag.url]
                assert len(entries) == 1, f"{name} {tag.tag}: {tag.url} is not a {builder} weights entry"
                entry = entries[0]
                metrics = entry.meta["_metrics"]["ImageNet-1K"]
                assert (tag.top1, tag.top5) == (metrics["acc@1"], metrics["acc@5"]), (name, tag.tag)
                preset = entry.transforms()
                assert (prep.resize, prep.crop) == (preset.resize_size[0], preset.crop_size[0]), (name, tag.tag)
                assert (prep.mean, prep.std) == (tuple(preset.mean), tuple(preset.std))
                assert prep.interpolation == preset.interpolation.value
                assert tag.tag == ("tv_in1k" if entry.name == "IMAGENET1K_V1" else "tv2_in1k")
                assert tag.file_hash and entry.url.rsplit("-", 1)[1].startswith(tag.file_hash)
            elif tag.source == "timm":  # (keras.applications' tags are checked in test_pretrained.py)
                cfg = timm.models.get_pretrained_cfg(tag.url.removeprefix("timm/"))
                assert cfg is not None and cfg.hf_hub_id == tag.url and cfg.num_classes == tag.classes
                assert (prep.mean, prep.std, prep.interpolation) == (cfg.mean, cfg.std, cfg.interpolation)
                assert prep.crop == cfg.input_size[1] and prep.resize == math.floor(prep.crop / cfg.crop_pct)
                assert tag.license.lower() == cfg.license

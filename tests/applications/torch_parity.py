"""Parity checks against PyTorch sources for the pretrained-weight converters (imported as a plain module).

The source framework builds its model with random weights (BatchNorm running statistics randomised too), the state
dict is saved in the source's own file format and read back as NumPy, the converter fills a freshly built kerazoo
model, and both see the same random raw images through their preprocessing.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

# The source imports, file round trips and parameter counts are the other families' (torch_parity_checks).
from torch_parity_checks import import_timm, import_torchvision, save_and_read, torch_params  # noqa: E402,F401

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype="float32")
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype="float32")


def randomize(module, seed=0):
    """Random weights and BatchNorm running statistics (eval mode), so every tensor of the file matters."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, tensor in module.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if key.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            elif key.endswith("running_mean"):
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.1)
            elif tensor.ndim == 1:  # BatchNorm scales (around 1), BatchNorm shifts and biases (around 0)
                offset = 1.0 if key.endswith(".weight") else 0.0
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.1 + offset)
            else:
                # Variance 1 / fan_in: He's 2 / fan_in makes random residual nets (with SE gates) so chaotic that
                # float32 PyTorch itself differs from float64 PyTorch by more than the tolerance.
                fan_in = tensor[0].numel()
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * np.sqrt(1.0 / fan_in))
    return module.eval()


def normalized_images(side, batch=2, seed=0):
    """Random raw RGB images (0-255) through torchvision's normalisation, channels-last float32."""
    raw = np.random.default_rng(seed).uniform(0, 255, size=(batch, side, side, 3)).astype("float32")
    return (raw / 255.0 - IMAGENET_MEAN) / IMAGENET_STD


def assert_logits_match(module, model, images):
    """Logits agree to 1e-4 of their range (float32, inference mode)."""
    with torch.no_grad():
        theirs = module(torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))).numpy()
    ours = np.asarray(model(images, training=False))
    assert ours.shape == theirs.shape
    tolerance = 1e-4 * float(theirs.max() - theirs.min())
    assert np.abs(ours - theirs).max() <= tolerance, f"max |diff| {np.abs(ours - theirs).max()} > {tolerance}"

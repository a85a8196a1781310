"""Neural style transfer: Gatys et al. (optimize the image) and Johnson et al. (train a feed-forward network).

- Gatys, Ecker and Bethge, "Image Style Transfer Using Convolutional Neural Networks" (CVPR 2016): start from the
  content image and minimize a content loss on one layer, Gram-matrix style losses on several layers and total
  variation, by L-BFGS (scipy) or Adam on the pixels.
- Johnson, Alahi and Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and Super-Resolution" (ECCV 2016): a
  transformation network (downsampling convolutions, residual blocks, upsampling) trained with the same losses, with
  instance normalization (Ulyanov, Vedaldi and Lempitsky, 2016) as in later versions of the method.
- Several styles blend by mixing their Gram matrices with weights.

The loss network is any zoo model (default VGG-19, as in both papers). With random weights it still transfers
texture statistics, but the paper's look needs ImageNet weights, which kerazoo never downloads: pass a local file
(``weights=PATH``, e.g. keras.applications' ``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5``; its layers are
matched in order). Losses are relative (each layer's error divided by the target's mean square), so the weights
below mean the same on any network.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np
from keras import ops

from kerazoo.losses.style import content_loss, gram_matrix, style_loss, total_variation
from kerazoo.visualize.ascent import check_positive, optimize_image
from kerazoo.io import save_figure
from kerazoo.visualize.common import display_image, find_layer, fit_image, new_figure, save_image
from kerazoo.visualize.gradients import gradient_function

WEIGHTS_NOTE = (
    "without weights the loss network has random weights; weights='imagenet' (--weights imagenet) uses "
    "keras.applications' VGG19 ImageNet weights (fetched once into $KERAZOO_WEIGHTS_DIR, or placed there for "
    "offline use), weights=PATH (--weights PATH) a local weights file."
)
VGG_LAYERS = {
    # Gatys et al.: content conv4_2; style conv1_1, conv2_1, conv3_1, conv4_1, conv5_1.
    "content": "stage4_block2_relu",
    "style": tuple(f"stage{s}_block1_relu" for s in range(1, 6)),
}
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@dataclass
class LossNetwork:
    """A model's content and style features for raw-pixel RGB images (B, H, W, 3)."""

    model: keras.Model
    """Outputs: [content features, *style features]."""
    content_layer: str
    style_layers: tuple
    preprocess: str
    """"caffe" (BGR minus the ImageNet mean, for ImageNet VGG weights), "unit" (pixels / 127.5 - 1) or "none"
    (raw pixels: pretrained zoo models carry their preprocessing inside)."""

    def __call__(self, images):
        if self.preprocess == "caffe":
            images = ops.flip(images, axis=-1) - ops.convert_to_tensor(CAFFE_MEAN_BGR, dtype=images.dtype)
        elif self.preprocess == "unit":
            images = images / 127.5 - 1.0
        outputs = self.model(images, training=False)
        return outputs[0], list(outputs[1:])


def loss_network(name: str = "vgg19", *, weights=None, input_shape=(None, None, 3), content_layer=None,
                 style_layers=None, preprocess=None) -> LossNetwork:
    """The zoo model ``name`` (without its top) as a loss network.

    Default layers: the papers' for VGG models; for other families, the last but one of the registry's feature taps
    for content and all taps for style. ``preprocess`` defaults to "none" with pretrained weights (``"imagenet"``, a
    tag or a source file: the model preprocesses raw pixels itself), "caffe" with another weights file (a converted
    keras.applications file) and "unit" without weights.
    """
    from kerazoo.applications import create_model, get_entry

    entry = get_entry(name)
    base = create_model(name, include_top=False, weights=weights, input_shape=input_shape)
    if entry.family == "vgg":
        content_layer = content_layer or VGG_LAYERS["content"]
        style_layers = tuple(style_layers or VGG_LAYERS["style"])
    else:
        taps = [tap.layer for tap in entry.feature_taps]
        if not taps and (content_layer is None or style_layers is None):
            raise ValueError(f"Model {name!r} declares no feature taps; name content_layer and style_layers.")
        content_layer = content_layer or taps[max(0, len(taps) - 2)]
        style_layers = tuple(style_layers or taps)
    outputs = [find_layer(base, layer).output for layer in (content_layer, *style_layers)]
    model = keras.Model(base.inputs, outputs, name=f"{name}_style_features")
    if preprocess is None:
        pretrained = getattr(base, "pretrained", None) is not None
        preprocess = "none" if pretrained else ("caffe" if weights is not None else "unit")
    if preprocess not in ("caffe", "unit", "none"):
        raise ValueError(f"Invalid preprocess: expected 'caffe', 'unit' or 'none'. Received: preprocess={preprocess!r}")
    return LossNetwork(model, content_layer, tuple(style_layers), preprocess)


def _relative(loss, target_square_mean):
    return loss / (target_square_mean + 1e-8)


@dataclass
class StyleTargets:
    """What a stylized image is compared with: the content features and the (blended) style Gram matrices."""

    content: object
    grams: list
    content_scale: float = 1.0
    gram_scales: list = field(default_factory=list)


def style_targets(network: LossNetwork, content, styles, style_weights=None) -> StyleTargets:
    """Targets for ``content`` (H, W, 3 raw pixels) and a list of ``styles``, blended by ``style_weights``
    (normalized to sum to one; default equal)."""
    weights = np.ones(len(styles)) if style_weights is None else np.asarray(style_weights, dtype="float64")
    if len(weights) != len(styles) or np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError(f"Invalid style_weights: expected {len(styles)} non-negative numbers, not all zero. "
                         f"Received: style_weights={style_weights!r}")
    weights = weights / weights.sum()
    content_features, _ = network(ops.convert_to_tensor(content[None]))
    grams = None
    for weight, style in zip(weights, styles):
        _, features = network(ops.convert_to_tensor(style[None]))
        layer_grams = [float(weight) * gram_matrix(f)[0] for f in features]
        grams = layer_grams if grams is None else [g + h for g, h in zip(grams, layer_grams)]
    return StyleTargets(
        content=content_features, grams=grams,
        content_scale=float(ops.convert_to_numpy(ops.mean(ops.square(content_features)))),
        gram_scales=[float(ops.convert_to_numpy(ops.mean(ops.square(g)))) for g in grams],
    )


def style_losses(network: LossNetwork, targets: StyleTargets, images):
    """(relative content loss, relative style loss summed over layers), each one value per image."""
    content_features, style_features = network(images)
    content = _relative(content_loss(targets.content, content_features), targets.content_scale)
    style = sum(_relative(style_loss(g, f), s) for g, f, s in zip(targets.grams, style_features, targets.gram_scales))
    return content, style


@dataclass
class StyleTransfer:
    image: np.ndarray
    """The stylized image, raw pixels (H, W, 3)."""
    style_loss_before: float
    """Relative style loss of the starting image (the content image)."""
    style_loss_after: float
    content_loss_after: float
    steps_run: int = 0
    """Optimizer steps taken: ``steps``, or fewer when L-BFGS's line search can make no more progress."""


def gatys(content, styles, *, network: LossNetwork | None = None, style_weights=None, content_weight: float = 1.0,
          style_weight: float = 10.0, tv_weight: float = 1e-5, steps: int = 100, optimizer: str = "lbfgs",
          learning_rate: float = 5.0, size: int | None = None, out: str | None = None,
          comparison: str | None = None) -> StyleTransfer:
    """Stylize ``content`` (H, W, 3 raw pixels) with ``styles`` (one image or a list to blend) by optimizing the
    pixels from the content image: ``steps`` L-BFGS iterations (scipy) or Adam steps (``learning_rate`` in pixel
    units). ``size`` resizes the content (longer side) first; styles are resized to the content's size.
    ``out``: write the stylized image there (PNG); ``comparison``: a figure of content, styles and result there."""
    if optimizer not in ("lbfgs", "adam"):
        raise ValueError(f"Invalid optimizer: expected 'lbfgs' or 'adam'. Received: optimizer={optimizer!r}")
    check_positive("steps", steps, integer=True)
    network = network or loss_network()
    content = _rgb(content, size)
    styles = [_rgb(style, None, content.shape[:2]) for style in _as_list(styles)]
    targets = style_targets(network, content, styles, style_weights)

    def total(images):
        c, s = style_losses(network, targets, images)
        return ops.sum(content_weight * c + style_weight * s + tv_weight * total_variation(images))

    start = content[None].astype("float32")
    if optimizer == "adam":
        (image, _), steps_run = optimize_image(total, start, steps=steps, learning_rate=learning_rate), steps
    else:
        image, steps_run = _lbfgs(total, start, steps)
    before_c, before_s = style_losses(network, targets, ops.convert_to_tensor(start))
    after_c, after_s = style_losses(network, targets, ops.convert_to_tensor(image[None]))
    result = StyleTransfer(image=image, style_loss_before=float(ops.convert_to_numpy(before_s)[0]),
                           style_loss_after=float(ops.convert_to_numpy(after_s)[0]),
                           content_loss_after=float(ops.convert_to_numpy(after_c)[0]), steps_run=int(steps_run))
    if out:
        save_image(image, out)
    if comparison:
        _plot_transfer(content, styles, image, comparison, f"Gatys style transfer ({optimizer}, {steps} steps): style loss "
                       f"{result.style_loss_before:.3g} → {result.style_loss_after:.3g}")
    return result


def _as_list(styles) -> list:
    """One style image or a list of them → a list."""
    return list(styles) if isinstance(styles, (list, tuple)) else [styles]


def _rgb(image, size=None, shape=None):
    """Raw RGB pixels (H, W, 3): resized to ``shape`` (H, W), or so the longer side is ``size``."""
    image = fit_image(image)
    if shape is None and size is not None:
        scale = size / max(image.shape[:2])
        shape = (max(8, round(image.shape[0] * scale)), max(8, round(image.shape[1] * scale)))
    return fit_image(image, (*shape, 3) if shape else (None, None, 3))


def _lbfgs(loss_fn, start, steps: int) -> np.ndarray:
    """Minimize ``loss_fn`` over pixels in [0, 255] with scipy's L-BFGS-B; return the image (H, W, C) and the number
    of iterations run (at most ``steps``)."""
    from scipy.optimize import minimize

    shape = start.shape
    gradient = gradient_function(loss_fn)

    def value_and_grad(flat):
        value, grad = gradient(ops.convert_to_tensor(flat.reshape(shape).astype("float32")))
        return float(ops.convert_to_numpy(value)), ops.convert_to_numpy(grad).astype("float64").ravel()

    found = minimize(value_and_grad, start.astype("float64").ravel(), jac=True, method="L-BFGS-B",
                     bounds=[(0.0, 255.0)] * start.size,
                     # Run the steps asked for: the losses are relative, so pixel gradients are small and scipy's
                     # default tolerances stopped it after ~5 of 100 iterations at 256 px (style loss -59 % vs -99 %).
                     options={"maxiter": steps, "ftol": 0.0, "gtol": 0.0})
    return found.x.reshape(shape)[0].astype("float32"), int(found.nit)


def _plot_transfer(content, styles, image, out: str, title: str) -> str:
    fig, axes = new_figure(1, 2 + len(styles))
    panels = [("content", content)] + [(f"style {i + 1}", s) for i, s in enumerate(styles)] + [("result", image)]
    for ax, (label, picture) in zip(axes[0], panels):
        ax.imshow(display_image(picture))
        ax.set_title(label, fontsize=9)
    return save_figure(fig, out, title)


# ------------------------------------------------------------------------------- Johnson et al.: fast networks


def _conv_in_relu(x, filters: int, kernel: int, stride: int, name: str, relu: bool = True, transpose: bool = False):
    conv = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
    x = conv(filters, kernel, strides=stride, padding="same", name=f"{name}_conv")(x)
    x = keras.layers.GroupNormalization(groups=-1, epsilon=1e-5, name=f"{name}_in")(x)  # instance normalization
    return keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x


def transform_network(*, filters: int = 32, residual_blocks: int = 5, name: str = "style_transform") -> keras.Model:
    """Johnson et al.'s transformation network: raw RGB pixels (any height and width divisible by 4) → stylized raw
    pixels of the same shape. 9x9 conv, two stride-2 convs, ``residual_blocks`` residual blocks, two stride-2
    transposed convs, 9x9 conv to RGB; instance normalization after every conv but the last."""
    check_positive("filters", filters, integer=True)
    inputs = keras.Input((None, None, 3), name="images")
    x = keras.layers.Rescaling(1.0 / 255.0, name="scale_in")(inputs)
    x = _conv_in_relu(x, filters, 9, 1, "down1")
    x = _conv_in_relu(x, 2 * filters, 3, 2, "down2")
    x = _conv_in_relu(x, 4 * filters, 3, 2, "down3")
    for b in range(1, residual_blocks + 1):
        y = _conv_in_relu(x, 4 * filters, 3, 1, f"res{b}_a")
        y = _conv_in_relu(y, 4 * filters, 3, 1, f"res{b}_b", relu=False)
        x = keras.layers.Add(name=f"res{b}_add")([x, y])
    x = _conv_in_relu(x, 2 * filters, 3, 2, "up1", transpose=True)
    x = _conv_in_relu(x, filters, 3, 2, "up2", transpose=True)
    x = keras.layers.Conv2D(3, 9, padding="same", activation="sigmoid", name="to_rgb")(x)
    outputs = keras.layers.Rescaling(255.0, name="scale_out")(x)
    return keras.Model(inputs, outputs, name=name)


@dataclass
class FastStyleTraining:
    model: keras.Model
    losses: list
    """Total loss of each training step."""


class _PerceptualTrainer(keras.Model):
    """Trains ``transform`` on ``loss_fn(inputs, outputs)`` with Keras' own train step, so every backend's gradients
    (TensorFlow here, JAX on a GPU) serve; the loss network stays frozen outside the trained variables."""

    def __init__(self, transform: keras.Model, loss_fn):
        super().__init__(name="perceptual_trainer")
        self.transform, self.loss_fn = transform, loss_fn

    def call(self, images, training=False):
        return self.transform(images, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return self.loss_fn(x, y_pred)


def train_fast(styles, content_images, *, network: LossNetwork | None = None, style_weights=None,
               transform: keras.Model | None = None, size: int = 64, steps: int = 200, batch_size: int = 4,
               learning_rate: float = 1e-3, content_weight: float = 1.0, style_weight: float = 10.0,
               tv_weight: float = 1e-5, seed: int = 0, out: str | None = None) -> FastStyleTraining:
    """Train a transformation network (default :func:`transform_network`) for ``styles`` (blended by
    ``style_weights``) on ``content_images`` (a list of RGB images, resized to ``size`` x ``size``), with Adam.
    ``out``: where to save the trained network (a .keras file, written atomically)."""
    from kerazoo.training.callbacks import save_model_atomically

    check_positive("size", size, integer=True)
    if size % 4:
        raise ValueError(f"Invalid size: expected a multiple of 4 (the network downsamples twice). Received: size={size}")
    network = network or loss_network()
    contents = np.stack([_rgb(image, shape=(size, size)) for image in content_images])
    styles = [_rgb(style, shape=(size, size)) for style in _as_list(styles)]
    targets = style_targets(network, contents[0], styles, style_weights)
    transform = transform or transform_network()
    rng = np.random.default_rng(seed)

    def loss_fn(batch, stylized):
        content_features, _ = network(batch)
        features, style_features = network(stylized)
        content = _relative(content_loss(ops.stop_gradient(content_features), features), targets.content_scale)
        style = sum(_relative(style_loss(g, f), s)
                    for g, f, s in zip(targets.grams, style_features, targets.gram_scales))
        return ops.mean(content_weight * content + style_weight * style + tv_weight * total_variation(stylized))

    trainer = _PerceptualTrainer(transform, loss_fn)
    trainer.compile(optimizer=keras.optimizers.Adam(learning_rate))
    losses = []
    for _ in range(steps):
        batch = contents[rng.integers(0, len(contents), size=batch_size)]
        losses.append(float(trainer.train_on_batch(batch, return_dict=True)["loss"]))
    if out:
        save_model_atomically(transform, out)
    return FastStyleTraining(model=transform, losses=losses)


def stylize(transform: keras.Model, content, *, size: int | None = None, out: str | None = None,
            comparison: str | None = None) -> np.ndarray:
    """Apply a trained transformation network to ``content`` (cropped to a multiple of 4 on each side). ``out``:
    write the stylized image there (PNG); ``comparison``: a figure of content and result there."""
    content = _rgb(content, size)
    height, width = (content.shape[0] // 4) * 4, (content.shape[1] // 4) * 4
    content = content[:height, :width]
    image = ops.convert_to_numpy(transform(content[None], training=False))[0]
    if out:
        save_image(image, out)
    if comparison:
        fig, axes = new_figure(1, 2)
        for ax, (label, picture) in zip(axes[0], (("content", content), ("stylized", image))):
            ax.imshow(display_image(picture))
            ax.set_title(label, fontsize=9)
        save_figure(fig, comparison, f"Fast style transfer with {transform.name}")
    return image


def demo_photos() -> list:
    """scikit-image's bundled photos (no download): astronaut, coffee, chelsea, rocket, as RGB raw pixels."""
    from skimage import data

    return [fit_image(getattr(data, name)(), (None, None, 3)) for name in ("astronaut", "coffee", "chelsea", "rocket")]

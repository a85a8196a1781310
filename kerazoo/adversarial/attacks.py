"""White-box evasion attacks on any classifier that returns logits: FGSM, iterative FGSM and PGD (L∞ and L2),
untargeted or targeted.

    x_adv = fgsm(model, images, labels, eps=0.1)                       # raw 0-255 pixels, eps = 10 % of the range
    x_adv = pgd(model, images, labels, eps=0.1, steps=20, restarts=2)  # Madry et al. with random start
    x_adv = pgd(model, images, targets, eps=0.1, targeted=True)        # push every image toward ``targets``

``eps`` is always a fraction of the pixel range (``pixel_range``, default raw pixels ``(0, 255)``; pass ``(0, 1)``
or the range of a normalized input otherwise), so the same figure means the same budget for every model: eps=0.1 is
25.5 grey levels on raw pixels and 0.1 on [0, 1] pixels. For the L2 norm it is the perturbation's Euclidean norm in
the same units. Every adversarial image lies in the eps ball around its clean image and inside ``pixel_range``.

The attacks are written with ``keras.ops`` and ``keras.random`` (they run under ``tf.function``, inside a
``train_step`` and with ``KERAS_BACKEND=jax``); ``input_gradient`` is the one backend-specific piece. ``model`` is a
Keras model or any callable from a batch of images to logits (e.g. a SavedModel's signature function).

References: Goodfellow, Shlens and Szegedy, "Explaining and harnessing adversarial examples" (ICLR 2015) for FGSM;
Kurakin, Goodfellow and Bengio, "Adversarial examples in the physical world" (2017) for iterative FGSM; Madry et al.,
"Towards deep learning models resistant to adversarial attacks" (ICLR 2018) for PGD with random start.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from keras import ops

NORMS = ("linf", "l2")
RAW_PIXELS = (0.0, 255.0)


# ---------------------------------------------------------------------------------------------------- validation
def check_pixel_range(pixel_range) -> tuple[float, float]:
    """``(low, high)`` as floats, with low < high."""
    try:
        low, high = (float(v) for v in pixel_range)
    except (TypeError, ValueError):
        raise ValueError(f"Invalid pixel_range: expected (low, high). Received: pixel_range={pixel_range!r}") from None
    if not low < high:
        raise ValueError(f"Invalid pixel_range: expected low < high. Received: pixel_range={pixel_range!r}")
    return low, high


def check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ValueError(f"Invalid norm: expected one of {', '.join(NORMS)}. Received: norm={norm!r}")
    return norm


def check_eps(eps, norm: str = "linf", input_shape=None) -> float:
    """``eps`` as a float after checking it lies in the pixel range: (0, 1] for L∞; for L2, (0, sqrt(d)] where d
    is the number of values per image (the diameter of the pixel hypercube)."""
    check_norm(norm)
    limit, unit = 1.0, "(0, 1] (a fraction of the pixel range)"
    if norm == "l2" and input_shape is not None and all(d is not None for d in input_shape):
        limit = math.sqrt(float(np.prod(input_shape)))
        unit = f"(0, {limit:.4g}] (an L2 norm in units of the pixel range; {limit:.4g} is the image diagonal)"
    elif norm == "l2":
        limit, unit = math.inf, "> 0 (an L2 norm in units of the pixel range)"
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating, np.integer)) or not 0 < eps <= limit:
        raise ValueError(f"Invalid eps: expected a value in {unit}. Received: eps={eps!r}")
    return float(eps)


def check_images(images, pixel_range) -> None:
    """With concrete (NumPy) images, say so when they are outside ``pixel_range``: a model on normalized inputs
    needs its own ``pixel_range``."""
    if not isinstance(images, np.ndarray) or images.size == 0:
        return
    low, high = pixel_range
    slack = 1e-3 * (high - low)
    if images.min() < low - slack or images.max() > high + slack:
        raise ValueError(
            f"Images have values in [{images.min():.4g}, {images.max():.4g}], outside pixel_range=({low:g}, {high:g}). "
            "Pass the range the model's inputs live in (kerazoo models take raw 0-255 pixels; pixel_range=(0, 1) "
            "for [0, 1] inputs)."
        )


# ---------------------------------------------------------------------------------------------------- gradients
def input_gradient(fn, x):
    """``(values, gradient)``: the per-example values ``fn(x)`` and the gradient of their sum with respect to ``x``.

    The only backend-specific code of the attacks. Raises ValueError when ``fn`` has no gradient with respect to its
    input (e.g. a function that leaves TensorFlow, or a model whose first op is not differentiable).
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x, tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(x)
            values = fn(x)
            total = tf.reduce_sum(values)
        gradient = tape.gradient(total, x)
    elif backend == "jax":
        import jax

        def total_and_values(v):
            values = fn(v)
            return ops.sum(values), values

        (_, values), gradient = jax.value_and_grad(total_and_values, has_aux=True)(ops.convert_to_tensor(x, "float32"))
    elif backend == "torch":
        import torch

        x = ops.convert_to_tensor(x, "float32").detach().requires_grad_(True)
        values = fn(x)
        (gradient,) = torch.autograd.grad(values.sum(), x, allow_unused=True)
        values = values.detach()
    else:
        raise ValueError(f"Attacks support the tensorflow, jax and torch backends. Received: backend={backend!r}")
    if gradient is None:
        raise ValueError(
            "The model has no gradient with respect to its input images, so white-box attacks cannot run on it. "
            "Attack a Keras model or a SavedModel, or use kerazoo.adversarial.transfer for a black-box attack."
        )
    return values, gradient


def logits_of(model, images):
    """A Keras model in inference mode, or any callable, applied to ``images``."""
    if isinstance(model, keras.Model):
        return model(images, training=False)
    return model(images)


def attack_objective(model, labels, targeted: bool):
    """The per-example quantity an attack increases: the cross-entropy of the true labels (untargeted) or minus the
    cross-entropy of the target labels (targeted)."""
    sign = -1.0 if targeted else 1.0

    def objective(images):
        logits = ops.cast(logits_of(model, images), "float32")
        return sign * keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)

    return objective


# ---------------------------------------------------------------------------------------------------- geometry
def _per_example_l2(x):
    axes = tuple(range(1, len(x.shape)))
    return ops.sqrt(ops.sum(ops.square(x), axis=axes, keepdims=True))


def project(delta, eps_abs: float, norm: str):
    """The perturbation moved into the eps ball (in pixel units): clipped for L∞, rescaled for L2."""
    if norm == "linf":
        return ops.clip(delta, -eps_abs, eps_abs)
    length = _per_example_l2(delta)
    return delta * ops.minimum(1.0, eps_abs / ops.maximum(length, 1e-12))


def ascent_direction(gradient, norm: str):
    """The steepest-ascent step of unit size for the norm: sign(∇) for L∞, ∇ / ||∇||₂ for L2."""
    if norm == "linf":
        return ops.sign(gradient)
    return gradient / ops.maximum(_per_example_l2(gradient), 1e-12)


def random_start(images, eps_abs: float, norm: str, seed):
    """A uniformly random point of the L∞ ball, or a random direction at a random radius inside the L2 ball."""
    shape = ops.shape(images)
    if norm == "linf":
        return keras.random.uniform(shape, -eps_abs, eps_abs, seed=seed)
    direction = keras.random.normal(shape, seed=seed)
    direction = direction / ops.maximum(_per_example_l2(direction), 1e-12)
    radius = keras.random.uniform((shape[0],) + (1,) * (len(images.shape) - 1), 0.0, eps_abs, seed=seed)
    return direction * radius


def _clip_to_range(clean, adversarial, eps_abs, norm, pixel_range):
    delta = project(adversarial - clean, eps_abs, norm)
    return ops.clip(clean + delta, pixel_range[0], pixel_range[1])


# ---------------------------------------------------------------------------------------------------- attacks
def fgsm(model, images, labels, eps: float, *, targeted: bool = False, pixel_range=RAW_PIXELS):
    """Fast gradient sign method (Goodfellow et al., 2015): one step of size eps along sign(∇ₓ loss).

    Args:
        model: Keras model or callable, images → logits.
        images: float batch inside ``pixel_range``.
        labels: int class labels (the true ones; with ``targeted=True``, the targets).
        eps: L∞ budget as a fraction of the pixel range, in (0, 1].
        targeted: step toward ``labels`` instead of away from them.
        pixel_range: (low, high) of the model's inputs; default raw pixels (0, 255).

    Returns:
        Adversarial images, clipped to ``pixel_range``.
    """
    pixel_range = check_pixel_range(pixel_range)
    eps_abs = check_eps(eps, "linf") * (pixel_range[1] - pixel_range[0])
    check_images(images, pixel_range)
    images = ops.convert_to_tensor(images, "float32")
    _, gradient = input_gradient(attack_objective(model, labels, targeted), images)
    return ops.clip(images + eps_abs * ops.sign(gradient), pixel_range[0], pixel_range[1])


def pgd(
    model,
    images,
    labels,
    eps: float,
    *,
    norm: str = "linf",
    steps: int = 10,
    step_size: float | None = None,
    restarts: int = 1,
    random_init: bool = True,
    targeted: bool = False,
    pixel_range=RAW_PIXELS,
    seed=None,
    return_losses: bool = False,
):
    """Projected gradient descent on the loss (Madry et al., 2018); with ``random_init=False`` and L∞, the
    iterative FGSM of Kurakin et al. (2017).

    Each step moves by ``step_size`` along the norm's steepest-ascent direction, then projects back into the eps
    ball and the pixel range. With ``restarts > 1`` each example keeps the restart that reached the highest loss.

    Args:
        model, images, labels, targeted, pixel_range: as for :func:`fgsm`.
        eps: budget as a fraction of the pixel range: (0, 1] for L∞; an L2 norm in the same units for L2.
        norm: "linf" or "l2".
        steps: gradient steps per restart.
        step_size: step as a fraction of the pixel range; default 2.5 * eps / steps (Madry et al.).
        restarts: independent random starts (only with ``random_init``).
        random_init: start from a random point of the eps ball instead of the clean image.
        seed: int or ``keras.random.SeedGenerator`` for the random starts.
        return_losses: also return the mean attack objective before the first step and after every step of the
            last restart (a list of floats; concrete inputs only).

    Returns:
        Adversarial images (and the losses when ``return_losses``).
    """
    pixel_range = check_pixel_range(pixel_range)
    scale = pixel_range[1] - pixel_range[0]
    eps_abs = check_eps(eps, norm, tuple(images.shape[1:])) * scale
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"Invalid steps: expected a positive integer. Received: steps={steps!r}")
    if isinstance(restarts, bool) or not isinstance(restarts, int) or restarts < 1:
        raise ValueError(f"Invalid restarts: expected a positive integer. Received: restarts={restarts!r}")
    if step_size is not None and not step_size > 0:
        raise ValueError(f"Invalid step_size: expected a value > 0. Received: step_size={step_size!r}")
    alpha = (step_size if step_size is not None else 2.5 * eps / steps) * scale
    check_images(images, pixel_range)
    clean = ops.convert_to_tensor(images, "float32")
    objective = attack_objective(model, labels, targeted)
    seed = keras.random.SeedGenerator(seed) if seed is None or isinstance(seed, int) else seed

    best, best_loss, losses = None, None, []
    for _ in range(restarts if random_init else 1):
        x = clean
        if random_init:
            x = _clip_to_range(clean, clean + random_start(clean, eps_abs, norm, seed), eps_abs, norm, pixel_range)
        losses = []
        for _ in range(steps):
            values, gradient = input_gradient(objective, x)
            if return_losses:
                losses.append(float(ops.convert_to_numpy(ops.mean(values))))
            x = _clip_to_range(clean, x + alpha * ascent_direction(gradient, norm), eps_abs, norm, pixel_range)
        final = objective(x)
        if return_losses:
            losses.append(float(ops.convert_to_numpy(ops.mean(final))))
        if best is None:
            best, best_loss = x, final
        else:
            better = ops.reshape(final > best_loss, (-1,) + (1,) * (len(x.shape) - 1))
            best = ops.where(better, x, best)
            best_loss = ops.maximum(final, best_loss)
    return (best, losses) if return_losses else best


def iterative_fgsm(model, images, labels, eps: float, *, steps: int = 10, step_size: float | None = None,
                   norm: str = "linf", **kwargs):
    """Iterative FGSM, the basic iterative method of Kurakin et al. (2017): PGD started at the clean image (no
    random start, so no restarts); the default step is :func:`pgd`'s, 2.5 * eps / steps."""
    return pgd(model, images, labels, eps, norm=norm, steps=steps, step_size=step_size, random_init=False, **kwargs)


ATTACKS = {"fgsm": fgsm, "pgd": pgd, "ifgsm": iterative_fgsm}


def run_attack(name: str, model, images, labels, eps: float, **kwargs):
    """The attack called ``name`` (fgsm, pgd or ifgsm); FGSM ignores the iterative attacks' arguments."""
    if name not in ATTACKS:
        import difflib

        close = difflib.get_close_matches(str(name), ATTACKS, n=2)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise ValueError(f"Invalid attack: expected one of {', '.join(ATTACKS)}.{hint} Received: attack={name!r}")
    if name == "fgsm":
        if kwargs.get("norm", "linf") != "linf":
            raise ValueError(f"FGSM is an L∞ attack. Received: norm={kwargs['norm']!r}; use attack='pgd' for L2.")
        kwargs = {k: v for k, v in kwargs.items() if k in ("targeted", "pixel_range")}
    return ATTACKS[name](model, images, labels, eps, **kwargs)

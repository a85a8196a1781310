"""kerazoo.rl's networks and acting: pure Keras models, and their forward pass in NumPy for per-step action selection.

Vector observations get an MLP; image observations the Nature CNN (Mnih et al., 2015). Layer names are fixed:
hidden_{i} for the MLP torso, conv{1,2,3} and fc for the CNN; heads name their own layers.

Speed: one call of a ``tf.function`` costs ~0.6 ms on a laptop-class CPU, a NumPy forward pass of a small MLP ~0.013 ms.
So per-step action selection runs in NumPy on a copy of the network's weights (``NumpyMLP``, refreshed after each
update), and the updates are XLA-compiled functions called as rarely as the algorithm allows.
"""

from __future__ import annotations

import math

import gymnasium as gym
import keras
import numpy as np

# The registration package of DuelingHead: saved policies name it "kerazoo.rl>DuelingHead", wherever the class lives.
PACKAGE = "kerazoo.rl"

NATURE_CNN_MIN_SIZE = 36  # 8x8/4 → 4x4/2 → 3x3/1 needs at least 36 pixels per side for a 1x1 output


def observation_kind(space: gym.Space, env_id: str) -> str:
    """``"vector"`` or ``"pixels"`` for the observation spaces the networks can take; else a ValueError naming it."""
    if not isinstance(space, gym.spaces.Box):
        raise ValueError(
            f"Environment {env_id!r} has observation space {space}; kerazoo.rl's networks take a Box of rank 1 "
            "(an MLP) or rank 3 (uint8 images, the Nature CNN)."
        )
    shape = tuple(space.shape)
    if len(shape) == 1:
        return "vector"
    if len(shape) == 3:
        if space.dtype != np.uint8:
            raise ValueError(
                f"Environment {env_id!r} has image-shaped observations {shape} of dtype {space.dtype}; "
                "the Nature CNN takes uint8 pixels (0-255)."
            )
        h, w = _image_hw(shape)
        if min(h, w) < NATURE_CNN_MIN_SIZE:
            raise ValueError(
                f"Environment {env_id!r} has observations of shape {shape} ({h}x{w} pixels); the Nature CNN needs "
                f"at least {NATURE_CNN_MIN_SIZE}x{NATURE_CNN_MIN_SIZE} (Atari preprocessing gives 4x84x84)."
            )
        return "pixels"
    raise ValueError(
        f"Environment {env_id!r} has observations of shape {shape} (rank {len(shape)}); kerazoo.rl's networks take "
        "rank 1 (vectors, an MLP) or rank 3 (stacked uint8 frames, the Nature CNN). Flatten or wrap the environment."
    )


def _channels_first(shape) -> bool:
    # Frame stacks from FrameStackObservation are (stack, H, W); ordinary images are (H, W, C).
    return shape[0] <= 4 and shape[-1] > 4


def _image_hw(shape):
    return (shape[1], shape[2]) if _channels_first(shape) else (shape[0], shape[1])


def observation_input(space: gym.Space, env_id: str):
    """The Keras Input for ``space`` and the torso on top of it: an MLP (``hidden_sizes``) or the Nature CNN."""
    kind = observation_kind(space, env_id)
    return keras.Input(shape=tuple(space.shape), dtype="uint8" if kind == "pixels" else "float32", name="observations")


INITS = ("keras", "torch")


def dense(units: int, fan_in: int, *, init: str = "keras", **kwargs) -> keras.layers.Dense:
    """A Dense layer initialized as Keras does (Glorot-uniform kernel, zero bias) or as PyTorch's ``nn.Linear``."""
    return keras.layers.Dense(units, **torch_init(fan_in) if init == "torch" else {}, **kwargs)


def torch_init(fan_in: int) -> dict:
    """PyTorch's default ``nn.Linear``/``nn.Conv2d`` init as Keras initializers: kaiming_uniform(a=sqrt(5)) is
    U(+-1/sqrt(fan_in)) for the kernel, and the bias is U(+-1/sqrt(fan_in)) too (Keras: Glorot kernel, zero bias)."""
    bound = 1.0 / math.sqrt(fan_in)
    return {"kernel_initializer": keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform"),
            "bias_initializer": keras.initializers.RandomUniform(-bound, bound)}


def torso(inputs, hidden_sizes, activation: str = "relu", *, init: str = "keras"):
    """MLP (rank-1 inputs): Dense layers ``hidden_{i}``. Pixels (rank 3): the Nature CNN and a 512-unit ``fc``.

    ``init``: "keras" (Glorot-uniform kernels, zero biases) or "torch" (PyTorch's defaults, ``torch_init``: what
    Stable-Baselines3's DQN networks start from).
    """
    if init not in INITS:
        raise ValueError(f"Argument 'init' must be one of {', '.join(INITS)}; got {init!r}.")
    if len(inputs.shape) == 2:
        x = inputs
        for i, units in enumerate(hidden_sizes):
            x = dense(units, x.shape[-1], init=init, activation=activation, name=f"hidden_{i}")(x)
        return x
    x = inputs
    if _channels_first(tuple(inputs.shape[1:])):
        x = keras.layers.Permute((2, 3, 1), name="to_channels_last")(x)
    x = keras.layers.Rescaling(1.0 / 255.0, name="scale")(x)
    for name, filters, size, stride in (("conv1", 32, 8, 4), ("conv2", 64, 4, 2), ("conv3", 64, 3, 1)):
        fan_in = size * size * x.shape[-1]
        x = keras.layers.Conv2D(filters, size, strides=stride, activation="relu", name=name,
                                **torch_init(fan_in) if init == "torch" else {})(x)
    x = keras.layers.Flatten(name="flatten")(x)
    return dense(512, x.shape[-1], init=init, activation="relu", name="fc")(x)


def policy_network(space, n_actions: int, env_id: str, hidden_sizes=(64, 64), activation="tanh") -> keras.Model:
    """Observations → action ``logits`` (a softmax policy). Output layer scaled down at init, as in SB3/PPO."""
    inputs = observation_input(space, env_id)
    x = torso(inputs, hidden_sizes, activation)
    logits = keras.layers.Dense(
        n_actions, kernel_initializer=keras.initializers.Orthogonal(0.01), name="logits")(x)
    return keras.Model(inputs, logits, name="policy")


def value_network(space, env_id: str, hidden_sizes=(64, 64), activation="tanh") -> keras.Model:
    """Observations → state value V(s), shape (batch,)."""
    inputs = observation_input(space, env_id)
    x = torso(inputs, hidden_sizes, activation)
    v = keras.layers.Dense(1, name="value")(x)
    v = keras.layers.Reshape((), name="squeeze")(v)
    return keras.Model(inputs, v, name="value")


@keras.saving.register_keras_serializable(package=PACKAGE)
class DuelingHead(keras.layers.Layer):
    """Q(s, a) = V(s) + A(s, a) - mean_a A(s, a) (Wang et al., 2016). Inputs: [value (B, 1), advantages (B, n)]."""

    def call(self, inputs):
        value, advantages = inputs
        return value + advantages - keras.ops.mean(advantages, axis=-1, keepdims=True)


# ----------------------------------------------------------------------------------------------------------------------
# Acting: a NumPy copy of an MLP's weights (no TensorFlow call per step), or one compiled call for CNNs.
# ----------------------------------------------------------------------------------------------------------------------
_NP_ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
}


class NumpyMLP:
    """The forward pass of a kerazoo.rl MLP (Dense layers, optionally a DuelingHead, optionally a trailing Reshape)
    in NumPy float32. Call ``refresh()`` after the Keras weights change."""

    def __init__(self, model: keras.Model):
        self.model = model
        self.dense = [l for l in model.layers if isinstance(l, keras.layers.Dense)]
        self.dueling = any(isinstance(l, DuelingHead) for l in model.layers)
        self.squeeze = isinstance(model.layers[-1], keras.layers.Reshape)
        self.refresh()

    @staticmethod
    def supports(model: keras.Model) -> bool:
        allowed = (keras.layers.InputLayer, keras.layers.Dense, DuelingHead, keras.layers.Reshape)
        return all(isinstance(l, allowed) for l in model.layers)

    def refresh(self) -> None:
        self.params = [
            (np.array(l.kernel), np.array(l.bias), _NP_ACTIVATIONS[keras.activations.serialize(l.activation)])
            for l in self.dense
        ]

    def __call__(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        layers = self.params[:-2] if self.dueling else self.params[:-1]
        for kernel, bias, act in layers:
            x = act(x @ kernel + bias)
        if self.dueling:
            (wv, bv, _), (wa, ba, _) = self.params[-2:]
            value, adv = x @ wv + bv, x @ wa + ba
            return value + adv - adv.mean(axis=-1, keepdims=True)
        kernel, bias, act = self.params[-1]
        out = act(x @ kernel + bias)
        return out[..., 0] if self.squeeze else out


class CompiledForward:
    """One XLA-compiled call per batch of observations (CNNs, where NumPy would be slower)."""

    def __init__(self, model: keras.Model, jit: bool = True):
        import tensorflow as tf

        spec = tf.TensorSpec((None, *model.input_shape[1:]), model.inputs[0].dtype)
        self.fn = tf.function(lambda x: model(x, training=False), input_signature=[spec], jit_compile=jit)

    def refresh(self) -> None:
        pass

    def __call__(self, x) -> np.ndarray:
        return self.fn(x).numpy()


def make_forward(model: keras.Model, jit: bool = True):
    return NumpyMLP(model) if NumpyMLP.supports(model) else CompiledForward(model, jit)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def sample_categorical(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One action per row of ``logits`` (inverse-CDF sampling)."""
    cdf = np.cumsum(softmax(logits.astype(np.float64)), axis=-1)
    u = rng.random((logits.shape[0], 1)) * cdf[:, -1:]
    return np.minimum((u > cdf).sum(axis=-1), logits.shape[-1] - 1)

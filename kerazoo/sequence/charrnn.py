"""Character-level language models (char-RNN): vanilla RNN, LSTM and GRU, trained by truncated BPTT.

Karpathy, "The Unreasonable Effectiveness of Recurrent Neural Networks" (2015), and Karpathy, Johnson & Fei-Fei,
"Visualizing and Understanding Recurrent Networks" (2015); CS231n lecture 10.

    from kerazoo.sequence import charrnn
    run = charrnn.train_char_rnn("runs/char_lstm", cell="lstm", steps=2000)      # corpus "fortunes" by default
    print(charrnn.sample(run, prime="The ", length=400, temperature=0.8))

The model reads characters and its recurrent state and returns next-character logits and the new state:
``[chars (B, T), state...] -> [logits (B, T, V), state...]``. Carrying the state explicitly gives truncated BPTT with
stateful batches (row i of batch k+1 continues row i of batch k; gradients stop at the batch boundary, the state
does not) and a one-character sampling step from the same model, with no copies of the weights.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import weakref
from dataclasses import dataclass

import keras
import numpy as np
import yaml

from kerazoo.sequence.corpus import DEFAULT_CORPUS, load_text

__all__ = [
    "CELLS",
    "VanillaRNNCell",
    "char_language_model",
    "zero_states",
    "Vocabulary",
    "stateful_windows",
    "CharRNNConfig",
    "char_train_config",
    "train_char_rnn",
    "evaluate_bpc",
    "evaluate_char_run",
    "load_char_run",
    "validation_text",
    "next_char_distribution",
    "sample",
]

CELLS = ("vanilla", "rnn", "lstm", "gru")
"""``vanilla``: :class:`VanillaRNNCell` (the readable one); ``rnn``/``lstm``/``gru``: Keras' SimpleRNN, LSTM, GRU."""


@keras.saving.register_keras_serializable(package="kerazoo")
class VanillaRNNCell(keras.layers.Layer):
    """The vanilla RNN cell, written out: ``h_t = tanh(x_t W_xh + h_{t-1} W_hh + b)``.

    Wrap it in ``keras.layers.RNN`` to run it over a sequence; autodiff through that loop is back-propagation
    through time. The repeated multiplication by ``W_hh`` (and tanh') is why its gradients vanish or explode over
    long spans (Pascanu et al., "On the difficulty of training recurrent neural networks", 2013), the motivation for
    the LSTM and for gradient clipping.

    Args:
        units: size of the hidden state h.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"Invalid units: expected a positive integer. Received: units={units!r}")
        self.units = units
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        self.w_xh = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform", name="w_xh")
        self.w_hh = self.add_weight(shape=(self.units, self.units), initializer="orthogonal", name="w_hh")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs, states, training=None):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        h = keras.ops.tanh(keras.ops.matmul(inputs, self.w_xh) + keras.ops.matmul(h_prev, self.w_hh) + self.bias)
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def _recurrent_layer(cell: str, units: int, name: str) -> keras.layers.Layer:
    options = dict(return_sequences=True, return_state=True, name=name)
    if cell == "vanilla":
        return keras.layers.RNN(VanillaRNNCell(units, name=f"{name}_cell"), **options)
    layer = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[cell]
    return layer(units, **options)


def _check_cell(cell: str) -> str:
    if cell not in CELLS:
        raise ValueError(f"Invalid cell: expected one of {', '.join(CELLS)}. Received: cell={cell!r}")
    return cell


def char_language_model(vocab_size: int, *, cell: str = "lstm", units: int = 128, num_layers: int = 2,
                        embedding_dim: int = 32, name: str | None = None) -> keras.Model:
    """Embedding → ``num_layers`` recurrent layers → Dense logits, with the recurrent state as inputs and outputs.

    Inputs: ``chars`` (B, T) int32 and one (B, units) input per state tensor (``rnn{i}_h``, and ``rnn{i}_c`` for
    the LSTM's cell state). Outputs: ``logits`` (B, T, vocab_size) and the final states, in the same order.
    """
    _check_cell(cell)
    for arg, value in (("vocab_size", vocab_size), ("units", units), ("num_layers", num_layers),
                       ("embedding_dim", embedding_dim)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"Invalid {arg}: expected a positive integer. Received: {arg}={value!r}")
    chars = keras.Input(shape=(None,), dtype="int32", name="chars")
    x = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")(chars)
    state_inputs, state_outputs = [], []
    for i in range(1, num_layers + 1):
        names = [f"rnn{i}_h", f"rnn{i}_c"] if cell == "lstm" else [f"rnn{i}_h"]
        states = [keras.Input(shape=(units,), name=n) for n in names]
        x, *new_states = _recurrent_layer(cell, units, f"rnn{i}")(x, initial_state=states)
        state_inputs += states
        state_outputs += new_states
    logits = keras.layers.Dense(vocab_size, name="logits")(x)
    return keras.Model([chars, *state_inputs], [logits, *state_outputs], name=name or f"char_{cell}")


def zero_states(model: keras.Model, batch_size: int) -> list:
    """The all-zero initial state of a :func:`char_language_model`, one tensor per state input."""
    return [keras.ops.zeros((batch_size, int(t.shape[-1])), dtype="float32") for t in model.inputs[1:]]


@dataclass(frozen=True)
class Vocabulary:
    """The characters a model knows, in id order."""

    chars: str

    @classmethod
    def from_text(cls, text: str) -> "Vocabulary":
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Character ids of ``text``; a character outside the vocabulary is a ValueError naming it."""
        index = {c: i for i, c in enumerate(self.chars)}
        unknown = sorted(set(text) - set(index))
        if unknown:
            raise ValueError(
                f"Text has {len(unknown)} character(s) outside the model's vocabulary: "
                f"{', '.join(repr(c) for c in unknown[:10])}. The vocabulary has {len(self.chars)} characters: "
                f"{self.chars[:80]!r}{'...' if len(self.chars) > 80 else ''}"
            )
        return np.array([index[c] for c in text], dtype="int32")

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def stateful_windows(ids: np.ndarray, batch_size: int, seq_len: int):
    """Split ``ids`` into ``batch_size`` contiguous streams and cut them into (x, y) windows of ``seq_len``.

    Returns arrays ``x, y`` of shape (num_windows, batch_size, seq_len), y = x shifted by one character. Row ``i``
    of window ``k + 1`` continues row ``i`` of window ``k``, so the state at the end of one window is the right
    initial state for the next (truncated BPTT over the whole stream).
    """
    stream_len = (len(ids) - 1) // batch_size
    num_windows = stream_len // seq_len
    if num_windows < 1:
        raise ValueError(
            f"Text too short: {len(ids)} characters cannot fill one window of batch_size={batch_size} streams x "
            f"seq_len={seq_len} (+1 target); it needs at least {batch_size * seq_len + 1}."
        )
    used = num_windows * seq_len
    x = ids[: batch_size * stream_len].reshape(batch_size, stream_len)[:, :used]
    y = ids[1: batch_size * stream_len + 1].reshape(batch_size, stream_len)[:, :used]
    def windows(a):
        return a.reshape(batch_size, num_windows, seq_len).transpose(1, 0, 2)
    return windows(x), windows(y)


@dataclass
class CharRNNConfig:
    """Everything a char-RNN run is made of: the training service's config holds the corpus (data.dataset),
    batch_size, seed, steps (epochs x steps_per_epoch) and eval_every (steps_per_epoch); the other fields are its
    ``task_options`` (kerazoo.sequence.tasks)."""

    cell: str = "lstm"
    corpus: str = DEFAULT_CORPUS
    max_chars: int | None = None  # use only the first max_chars characters of the corpus
    units: int = 128
    num_layers: int = 2
    embedding_dim: int = 32
    seq_len: int = 64  # truncated-BPTT length
    batch_size: int = 32  # parallel streams
    steps: int = 2000
    learning_rate: float = 2e-3
    clipnorm: float = 5.0  # global gradient-norm clipping
    val_fraction: float = 0.05  # the corpus's last characters, held out
    eval_every: int = 200
    val_batches: int = 20  # windows of validation text per evaluation (None-like 0 = all)
    seed: int = 0

    def check(self) -> "CharRNNConfig":
        _check_cell(self.cell)
        if not 0.0 < self.val_fraction < 0.5:
            raise ValueError(f"Invalid val_fraction: expected a value in (0, 0.5). Received: {self.val_fraction!r}")
        for name in ("units", "num_layers", "embedding_dim", "seq_len", "batch_size", "steps", "eval_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Invalid {name}: expected a positive integer. Received: {name}={value!r}")
        if not self.clipnorm > 0:
            raise ValueError(f"Invalid clipnorm: expected a value > 0. Received: clipnorm={self.clipnorm!r}")
        return self


def _split_text(text: str, val_fraction: float) -> tuple[str, str]:
    cut = int(len(text) * (1.0 - val_fraction))
    return text[:cut], text[cut:]


def evaluate_bpc(model: keras.Model, ids: np.ndarray, *, batch_size: int = 8, seq_len: int = 64,
                 max_windows: int | None = None) -> float:
    """Bits per character of ``ids`` (mean next-character cross-entropy / ln 2), the state carried across windows."""
    xs, ys = stateful_windows(ids, batch_size, seq_len)
    if max_windows:
        xs, ys = xs[:max_windows], ys[:max_windows]
    states, total = zero_states(model, batch_size), 0.0
    xent = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
    for x, y in zip(xs, ys):
        logits, *states = _predict_step(model)(x, states)
        total += float(keras.ops.convert_to_numpy(xent(y, logits)))
    return total / (xs.size * math.log(2.0))


def validation_batch_size(val_chars: int, seq_len: int) -> int:
    """Streams the held-out text is read in: up to 8, fewer when it is short."""
    return max(1, min(8, (val_chars - 1) // seq_len))


def validation_windows(val_ids: np.ndarray, config: CharRNNConfig):
    """The (x, y) windows validation reads, ``val_batches`` of them (0: all), as :func:`stateful_windows`."""
    xs, ys = stateful_windows(val_ids, validation_batch_size(len(val_ids), config.seq_len), config.seq_len)
    return (xs[: config.val_batches], ys[: config.val_batches]) if config.val_batches else (xs, ys)


def _validation_bpc(model: keras.Model, val_ids: np.ndarray, config: CharRNNConfig) -> float:
    return evaluate_bpc(model, val_ids, batch_size=validation_batch_size(len(val_ids), config.seq_len),
                        seq_len=config.seq_len, max_windows=config.val_batches or None)


_STEPS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _predict_step(model):
    """``(chars, states) -> [logits, *states]`` compiled once per model (sampling calls it once per character)."""
    step = _STEPS.get(model)
    if step is None:
        import tensorflow as tf

        step = tf.function(lambda x, states: model([x, *states], training=False), reduce_retracing=True)
        _STEPS[model] = step
    return step


def char_train_config(config: CharRNNConfig, **service):
    """The training-service config (``task: charrnn``) of a :class:`CharRNNConfig`: ``eval_every`` steps an epoch
    (``steps`` a multiple of it), the corpus as ``data.dataset``, the streams as ``data.batch_size``; ``service``
    sets further top-level fields (``strategy="default"``)."""
    from kerazoo.sequence.tasks import CHAR_SERVICE_FIELDS
    from kerazoo.training.config import config_from_dict

    config.check()
    if config.steps % config.eval_every:
        raise ValueError(f"Invalid steps={config.steps}: expected a multiple of eval_every={config.eval_every} (one "
                         "epoch of the training service is eval_every steps).")
    options = {k: v for k, v in dataclasses.asdict(config).items() if k not in CHAR_SERVICE_FIELDS}
    return config_from_dict({
        "task": "charrnn", "task_options": options, "model": {"name": f"char_{config.cell}"},
        "data": {"dataset": config.corpus, "batch_size": config.batch_size, "val_split": "", "augment": []},
        "epochs": config.steps // config.eval_every, "steps_per_epoch": config.eval_every, "seed": config.seed,
        **service,
    })


def train_char_rnn(out: str, config: CharRNNConfig | None = None, *, overwrite: bool = False, verbose: int = 1,
                   **overrides) -> str:
    """Train a char-RNN into the run directory ``out`` with the training service (``kerazoo train``, task
    ``charrnn``: kerazoo.sequence.tasks); returns the run directory.

    ``overrides`` set fields of :class:`CharRNNConfig` (``cell="gru"``, ``steps=500`` ...). Validation
    bits-per-character (``val_bpc``) is measured every ``eval_every`` steps (an epoch of the service); ``best.keras``
    keeps the lowest. An interrupted run resumes from its last backed-up epoch, the carried RNN state with it, when
    trained again into the same directory with the same config; a finished run there is an error unless ``overwrite``.
    """
    from kerazoo.training.run import train

    config = dataclasses.replace(config or CharRNNConfig(), **overrides).check()
    return train(char_train_config(config), out, overwrite=overwrite, verbose=verbose)


def _run_kind(run_dir: str) -> str | None:
    """The service task of a run directory (``charrnn``, ``captioning``, ...), or None for the run directories
    kerazoo.sequence wrote itself before it trained through the service (they have vocab.json)."""
    with open(os.path.join(run_dir, "config.yaml"), encoding="utf-8") as f:
        return (yaml.safe_load(f) or {}).get("task")


def load_char_run(run_dir: str, which: str = "best") -> tuple[keras.Model, Vocabulary, CharRNNConfig]:
    """The model, vocabulary and config of a char-RNN run directory (a service run, task ``charrnn``, or one written
    before: config.yaml of :class:`CharRNNConfig` fields and vocab.json)."""
    from kerazoo.training.run import load_run_config, load_run_info, load_run_model

    if not os.path.exists(os.path.join(run_dir, "config.yaml")):
        raise FileNotFoundError(f"{run_dir} is not a run directory: it has no config.yaml.")
    vocab_path = os.path.join(run_dir, "vocab.json")
    if os.path.exists(vocab_path):  # written before the service trained char-RNNs
        with open(vocab_path, encoding="utf-8") as f:
            vocab = Vocabulary(json.load(f)["chars"])
        with open(os.path.join(run_dir, "config.yaml"), encoding="utf-8") as f:
            config = CharRNNConfig(**yaml.safe_load(f))
        return load_run_model(run_dir, which), vocab, config
    kind = _run_kind(run_dir)
    if kind != "charrnn":
        raise ValueError(f"{run_dir} is not a char-RNN run: its config's task is {kind!r}, not 'charrnn'.")
    from kerazoo.sequence.tasks import char_options

    config = char_options(load_run_config(run_dir))
    vocab = Vocabulary("".join(load_run_info(run_dir).class_names))
    return load_run_model(run_dir, which), vocab, config


def _validation_text(config: CharRNNConfig) -> str:
    return _split_text(load_text(config.corpus, max_chars=config.max_chars), config.val_fraction)[1]


def validation_text(run_dir: str) -> str:
    """The held-out text of a run (its corpus's last ``val_fraction``), for figures such as the neuron view."""
    return _validation_text(load_char_run(run_dir)[2])


def evaluate_char_run(run_dir: str, which: str = "best") -> dict:
    """Validation bits-per-character of a run's ``best`` (or ``last``) checkpoint, measured as training measured it
    (same held-out text, windows and state carrying)."""
    model, vocab, config = load_char_run(run_dir, which)
    text = _validation_text(config)
    return {"cell": config.cell, "checkpoint": which, "val_chars": len(text),
            "val_bpc": _validation_bpc(model, vocab.encode(text), config)}


def next_char_distribution(logits, *, temperature: float = 1.0, top_k: int | None = None) -> np.ndarray:
    """Probabilities of the next character: softmax(logits / temperature), keeping only the ``top_k`` largest.

    Low temperature sharpens towards the argmax (more likely, more repetitive text); high flattens towards uniform.
    """
    if not temperature > 0:
        raise ValueError(f"Invalid temperature: expected a value > 0. Received: temperature={temperature!r}")
    logits = np.asarray(logits, dtype="float64") / temperature
    if top_k is not None:
        if not isinstance(top_k, int) or not 1 <= top_k <= logits.shape[-1]:
            raise ValueError(
                f"Invalid top_k: expected None or an integer in [1, {logits.shape[-1]}] (the vocabulary size). "
                f"Received: top_k={top_k!r}"
            )
        kth = np.sort(logits)[-top_k]
        logits = np.where(logits >= kth, logits, -np.inf)
    probs = np.exp(logits - logits.max())
    return probs / probs.sum()


def sample(run_or_model, prime: str = "The ", length: int = 400, *, temperature: float = 1.0,
           top_k: int | None = None, seed: int = 0, vocab: Vocabulary | None = None) -> str:
    """Generate ``length`` characters after ``prime`` from a run directory (or a model with ``vocab``).

    The prime is read in one call; then each character is one call of the compiled one-step function, the state
    carried, never re-running the whole text.
    """
    if isinstance(run_or_model, (str, os.PathLike)):
        model, vocab, _ = load_char_run(str(run_or_model))
    else:
        model = run_or_model
        if vocab is None:
            raise ValueError("sample(model, ...) needs vocab=Vocabulary(...) (a run directory carries its own).")
    if not prime:
        raise ValueError("Invalid prime: expected at least one character to start from. Received: prime=''")
    if not isinstance(length, int) or length < 0:
        raise ValueError(f"Invalid length: expected an integer >= 0. Received: length={length!r}")
    next_char_distribution(np.zeros(len(vocab)), temperature=temperature, top_k=top_k)  # check the options first
    ids = vocab.encode(prime)
    rng = np.random.default_rng(seed)
    step = _predict_step(model)
    logits, *states = step(ids[None, :], zero_states(model, 1))
    generated = []
    for _ in range(length):
        probs = next_char_distribution(keras.ops.convert_to_numpy(logits)[0, -1], temperature=temperature,
                                       top_k=top_k)
        next_id = int(rng.choice(len(probs), p=probs))
        generated.append(next_id)
        logits, *states = step(np.array([[next_id]], dtype="int32"), states)
    return prime + vocab.decode(generated)

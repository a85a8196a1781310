"""The "charrnn" and "captioning" training tasks: how ``kerazoo train`` (the one training service) trains char-RNNs
and captioners, selected by the config's ``task`` field, their own settings in ``task_options``.

    task: charrnn            # or captioning
    data: {dataset: fortunes, batch_size: 32}     # the corpus (charrnn) or the caption data, the batch
    epochs: 10
    steps_per_epoch: 200     # required: both read their training data as a stream without end
    task_options: {cell: lstm, seq_len: 64, units: 128}

The service writes the run (config.yaml, dataset.json, metrics.jsonl, checkpoints, backup/, tb/, summary.json) and
resumes it; these tasks give it the data, the model and the figures. What differs from classification:

- both: ``task_options`` are the fields of :class:`~kerazoo.sequence.charrnn.CharRNNConfig` /
  :class:`~kerazoo.sequence.captioning.CaptionConfig` that the service's sections do not already hold (the batch,
  the seed, epochs and steps, the dataset); the config's default ``sgd`` optimizer becomes the task's Adam with global
  gradient-norm clipping (``learning_rate``, ``clipnorm``); an explicitly chosen one is used as configured.
- ``dataset.json``: the vocabulary as ``class_names`` (characters or words in id order): what sampling and
  captioning read back, so the task writes no file of its own.
- charrnn: ``fit`` runs a :class:`StatefulCharTrainer`, which carries the recurrent state from one batch to the next
  in non-trainable variables (truncated BPTT); they are in the backup, so a resumed run goes on with the state, and
  the service skips the batches of the backed-up epochs (``steps_per_epoch``): it equals an uninterrupted run.
  Checkpoints keep the language model itself. Validation bits per character is ``val_bpc`` in metrics.jsonl.
- captioning: the model is :func:`~kerazoo.sequence.captioning.caption_model`; the figures BLEU-1..4 and object
  recall on the held-out test data.
"""

from __future__ import annotations

import dataclasses
import difflib
import math

import keras
import numpy as np

from kerazoo import datasets
from kerazoo.training.tasks import Task, register_task

__all__ = ["CharRNNTask", "CaptioningTask", "StatefulCharTrainer", "char_options", "caption_options"]

# Fields of the tasks' own configs that the service's sections hold (the config path to set instead).
CHAR_SERVICE_FIELDS = {"corpus": "data.dataset", "batch_size": "data.batch_size", "steps": "epochs x steps_per_epoch",
                       "eval_every": "steps_per_epoch", "seed": "seed"}
CAPTION_SERVICE_FIELDS = {"dataset": "data.dataset", "data_dir": "data.data_dir", "epochs": "epochs",
                          "batch_size": "data.batch_size", "steps_per_epoch": "steps_per_epoch", "seed": "seed"}


def _options(cls, config, service_fields: dict, task: str) -> dict:
    """``config.task_options`` checked against ``cls``'s fields: unknown names (with close matches) and the fields the
    service's sections hold are one-line errors."""
    names = [f.name for f in dataclasses.fields(cls) if f.name not in service_fields]
    for key in config.task_options:
        if key in service_fields:
            raise ValueError(f"Config field 'task_options.{key}' is set by {service_fields[key]} for the {task} task; "
                             "move it there.")
        if key not in names:
            close = difflib.get_close_matches(key, names, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"Unknown config field 'task_options.{key}' for the {task} task.{hint} Known: "
                             f"{', '.join(names)}.")
    return dict(config.task_options)


def _steps_per_epoch(config, task: str) -> int:
    if not config.steps_per_epoch:
        raise ValueError(f"Config field 'steps_per_epoch' must be set for the {task} task: it reads its training data "
                         "as a stream without end, so an epoch is that many batches; got None.")
    return config.steps_per_epoch


def char_options(config):
    """The :class:`CharRNNConfig` of a service config (``task: charrnn``)."""
    from kerazoo.sequence.charrnn import CharRNNConfig

    options = _options(CharRNNConfig, config, CHAR_SERVICE_FIELDS, "charrnn")
    steps = _steps_per_epoch(config, "charrnn")
    return CharRNNConfig(corpus=config.data.dataset, batch_size=config.data.batch_size, steps=config.epochs * steps,
                         eval_every=steps, seed=config.seed, **options).check()


def caption_options(config):
    """The :class:`CaptionConfig` of a service config (``task: captioning``)."""
    from kerazoo.sequence.captioning import CaptionConfig, check_caption_config

    options = _options(CaptionConfig, config, CAPTION_SERVICE_FIELDS, "captioning")
    return check_caption_config(CaptionConfig(
        dataset=config.data.dataset, data_dir=config.data.data_dir, epochs=config.epochs,
        batch_size=config.data.batch_size, steps_per_epoch=_steps_per_epoch(config, "captioning"), seed=config.seed,
        **options))


def _adam(config, learning_rate, clipnorm, optimizer):
    """The task's Adam with global-norm clipping in place of the config's default sgd (meant for classifiers)."""
    if config.optimizer.name != "sgd":
        return optimizer
    return keras.optimizers.Adam(learning_rate, global_clipnorm=clipnorm)


@keras.saving.register_keras_serializable(package="kerazoo")
class StatefulCharTrainer(keras.Model):
    """What ``fit`` runs for a char-RNN: carries the recurrent state from one batch to the next.

    Batches are ``((chars (B, T), reset ()), next chars (B, T))``; row i of a batch continues row i of the one before
    (:func:`~kerazoo.sequence.charrnn.stateful_windows`), so the state the network returns is the right initial state
    for the next batch, and gradients stop at the batch boundary (truncated BPTT). ``reset`` (true at the start of
    the text) starts from zeros. Training and validation keep their own state variables (validation starts each pass
    from zeros); both are model variables, so the service's backup holds them and a resumed run goes on with them.
    Reports ``loss`` (nats/char) and ``bpc`` (bits/char).
    """

    def __init__(self, network: keras.Model, *, batch_size: int, val_batch_size: int, **kwargs):
        super().__init__(name=kwargs.pop("name", "stateful_char_trainer"), **kwargs)
        self.network = network
        sizes = [int(t.shape[-1]) for t in network.inputs[1:]]
        self.train_states = [self.add_weight(shape=(batch_size, n), initializer="zeros", trainable=False,
                                             name=f"train_state{i}") for i, n in enumerate(sizes)]
        self.val_states = [self.add_weight(shape=(val_batch_size, n), initializer="zeros", trainable=False,
                                           name=f"val_state{i}") for i, n in enumerate(sizes)]
        self.xent = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.bpc_tracker = keras.metrics.Mean(name="bpc")
        self.built = True  # its network is built, its states made: the backup can save it before any step

    @property
    def metrics(self):
        return [self.loss_tracker, self.bpc_tracker]

    def _step(self, data, states, training):
        (chars, reset), targets = data
        initial = [keras.ops.where(reset, keras.ops.zeros_like(s), s) for s in states]
        logits, *new_states = self.network([chars, *initial], training=training)
        return self.xent(targets, logits), new_states

    def _report(self, loss, states, new_states):
        for variable, value in zip(states, new_states):
            variable.assign(keras.ops.cast(value, variable.dtype))  # float16 states under mixed precision
        self.loss_tracker.update_state(loss)
        self.bpc_tracker.update_state(loss / math.log(2.0))
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss, new_states = self._step(data, self.train_states, True)
        weights = self.network.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        return self._report(loss, self.train_states, new_states)

    def test_step(self, data):
        loss, new_states = self._step(data, self.val_states, False)
        return self._report(loss, self.val_states, new_states)

    def call(self, inputs, training=False):
        return self.network(inputs, training=training)


class CharRNNTask(Task):
    name = "charrnn"
    predicts_classes = False
    monitor = "val_loss"
    mode = "min"

    def __init__(self):
        # repr(options) -> (vocab, train, val): dataset_info, pipelines, trainer and evaluate share one corpus read
        self._texts = {}

    def _text(self, config):
        from kerazoo.sequence.charrnn import Vocabulary, _split_text
        from kerazoo.sequence.corpus import load_text

        options = char_options(config)
        key = repr(options)
        if key not in self._texts:
            text = load_text(options.corpus, max_chars=options.max_chars)
            train, val = _split_text(text, options.val_fraction)
            self._texts = {key: (Vocabulary.from_text(text), train, val)}  # keep one config's corpus
        return (options, *self._texts[key])

    def dataset_info(self, config) -> datasets.DatasetInfo:
        options, vocab, train, val = self._text(config)
        return datasets.DatasetInfo(name=options.corpus, image_shape=(options.seq_len,), num_classes=len(vocab),
                                    class_names=tuple(vocab.chars), mean=(), std=(), source="corpus",
                                    splits={"train": len(train), "val": len(val)})

    def pipelines(self, config, replicas: int):
        import tensorflow as tf

        from kerazoo.sequence.charrnn import stateful_windows, validation_windows

        if replicas != 1:  # the carried state is one batch of streams, not split over replicas
            raise ValueError(f"The charrnn task trains on one replica (its state carries whole batches); the strategy "
                             f"has {replicas}. Set strategy: default.")
        options, vocab, train, val = self._text(config)
        xs, ys = stateful_windows(vocab.encode(train), options.batch_size, options.seq_len)
        resets = np.arange(len(xs)) == 0  # the start of the streams: the carried state no longer fits
        train_ds = tf.data.Dataset.from_tensor_slices(((xs, resets), ys)).repeat()
        vx, vy = validation_windows(vocab.encode(val), options)
        val_ds = tf.data.Dataset.from_tensor_slices(((vx, np.arange(len(vx)) == 0), vy))
        return train_ds, val_ds

    def build(self, config, info: datasets.DatasetInfo) -> keras.Model:
        from kerazoo.sequence.charrnn import char_language_model

        options = char_options(config)
        return char_language_model(info.num_classes, cell=options.cell, units=options.units,
                                   num_layers=options.num_layers, embedding_dim=options.embedding_dim)

    def trainer(self, model: keras.Model, config) -> keras.Model:
        from kerazoo.sequence.charrnn import validation_batch_size

        options, _, _, val = self._text(config)
        return StatefulCharTrainer(model, batch_size=options.batch_size,
                                   val_batch_size=validation_batch_size(len(val), options.seq_len))

    def compile(self, trainer: keras.Model, config, optimizer) -> None:
        options = char_options(config)
        trainer.compile(optimizer=_adam(config, options.learning_rate, options.clipnorm, optimizer),
                        jit_compile=config.jit_compile, steps_per_execution=config.steps_per_execution)

    def callbacks(self, model: keras.Model, config, run_dir: str) -> list:
        return []

    def evaluate(self, model: keras.Model, config, *, split: str | None = None, limit: int | None = None) -> dict:
        """Validation bits per character of ``model``, measured as training measured it (the held-out text)."""
        from kerazoo.sequence.charrnn import _validation_bpc

        if split not in (None, "val"):
            raise ValueError(f"Invalid split={split!r}: a char-RNN run holds out one text, 'val'.")
        options, vocab, train, val = self._text(config)
        return {"split": "val", "cell": options.cell, "params": int(model.count_params()), "vocab_size": len(vocab),
                "train_chars": len(train), "val_chars": len(val),
                "val_bpc": _validation_bpc(model, vocab.encode(val), options)}


class CaptioningTask(Task):
    name = "captioning"
    predicts_classes = False
    monitor = "val_loss"
    mode = "min"

    def __init__(self):
        self._data = {}  # (options, split) -> CaptionData: dataset_info, pipelines and evaluate share one draw

    def data(self, options, split: str):
        from kerazoo.sequence.captioning import _load_data

        count, offset = {"train": (options.train_count, 0), "val": (options.val_count, 1),
                         "test": (options.test_count, 2)}[split]
        key = (repr(options), split)
        if key not in self._data:
            self._data = {k: v for k, v in self._data.items() if k[0] == key[0]}  # keep one config's data
            self._data[key] = _load_data(options, split, count, offset)
        return self._data[key]

    def vocabulary(self, options):
        from kerazoo.sequence.caption_data import CaptionVocabulary

        captions = [c for refs in self.data(options, "train").captions for c in refs]
        return CaptionVocabulary.from_captions(captions, max_words=options.vocab_size)

    def dataset_info(self, config) -> datasets.DatasetInfo:
        options = caption_options(config)
        train = self.data(options, "train")
        vocab = self.vocabulary(options)
        return datasets.DatasetInfo(name=options.dataset, image_shape=tuple(int(d) for d in train.images.shape[1:]),
                                    num_classes=len(vocab), class_names=tuple(vocab.words), mean=(), std=(),
                                    source=options.dataset, splits={"train": options.train_count,
                                                                    "val": options.val_count,
                                                                    "test": options.test_count})

    def pipelines(self, config, replicas: int):
        import tensorflow as tf

        from kerazoo.sequence.captioning import _arrays

        options = caption_options(config)
        if options.batch_size % replicas:
            raise ValueError(f"Config field 'data.batch_size' ({options.batch_size}) must be divisible by the "
                             f"{replicas} replicas.")
        vocab, truncate = self.vocabulary(options), options.dataset == "coco_captions"
        x, y = _arrays(self.data(options, "train"), vocab, options.max_length, truncate)
        # Shuffled anew on every pass, without end: an epoch is steps_per_epoch batches, wherever the pass is.
        train = (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y), seed=options.seed)
                 .repeat().batch(options.batch_size, drop_remainder=True))
        val = tf.data.Dataset.from_tensor_slices(_arrays(self.data(options, "val"), vocab, options.max_length,
                                                         truncate)).batch(options.batch_size)
        return train, val

    def build(self, config, info: datasets.DatasetInfo) -> keras.Model:
        from kerazoo.sequence.captioning import build_captioner

        return build_captioner(caption_options(config), info.num_classes, tuple(info.image_shape))

    def compile(self, trainer: keras.Model, config, optimizer) -> None:
        from kerazoo.sequence.captioning import caption_loss

        options = caption_options(config)
        learning_rate = options.learning_rate
        if options.lr_schedule == "cosine":
            learning_rate = keras.optimizers.schedules.CosineDecay(options.learning_rate,
                                                                   options.epochs * options.steps_per_epoch)
        trainer.compile(optimizer=_adam(config, learning_rate, options.clipnorm, optimizer), loss=caption_loss(),
                        run_eagerly=options.run_eagerly, jit_compile=config.jit_compile and not options.run_eagerly,
                        steps_per_execution=config.steps_per_execution)

    def callbacks(self, model: keras.Model, config, run_dir: str) -> list:
        return []

    def evaluate(self, model: keras.Model, config, *, split: str | None = None, limit: int | None = None,
                 beam_width: int = 1) -> dict:
        """BLEU-1..4 and object recall on the held-out test data (the figures of summary.json)."""
        from kerazoo.sequence.captioning import evaluate_captions

        if split not in (None, "test", "val"):
            raise ValueError(f"Invalid split={split!r}: a captioning run holds out 'val' and 'test'.")
        options = caption_options(config)
        data = self.data(options, split or "test")
        if limit is not None:
            data = dataclasses.replace(data, images=data.images[:limit], captions=data.captions[:limit],
                                       classes=None if data.classes is None else data.classes[:limit])
        vocab = self.vocabulary(options)
        return {"params": int(model.count_params()), "vocab_size": len(vocab),
                **evaluate_captions(model, vocab, data, beam_width=beam_width)}


register_task(CharRNNTask())
register_task(CaptioningTask())

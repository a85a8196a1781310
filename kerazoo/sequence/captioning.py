"""Image captioning: a zoo backbone reads the image, a decoder writes the caption while looking at it.

Xu et al., "Show, Attend and Tell: Neural Image Caption Generation with Visual Attention" (ICML 2015): an LSTM
decoder that, at every word, takes a soft-attention average of the CNN's spatial feature vectors (weights over the
positions sum to 1; Bahdanau et al.'s additive score). Without attention it sees the mean feature vector at every
step instead (the "Show and Tell" baseline). A transformer decoder (Vaswani et al., 2017: causal self-attention,
cross-attention over the feature positions) is the other option.

    from kerazoo.sequence import captioning
    run = captioning.train_captioner("runs/cap", backbone="resnet20", attention=True, epochs=10)
    caption, words, maps = captioning.caption_image(run, "image.png", beam_width=3, out="attention.png")

Training uses teacher forcing (the decoder reads the true previous word); ``<pad>`` targets are ignored by the loss.
Decoding is greedy or beam search (beam width 1 is greedy).
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

from kerazoo.applications.vit import PositionEmbedding
from kerazoo.io import read_image, save_figure
from kerazoo.sequence.caption_data import (SCENE_WORDS, CaptionData, CaptionVocabulary, coco_caption_data,
                                           scene_caption_data)

__all__ = [
    "SoftAttention", "AttentionLSTMDecoder", "TransformerCaptionDecoder", "caption_model", "caption_loss",
    "encode_images", "greedy_decode", "beam_search", "CaptionConfig", "check_caption_config", "build_captioner",
    "caption_train_config", "train_captioner", "load_caption_run",
    "evaluate_caption_run", "evaluate_captions", "objects_named", "naming_figures", "draw_attention", "caption_image",
    "caption_images",
]

DECODERS = ("lstm", "transformer")
LR_SCHEDULES = ("constant", "cosine")


@keras.saving.register_keras_serializable(package="kerazoo")
class SoftAttention(keras.layers.Layer):
    """Additive soft attention: ``e_i = v . tanh(W_f f_i + W_h h)``, ``alpha = softmax(e)``, ``z = sum alpha_i f_i``.

    Call with ``(features (B, L, D), hidden (B, H))``; returns ``(context (B, D), alpha (B, L))``.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.feature_proj = keras.layers.Dense(units, name="feature_proj")
        self.hidden_proj = keras.layers.Dense(units, use_bias=False, name="hidden_proj")
        self.score = keras.layers.Dense(1, use_bias=False, name="score")

    def build(self, features_shape, hidden_shape):
        self.feature_proj.build(features_shape)
        self.hidden_proj.build(hidden_shape)
        self.score.build((*features_shape[:-1], self.units))

    def call(self, features, hidden):
        energy = keras.ops.tanh(self.feature_proj(features) + keras.ops.expand_dims(self.hidden_proj(hidden), 1))
        alpha = keras.ops.softmax(keras.ops.squeeze(self.score(energy), -1), axis=-1)
        context = keras.ops.sum(features * keras.ops.expand_dims(alpha, -1), axis=1)
        return context, alpha

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="kerazoo")
class AttentionLSTMDecoder(keras.layers.Layer):
    """Show-Attend-Tell's decoder: LSTM over [word embedding, context]; logits from [h, context, embedding].

    ``call([features, tokens])`` runs teacher forcing over the (static) length of ``tokens``; ``step`` is one word,
    for greedy and beam search. With ``attention=False`` the context is the mean feature vector (uniform weights).
    """

    def __init__(self, vocab_size: int, *, units: int = 256, embed_dim: int = 64, attention: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.units, self.embed_dim, self.attention = vocab_size, units, embed_dim, attention
        self.embedding = keras.layers.Embedding(vocab_size, embed_dim, name="embedding")
        self.init_h = keras.layers.Dense(units, activation="tanh", name="init_h")
        self.init_c = keras.layers.Dense(units, activation="tanh", name="init_c")
        self.cell = keras.layers.LSTMCell(units, name="lstm")
        self.soft_attention = SoftAttention(units, name="attention") if attention else None
        self.output_proj = keras.layers.Dense(vocab_size, name="word_logits")

    def build(self, features_shape, tokens_shape=None):
        dim = features_shape[-1]
        self.embedding.build((None,))
        self.init_h.build((None, dim))
        self.init_c.build((None, dim))
        self.cell.build((None, self.embed_dim + dim))
        if self.soft_attention is not None:
            self.soft_attention.build(features_shape, (None, self.units))
        self.output_proj.build((None, self.units + dim + self.embed_dim))

    def initial_state(self, features):
        mean = keras.ops.mean(features, axis=1)
        return [self.init_h(mean), self.init_c(mean)]

    def step(self, features, tokens, state):
        """Next-word logits (B, V), the new state and the attention weights (B, L), from the last token of
        ``tokens`` (B, t)."""
        embedded = self.embedding(tokens[:, -1])
        if self.soft_attention is not None:
            context, alpha = self.soft_attention(features, state[0])
        else:
            context = keras.ops.mean(features, axis=1)
            positions = keras.ops.shape(features)[1]
            alpha = keras.ops.ones_like(features[..., 0]) / keras.ops.cast(positions, features.dtype)
        h, state = self.cell(keras.ops.concatenate([embedded, context], axis=-1), state)
        logits = self.output_proj(keras.ops.concatenate([h, context, embedded], axis=-1))
        return logits, list(state), alpha

    def attention_maps(self, features, tokens):
        """Teacher-forced logits (B, T, V) and attention weights (B, T, L)."""
        state, all_logits, alphas = self.initial_state(features), [], []
        for t in range(tokens.shape[1]):
            logits, state, alpha = self.step(features, tokens[:, : t + 1], state)
            all_logits.append(logits)
            alphas.append(alpha)
        return keras.ops.stack(all_logits, axis=1), keras.ops.stack(alphas, axis=1)

    def call(self, features, tokens):
        return self.attention_maps(features, tokens)[0]

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "units": self.units,
                "embed_dim": self.embed_dim, "attention": self.attention}


@keras.saving.register_keras_serializable(package="kerazoo")
class TransformerCaptionDecoder(keras.layers.Layer):
    """A pre-norm transformer decoder: word + position embeddings, then per block causal self-attention,
    cross-attention over the image positions and an MLP; the last block's cross-attention (mean over heads) gives
    the attention maps. Position embeddings cover ``max_length`` tokens: a longer sequence is an error."""

    def __init__(self, vocab_size: int, *, max_length: int, dim: int = 128, num_heads: int = 4, depth: int = 2,
                 **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.max_length, self.dim, self.num_heads, self.depth = (
            vocab_size, max_length, dim, num_heads, depth)
        self.embedding = keras.layers.Embedding(vocab_size, dim, name="embedding")
        self.positions = PositionEmbedding(name="positions")
        self.blocks = [
            {
                "ln1": keras.layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_ln1"),
                "self_attention": keras.layers.MultiHeadAttention(num_heads, dim // num_heads,
                                                                  name=f"block{i}_self_attention"),
                "ln2": keras.layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_ln2"),
                "cross_attention": keras.layers.MultiHeadAttention(num_heads, dim // num_heads,
                                                                   name=f"block{i}_cross_attention"),
                "ln3": keras.layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_ln3"),
                "mlp1": keras.layers.Dense(2 * dim, activation="gelu", name=f"block{i}_mlp1"),
                "mlp2": keras.layers.Dense(dim, name=f"block{i}_mlp2"),
            }
            for i in range(1, depth + 1)
        ]
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")
        self.output_proj = keras.layers.Dense(vocab_size, name="word_logits")

    def build(self, features_shape, tokens_shape=None):
        self.embedding.build((None,))
        self.positions.build((None, self.max_length, self.dim))
        sequence = (None, self.max_length, self.dim)
        for block in self.blocks:
            block["ln1"].build(sequence)
            block["self_attention"].build(sequence, sequence)
            block["ln2"].build(sequence)
            block["cross_attention"].build(sequence, features_shape)
            block["ln3"].build(sequence)
            block["mlp1"].build(sequence)
            block["mlp2"].build((None, self.max_length, 2 * self.dim))
        self.final_norm.build(sequence)
        self.output_proj.build(sequence)

    def attention_maps(self, features, tokens):
        """Logits (B, T, V) and the last block's cross-attention weights (B, T, L), averaged over heads."""
        if tokens.shape[1] is not None and tokens.shape[1] > self.max_length:
            raise ValueError(
                f"Sequence too long for the transformer decoder: it has position embeddings for max_length="
                f"{self.max_length} tokens. Received {tokens.shape[1]} tokens."
            )
        x = self.positions(self.embedding(tokens))
        scores = None
        for block in self.blocks:
            y = block["ln1"](x)
            x = x + block["self_attention"](y, y, use_causal_mask=True)
            y, scores = block["cross_attention"](block["ln2"](x), features, return_attention_scores=True)
            x = x + y
            x = x + block["mlp2"](block["mlp1"](block["ln3"](x)))
        logits = self.output_proj(self.final_norm(x))
        return logits, keras.ops.mean(scores, axis=1)

    def call(self, features, tokens):
        return self.attention_maps(features, tokens)[0]

    def initial_state(self, features):
        return []  # it re-reads the whole prefix at every step

    def step(self, features, tokens, state):
        logits, alphas = self.attention_maps(features, tokens)
        return logits[:, -1], state, alphas[:, -1]

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "max_length": self.max_length,
                "dim": self.dim, "num_heads": self.num_heads, "depth": self.depth}


def caption_model(vocab_size: int, *, backbone: str = "resnet20", image_shape=(64, 64, 1), decoder: str = "lstm",
                  attention: bool = True, max_length: int = 12, units: int = 256, embed_dim: int = 64,
                  feature_dim: int = 128, backbone_kwargs: dict | None = None,
                  pixel_scaling: tuple = (1.0 / 255.0, 0.0), backbone_weights: str | None = None) -> keras.Model:
    """Raw pixels (0-255) and decoder input tokens (B, max_length) → next-word logits (B, max_length, V).

    The encoder is the zoo backbone ``backbone`` (its deepest feature tap, nested as layer ``backbone`` like in the
    dense heads, so :func:`kerazoo.vision.backbone.load_backbone_weights` can fill it from a classifier), flattened to
    L = h x w positions and projected to ``feature_dim`` (layer ``feature_project``, the decoder's memory).
    ``pixel_scaling`` = (scale, offset) of the first layer, ``pixel * scale + offset``, per channel or one for all.
    ``backbone_weights`` (``"imagenet"``, a tag or a weights file, docs/pretrained.md): the backbone is built with
    pretrained weights and takes the raw pixels into its own preprocessing, in place of the ``normalize`` layer (grey
    images repeated to three channels, layer ``to_rgb``), as the dense heads' ``model.backbone_weights``.
    """
    from kerazoo.vision.backbone import backbone_features

    if decoder not in DECODERS:
        raise ValueError(f"Invalid decoder: expected one of {', '.join(DECODERS)}. Received: decoder={decoder!r}")
    if not isinstance(max_length, int) or max_length < 2:
        raise ValueError(f"Invalid max_length: expected an integer >= 2. Received: max_length={max_length!r}")
    images = keras.Input(shape=tuple(image_shape), name="images")
    tokens = keras.Input(shape=(max_length,), dtype="int32", name="tokens")
    if backbone_weights:  # pretrained: raw pixels in, the source's preprocessing inside the backbone
        x = keras.layers.Concatenate(name="to_rgb")([images] * 3) if images.shape[-1] == 1 else images
        backbone_kwargs = {**(backbone_kwargs or {}), "weights": backbone_weights}
    else:
        scale, offset = pixel_scaling
        x = keras.layers.Rescaling(scale, offset=offset, name="normalize")(images)
    feature_map = backbone_features(x, backbone, levels=1, backbone_kwargs=backbone_kwargs)[0][0]
    _, height, width, channels = feature_map.shape
    x = keras.layers.Reshape((height * width, channels), name="feature_positions")(feature_map)
    features = keras.layers.Dense(feature_dim, activation="relu", name="feature_project")(x)
    if decoder == "lstm":
        head = AttentionLSTMDecoder(vocab_size, units=units, embed_dim=embed_dim, attention=attention, name="decoder")
    else:
        head = TransformerCaptionDecoder(vocab_size, max_length=max_length, dim=feature_dim, name="decoder")
    logits = head(features, tokens)
    return keras.Model([images, tokens], logits, name=f"caption_{backbone}_{decoder}")


def caption_loss() -> keras.losses.Loss:
    """Cross-entropy of the next word, ``<pad>`` (id 0) targets ignored: the mean is over real words only."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)


_ENCODERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def encode_images(model: keras.Model, images, *, batch_size: int = 64):
    """The decoder's memory (B, L, feature_dim) for raw-pixel images, and the feature grid (h, w)."""
    encoder = _ENCODERS.get(model)
    if encoder is None:
        encoder = keras.Model(model.inputs[0], model.get_layer("feature_project").output, name="caption_encoder")
        _ENCODERS[model] = encoder
    images = np.asarray(images, dtype="float32")
    chunks = [keras.ops.convert_to_numpy(encoder(images[i: i + batch_size], training=False))
              for i in range(0, len(images), batch_size)]
    return np.concatenate(chunks), tuple(model.get_layer("feature_positions").input.shape[1:3])


def _max_length(model) -> int:
    return int(model.inputs[1].shape[1])


def _check_length(model, max_length):
    limit = _max_length(model)
    max_length = limit if max_length is None else max_length
    if not isinstance(max_length, int) or not 1 <= max_length <= limit:
        raise ValueError(
            f"Invalid max_length: expected an integer in [1, {limit}] (the model was built for {limit} decoder "
            f"steps). Received: max_length={max_length!r}"
        )
    return max_length


def greedy_decode(model: keras.Model, images, *, max_length: int | None = None):
    """The likeliest word at every step, for a batch: returns (token ids (B, T) after <start>, alphas (B, T, L))."""
    max_length = _check_length(model, max_length)
    decoder = model.get_layer("decoder")
    features, _ = encode_images(model, images)
    features = keras.ops.convert_to_tensor(features)
    tokens = np.ones((features.shape[0], 1), dtype="int32")  # <start>
    state, alphas = decoder.initial_state(features), []
    for _ in range(max_length):
        logits, state, alpha = decoder.step(features, keras.ops.convert_to_tensor(tokens), state)
        next_ids = np.argmax(keras.ops.convert_to_numpy(logits), axis=-1).astype("int32")
        tokens = np.concatenate([tokens, next_ids[:, None]], axis=1)
        alphas.append(keras.ops.convert_to_numpy(alpha))
    return tokens[:, 1:], np.stack(alphas, axis=1)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def beam_search(model: keras.Model, image, *, beam_width: int = 3, max_length: int | None = None):
    """The caption of highest total log-probability among ``beam_width`` hypotheses kept per step (no length
    normalization, so beam width 1 is exactly greedy decoding).

    Returns (token ids of the best caption, ending with <end> when it ended; its attention weights (T, L)).
    """
    if not isinstance(beam_width, int) or beam_width < 1:
        raise ValueError(f"Invalid beam_width: expected an integer >= 1. Received: beam_width={beam_width!r}")
    max_length = _check_length(model, max_length)
    decoder = model.get_layer("decoder")
    features, _ = encode_images(model, np.asarray(image)[None])
    tokens = np.ones((1, 1), dtype="int32")
    scores, alphas = np.zeros(1), np.zeros((1, 0, features.shape[1]))
    state = decoder.initial_state(keras.ops.convert_to_tensor(features))
    finished = []  # (score, tokens, alphas)
    for _ in range(max_length):
        memory = keras.ops.convert_to_tensor(np.repeat(features, len(tokens), axis=0))
        logits, state, alpha = decoder.step(memory, keras.ops.convert_to_tensor(tokens), state)
        candidates = scores[:, None] + _log_softmax(keras.ops.convert_to_numpy(logits).astype("float64"))
        best = np.argsort(-candidates, axis=None, kind="stable")[:beam_width]
        origin, word = np.unravel_index(best, candidates.shape)
        tokens = np.concatenate([tokens[origin], word[:, None].astype("int32")], axis=1)
        alphas = np.concatenate([alphas[origin], keras.ops.convert_to_numpy(alpha)[origin][:, None]], axis=1)
        scores = candidates[origin, word]
        state = [keras.ops.take(s, origin, axis=0) for s in state]
        ended = word == 2
        finished += [(scores[k], tokens[k], alphas[k]) for k in np.flatnonzero(ended)]
        alive = np.flatnonzero(~ended)
        if len(finished) >= beam_width or len(alive) == 0:
            break
        tokens, alphas, scores = tokens[alive], alphas[alive], scores[alive]
        state = [keras.ops.take(s, alive, axis=0) for s in state]
    if len(finished) < beam_width:  # hypotheses that ran out of steps compete too
        finished += [(scores[k], tokens[k], alphas[k]) for k in range(len(tokens)) if tokens[k][-1] != 2]
    _, best_tokens, best_alphas = max(finished, key=lambda item: item[0])
    return best_tokens[1:], best_alphas


@dataclass
class CaptionConfig:
    """A captioning run's settings: the training service's config holds the dataset, data_dir, epochs, batch_size,
    steps_per_epoch and seed; the other fields are its ``task_options`` (kerazoo.sequence.tasks)."""

    dataset: str = "fashion_mnist_scenes"  # or "coco_captions" (tfds, must be prepared locally)
    backbone: str = "resnet20"
    decoder: str = "lstm"
    attention: bool = True
    train_count: int = 3000
    val_count: int = 300
    test_count: int = 300
    canvas: int = 64
    max_objects: int = 3
    max_length: int = 12
    vocab_size: int = 5000  # most frequent words kept (COCO)
    units: int = 256
    embed_dim: int = 64
    feature_dim: int = 128
    epochs: int = 10
    batch_size: int = 32
    steps_per_epoch: int | None = None  # batches per epoch; fewer than train_count has: each epoch sees new examples
    backbone_from: str | None = None  # a classification run of the same backbone: its weights start the encoder
    backbone_weights: str | None = None  # or pretrained weights ("imagenet", a tag or a file): docs/pretrained.md
    freeze_encoder: bool = False  # with either: keep the encoder's weights fixed and train the decoder only
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"  # or "cosine": decays to 0 over the run's steps
    clipnorm: float = 5.0
    seed: int = 0
    data_dir: str | None = None
    run_eagerly: bool = False  # skip graph compilation: faster for a few tiny steps (tests), slower for real runs


def _load_data(config: CaptionConfig, split: str, count: int, seed_offset: int) -> CaptionData:
    if config.dataset == "fashion_mnist_scenes":
        base = "test" if split == "test" else "train"
        return scene_caption_data(base, count, canvas=config.canvas, max_objects=config.max_objects,
                                  seed=config.seed + seed_offset, data_dir=config.data_dir)
    if config.dataset == "coco_captions":
        tfds_split = {"train": "train", "val": "val", "test": "test"}[split]
        return coco_caption_data(tfds_split, image_size=config.canvas, limit=count, data_dir=config.data_dir)
    raise ValueError(
        f"Invalid dataset: expected 'fashion_mnist_scenes' or 'coco_captions'. Received: dataset={config.dataset!r}"
    )


def _arrays(data: CaptionData, vocab: CaptionVocabulary, max_length: int, truncate: bool):
    encoded = np.stack([vocab.encode(c, max_length, truncate=truncate) for c in data.first_captions()])
    # uint8 pixels: the model casts each batch; float32 would take 4x the memory (pools of new scenes are big)
    return {"images": data.images, "tokens": encoded[:, :-1]}, encoded[:, 1:]


def check_caption_config(config: CaptionConfig) -> CaptionConfig:
    """``config`` if its options fit together, else a one-line ValueError naming the bad one."""
    if config.lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"Invalid lr_schedule: expected one of {', '.join(LR_SCHEDULES)}. "
                         f"Received: lr_schedule={config.lr_schedule!r}")
    if config.steps_per_epoch is not None and (not isinstance(config.steps_per_epoch, int)
                                               or config.steps_per_epoch < 1):
        raise ValueError(f"Invalid steps_per_epoch: expected a positive integer or None. "
                         f"Received: steps_per_epoch={config.steps_per_epoch!r}")
    if config.backbone_from and config.backbone_weights:
        raise ValueError(f"Invalid backbone_weights={config.backbone_weights!r} with backbone_from: they exclude each "
                         "other (both start the encoder).")
    if config.freeze_encoder and not (config.backbone_from or config.backbone_weights):
        raise ValueError("Invalid freeze_encoder=True without backbone_from or backbone_weights: a frozen encoder that "
                         "starts from random weights never learns; give a classification run or pretrained weights.")
    return config


def _pixel_scaling(classifier: keras.Model | None, channels: int) -> tuple:
    """(scale, offset) of the first layer: 0-1 pixels from scratch, else the transferred classifier's own."""
    if classifier is None:
        return 1.0 / 255.0, 0.0
    from kerazoo.vision.backbone import classifier_pixel_scaling

    return classifier_pixel_scaling(classifier, channels)


def build_captioner(config: CaptionConfig, vocab_size: int, image_shape: tuple) -> keras.Model:
    """The captioner of ``config``; with ``backbone_from`` (a classification run of the same backbone) its encoder
    starts from that classifier's weights and pixel scaling, with ``backbone_weights`` from pretrained weights (raw
    pixels into their own preprocessing); either is fine-tuned with the decoder, or kept fixed (``freeze_encoder``),
    as Show-Attend-Tell's encoder starts from a trained classifier."""
    from kerazoo.training.run import load_run_model

    classifier = load_run_model(config.backbone_from) if config.backbone_from else None
    model = caption_model(vocab_size, backbone=config.backbone, image_shape=image_shape, decoder=config.decoder,
                          attention=config.attention, max_length=config.max_length, units=config.units,
                          embed_dim=config.embed_dim, feature_dim=config.feature_dim,
                          pixel_scaling=_pixel_scaling(classifier, image_shape[-1]),
                          backbone_weights=config.backbone_weights)
    if classifier is not None or config.backbone_weights:
        from kerazoo.vision.backbone import load_backbone_weights, set_backbone_trainable

        if classifier is not None:
            load_backbone_weights(model, classifier)
        set_backbone_trainable(model, not config.freeze_encoder)
    return model


def caption_train_config(config: CaptionConfig, **service):
    """The training-service config (``task: captioning``) of a :class:`CaptionConfig`; ``steps_per_epoch`` None
    becomes one pass over ``train_count`` (rounded up); ``service`` sets further top-level fields."""
    from kerazoo.sequence.tasks import CAPTION_SERVICE_FIELDS
    from kerazoo.training.config import config_from_dict

    check_caption_config(config)
    options = {k: v for k, v in dataclasses.asdict(config).items() if k not in CAPTION_SERVICE_FIELDS}
    return config_from_dict({
        "task": "captioning", "task_options": options, "model": {"name": f"caption_{config.backbone}"},
        "data": {"dataset": config.dataset, "data_dir": config.data_dir, "batch_size": config.batch_size,
                 "val_split": "", "augment": []},
        "epochs": config.epochs, "seed": config.seed,
        "steps_per_epoch": config.steps_per_epoch or math.ceil(config.train_count / config.batch_size), **service,
    })


def train_captioner(out: str, config: CaptionConfig | None = None, *, overwrite: bool = False, verbose: int = 1,
                    **overrides) -> str:
    """Train a captioner into the run directory ``out`` with the training service (``kerazoo train``, task
    ``captioning``: kerazoo.sequence.tasks); returns it. summary.json holds BLEU-1..4 and object recall on held-out
    test data. The training scenes are read as a stream without end, reshuffled on every pass, ``steps_per_epoch``
    batches an epoch (default one pass). An interrupted run resumes from its last finished epoch when trained again
    into the same directory with the same config; a finished run there is an error unless ``overwrite``."""
    from kerazoo.training.run import train

    config = check_caption_config(dataclasses.replace(config or CaptionConfig(), **overrides))
    return train(caption_train_config(config), out, overwrite=overwrite, verbose=verbose)


def load_caption_run(run_dir: str, which: str = "best"):
    """The model, vocabulary and config of a captioning run directory (a service run, task ``captioning``, or one
    written before: config.yaml of :class:`CaptionConfig` fields and vocab.json)."""
    from kerazoo.training.run import load_run_config, load_run_info, load_run_model

    if not os.path.exists(os.path.join(run_dir, "config.yaml")):
        raise FileNotFoundError(f"{run_dir} is not a run directory: it has no config.yaml.")
    vocab_path = os.path.join(run_dir, "vocab.json")
    if os.path.exists(vocab_path):  # written before the service trained captioners
        with open(vocab_path, encoding="utf-8") as f:
            vocab = CaptionVocabulary(tuple(json.load(f)["words"]))
        with open(os.path.join(run_dir, "config.yaml"), encoding="utf-8") as f:
            config = CaptionConfig(**yaml.safe_load(f))
        return load_run_model(run_dir, which), vocab, config
    with open(os.path.join(run_dir, "config.yaml"), encoding="utf-8") as f:
        kind = (yaml.safe_load(f) or {}).get("task")
    if kind != "captioning":
        raise ValueError(f"{run_dir} is not a captioning run: its config's task is {kind!r}, not 'captioning'.")
    from kerazoo.sequence.tasks import caption_options

    config = caption_options(load_run_config(run_dir))
    vocab = CaptionVocabulary(tuple(load_run_info(run_dir).class_names))
    return load_run_model(run_dir, which), vocab, config


def evaluate_caption_run(run_dir: str, *, beam_width: int = 1, limit: int | None = None,
                         scenes: int | None = None) -> dict:
    """BLEU-1..4 and object recall of a run's best checkpoint on its held-out test data (the same scenes its
    summary.json was scored on), decoded greedily or, with ``beam_width`` > 1, by beam search.

    ``limit``: score only the first ``limit`` examples. ``scenes`` (Fashion-MNIST scenes only): generate this many
    test scenes instead of the run's ``test_count``, from the same test items and seed, so the run's own test scenes
    come first and a larger count gives a tighter figure."""
    for name, value in (("limit", limit), ("scenes", scenes)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"Invalid {name}: expected a positive integer. Received: {name}={value!r}")
    model, vocab, config = load_caption_run(run_dir)
    if scenes is not None and config.dataset != "fashion_mnist_scenes":
        raise ValueError(f"Invalid scenes={scenes}: only Fashion-MNIST scene runs generate their test data. "
                         f"This run's dataset is {config.dataset!r}; use limit to score fewer examples.")
    data = _load_data(config, "test", scenes or config.test_count, 2)
    if limit is not None:
        data = dataclasses.replace(data, images=data.images[:limit], captions=data.captions[:limit],
                                   classes=None if data.classes is None else data.classes[:limit])
    return evaluate_captions(model, vocab, data, beam_width=beam_width)


def objects_named(words: list[str], classes) -> int:
    """How many of a scene's objects (``classes``) the caption ``words`` names: a word counts as often as it
    appears, so "a bag and a bag" names two bags and "a bag" one of them."""
    needed = {}
    for c in classes:
        needed[SCENE_WORDS[c]] = needed.get(SCENE_WORDS[c], 0) + 1
    return sum(min(words.count(word), count) for word, count in needed.items())


def naming_figures(captions: list[list[str]], classes: list) -> dict:
    """How well tokenized ``captions`` name their scenes' objects (``classes``, one list per scene):
    ``object_recall``, the fraction of scenes whose every object is named (as many times as it appears), and the same
    per number of objects (``object_recall_by_count``); ``objects_named``, the fraction of all objects named, and the
    same per class word (``named_by_class``), which shows the words the captioner confuses."""
    named = np.array([objects_named(h, c) for h, c in zip(captions, classes)])
    counts = np.array([len(c) for c in classes])
    by_class = {}
    for index, word in enumerate(SCENE_WORDS):
        needed = np.array([list(c).count(index) for c in classes])
        if needed.sum():
            got = sum(min(h.count(word), k) for h, k in zip(captions, needed))
            by_class[word] = float(got / needed.sum())
    return {"object_recall": float(np.mean(named == counts)),
            "object_recall_by_count": {str(n): float(np.mean(named[counts == n] == n)) for n in sorted(set(counts))},
            "objects_named": float(named.sum() / max(counts.sum(), 1)), "named_by_class": by_class}


def evaluate_captions(model: keras.Model, vocab: CaptionVocabulary, data: CaptionData, *, beam_width: int = 1) -> dict:
    """Corpus BLEU-1..4 (nltk, smoothing method 1) of the decoded captions against the references; with scene data,
    the figures of :func:`naming_figures`."""
    from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu

    from kerazoo.sequence.caption_data import tokenize

    if beam_width == 1:
        hypotheses = [vocab.decode(ids) for ids in greedy_decode(model, data.images)[0]]
    else:
        hypotheses = [vocab.decode(beam_search(model, image, beam_width=beam_width)[0]) for image in data.images]
    references = [[tokenize(c) for c in refs] for refs in data.captions]
    smoothing = SmoothingFunction().method1
    figures = {"examples": len(hypotheses), "beam_width": beam_width}
    for n in range(1, 5):
        weights = tuple([1.0 / n] * n)
        figures[f"bleu{n}"] = float(corpus_bleu(references, hypotheses, weights=weights, smoothing_function=smoothing))
    if data.classes is not None:
        figures.update(naming_figures(hypotheses, data.classes))
    figures["samples"] = [" ".join(h) for h in hypotheses[:5]]
    return figures


def draw_attention(image: np.ndarray, words: list[str], alphas: np.ndarray, grid: tuple, out: str) -> None:
    """The image, then one panel per word with its attention weights (reshaped to the feature grid, stretched to the
    image) laid over it; written as a PNG (to a temporary name, then renamed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    image = np.asarray(image)
    gray = image[..., 0] if image.shape[-1] == 1 else image
    panels = len(words) + 1
    columns = min(panels, 5)
    rows = math.ceil(panels / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.4 * rows), squeeze=False)
    extent = (0, image.shape[1], image.shape[0], 0)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= panels:
            continue
        ax.imshow(gray, cmap="gray" if gray.ndim == 2 else None, extent=extent)
        if k == 0:
            ax.set_title("image")
            continue
        ax.imshow(alphas[k - 1].reshape(grid), cmap="jet", alpha=0.5, extent=extent, interpolation="bilinear")
        ax.set_title(words[k - 1])
    fig.tight_layout()
    save_figure(fig, out, dpi=80)


def caption_image(run_dir: str, image_path: str, *, beam_width: int = 3, out: str | None = None):
    """Caption one image file with a trained run; with ``out``, also draw the attention map of every word.

    Returns (caption, words, alphas (T, L)).
    """
    return caption_images(run_dir, [image_path], beam_width=beam_width, outs=[out])[0]


def caption_images(run_dir: str, image_paths: list, *, beam_width: int = 3, outs: list | None = None) -> list:
    """:func:`caption_image` of every file of ``image_paths`` (the run loaded once); ``outs``: one attention PNG path
    (or None) per image. Returns one (caption, words, alphas) per image."""
    model, vocab, _ = load_caption_run(run_dir)
    results = []
    for image_path, out in zip(image_paths, outs or [None] * len(image_paths)):
        image = read_image(image_path, tuple(model.inputs[0].shape[1:]))
        ids, alphas = beam_search(model, image, beam_width=beam_width)
        words = vocab.decode(ids)
        if out:
            shown = words + ([] if len(words) == len(ids) else ["<end>"])
            _, grid = encode_images(model, image[None])
            draw_attention(image.astype("uint8"), shown, alphas[: len(shown)], grid, out)
        results.append((" ".join(words), words, alphas))
    return results

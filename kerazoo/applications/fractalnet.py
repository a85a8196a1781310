"""Fractal networks (Larsson, Maire and Shakhnarovich, "FractalNet: Ultra-Deep Neural Networks without Residuals",
ICLR 2017).

A fractal block with C columns expands ``f_1(z) = conv(z)``, ``f_{C+1}(z) = join(f_C(f_C(z)), conv(z))``. Laid out
flat, column c (1 = the shallowest) holds 2^(c-1) conv units (3x3 conv → BN → ReLU, with the paper's dropout after
the conv), the deepest 2^(C-1); wherever several columns end a unit at the same depth, a join (element-wise mean)
merges them and feeds all of them on. A block has 2^C - 1 units and ends with 2x2 max pooling. The CIFAR networks
stack B = 5 blocks with 64, 128, 256, 512, 512 filters (32x32 → 1x1), then the classifier.

Drop-path (``kerazoo.layers.FractalJoin``): during training every sample is routed either globally (probability
``global_drop_ratio``: one column, drawn once for the whole network, is the only path) or locally (each join drops
each input with probability ``local_drop_rate`` = 0.15, keeping at least one). At inference every join is the plain
mean. Two departures from the authors' Caffe code: the global/local choice is drawn per sample instead of per
mini-batch (the same expected mix), and each block joins before it pools, as the paper's text describes (the code
pools each column first).

Parameters: FractalNet-20 (C = 3, 7 units per block) has 33,724,618 trainable parameters for 10 classes
(33,698,880 in convolutions, 20,608 BatchNorm scale/offset, 5,130 classifier; plus 20,608 BatchNorm moving
statistics that Keras also counts). The paper's table 1 says 38.6M for its 20-layer network, 14.5 % more than the
architecture its text describes gives; independent reimplementations (e.g. khanrc/pt.fractalnet) also measure
33.7M. FractalNet-40 (C = 4, 15 units per block) with the same filter counts has 76.1M parameters;
the paper does not state the widths of its own 40-layer network, so that network is not reproduced here.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from kerazoo.applications import common
from kerazoo.applications.registry import FeatureTap, register_model
from kerazoo.layers import FractalJoin, FractalPathSampler

PAPER = "Larsson et al., FractalNet: Ultra-Deep Neural Networks without Residuals (ICLR 2017)"
PAPER_DROPOUT = (0.0, 0.1, 0.2, 0.3, 0.4)  # the paper's per-block dropout rates, with drop-path


@dataclass(frozen=True)
class FractalSpec:
    """One fractal network: columns per block and the filters of each block (one block per entry)."""

    columns: int
    filters: tuple[int, ...]

    @property
    def depth(self) -> int:
        """Convolutions on the deepest path: B x 2^(C-1)."""
        return len(self.filters) * 2 ** (self.columns - 1)


FRACTALNETS = {
    "fractalnet20": FractalSpec(columns=3, filters=(64, 128, 256, 512, 512)),
    "fractalnet40": FractalSpec(columns=4, filters=(64, 128, 256, 512, 512)),
}


def conv_unit(x, filters, *, dropout_rate, name):
    """3x3 conv → dropout → BN → ReLU (the authors' order), named ``{name}_conv`` ... ``{name}_relu``."""
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    if dropout_rate:
        x = keras.layers.Dropout(dropout_rate, name=f"{name}_dropout")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def fractal_block(x, filters, columns, *, path, local_drop_rate, dropout_rate, name):
    """One fractal block, laid out flat: column c (0-based) has a unit at depth d iff (d + 1) % 2^(C-1-c) == 0."""
    outputs = [x] * columns  # what each column's next unit reads
    units = [0] * columns
    for d in range(2 ** (columns - 1)):
        active = [c for c in range(columns) if (d + 1) % 2 ** (columns - 1 - c) == 0]
        ends = []
        for c in active:
            units[c] += 1
            ends.append(
                conv_unit(outputs[c], filters, dropout_rate=dropout_rate, name=f"{name}_col{c + 1}_unit{units[c]}")
            )
        if len(ends) > 1:
            join = FractalJoin(local_drop_rate, column_ids=active, name=f"{name}_join{d + 1}")
            joined = join(ends) if path is None else join(ends, path)
        else:
            joined = ends[0]
        for c in active:
            outputs[c] = joined
    return keras.layers.MaxPooling2D(2, name=f"{name}_pool")(outputs[0])


def FractalNet(
    spec: FractalSpec,
    *,
    include_top: bool,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes: int,
    classifier_activation,
    name: str,
    local_drop_rate: float,
    global_drop_ratio: float,
    dropout_rates,
):
    """The generic FractalNet builder; the registered variants pick a row of ``FRACTALNETS``."""
    dropout_rates = tuple(dropout_rates)
    if len(dropout_rates) != len(spec.filters) or any(
        isinstance(r, bool) or not isinstance(r, (int, float)) or not 0.0 <= r < 1.0 for r in dropout_rates
    ):
        raise ValueError(
            f"Invalid dropout_rates: expected {len(spec.filters)} probabilities in [0, 1), one per block. "
            f"Received: dropout_rates={dropout_rates!r}"
        )
    for arg, value in (("local_drop_rate", local_drop_rate), ("global_drop_ratio", global_drop_ratio)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(f"Invalid {arg}: expected a probability in [0, 1]. Received: {arg}={value!r}")
    input_shape = common.check_args(
        include_top=include_top, weights=weights, input_tensor=input_tensor, input_shape=input_shape,
        pooling=pooling, classes=classes, classifier_activation=classifier_activation,
        default_shape=(32, 32, 3), min_size=2 ** len(spec.filters),
    )
    inputs = common.model_input(input_tensor, input_shape)
    path = None
    if global_drop_ratio > 0 and spec.columns > 1:
        path = FractalPathSampler(spec.columns, global_drop_ratio, name="path_sampler")(inputs)
    x = inputs
    for s, (filters, dropout_rate) in enumerate(zip(spec.filters, dropout_rates), start=1):
        x = fractal_block(x, filters, spec.columns, path=path, local_drop_rate=local_drop_rate,
                          dropout_rate=dropout_rate, name=f"stage{s}")
    x = common.classifier_head(
        x, include_top=include_top, pooling=pooling, classes=classes, classifier_activation=classifier_activation
    )
    return common.finalize(inputs, x, name=name, weights=weights, input_tensor=input_tensor)


def _taps(spec: FractalSpec) -> tuple[FeatureTap, ...]:
    return tuple(FeatureTap(f"stage{s}_pool", 2**s) for s in range(1, len(spec.filters) + 1))


_META = dict(family="fractalnet", paper=PAPER, year=2017, input_shape=(32, 32, 3), dataset="cifar10",
             min_input_size=32, tags=("heavy",))


@register_model(**_META, feature_taps=_taps(FRACTALNETS["fractalnet20"]), reported_top1=95.40)
def FractalNet20(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=10,
                 classifier_activation="softmax", name="fractalnet20", local_drop_rate=0.15, global_drop_ratio=0.5,
                 dropout_rates=PAPER_DROPOUT):
    """FractalNet, 20 layers: B = 5 blocks of C = 3 columns (33.7M parameters here, 38.6M in the paper's table 1;
    4.60 % CIFAR-10+ error with drop-path and dropout).

    Family arguments:
        local_drop_rate: probability that a join drops each input under local drop-path (paper: 0.15); 0 disables.
        global_drop_ratio: probability that a training sample uses global drop-path, one column for the whole
            network (paper: 0.5); 0 disables it.
        dropout_rates: dropout rate of every conv unit, per block (paper: 0, 0.1, 0.2, 0.3, 0.4).
    """
    return FractalNet(FRACTALNETS["fractalnet20"], include_top=include_top, weights=weights,
                      input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
                      classifier_activation=classifier_activation, name=name, local_drop_rate=local_drop_rate,
                      global_drop_ratio=global_drop_ratio, dropout_rates=dropout_rates)


@register_model(**_META, feature_taps=_taps(FRACTALNETS["fractalnet40"]), reported_top1=None)
def FractalNet40(*, include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=10,
                 classifier_activation="softmax", name="fractalnet40", local_drop_rate=0.15, global_drop_ratio=0.5,
                 dropout_rates=PAPER_DROPOUT):
    """FractalNet, 40 layers: B = 5 blocks of C = 4 columns with the 20-layer network's filter counts (76.1M
    parameters; the paper does not state the widths of its 40-layer network, so no reported accuracy applies).

    Family arguments:
        local_drop_rate: probability that a join drops each input under local drop-path (paper: 0.15); 0 disables.
        global_drop_ratio: probability that a training sample uses global drop-path, one column for the whole
            network (paper: 0.5); 0 disables it.
        dropout_rates: dropout rate of every conv unit, per block (paper: 0, 0.1, 0.2, 0.3, 0.4).
    """
    return FractalNet(FRACTALNETS["fractalnet40"], include_top=include_top, weights=weights,
                      input_tensor=input_tensor, input_shape=input_shape, pooling=pooling, classes=classes,
                      classifier_activation=classifier_activation, name=name, local_drop_rate=local_drop_rate,
                      global_drop_ratio=global_drop_ratio, dropout_rates=dropout_rates)

"""Channel split and channel shuffle (Zhang et al., ShuffleNet, 2018; Ma et al., ShuffleNet V2, 2018).

Both act on the last (channels) axis of a channels-last tensor of any rank >= 2 and work with unknown spatial sizes,
so they replace the Reshape/Permute idiom (which needs static height and width) and Lambda layers (which cannot
reload with ``safe_mode=True``).
"""

import keras
from keras import ops


def _check_groups(groups) -> int:
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"Invalid groups: expected a positive integer. Received: groups={groups!r}")
    return groups


def _check_channels(layer, channels, groups) -> None:
    if channels is None or channels % groups:
        raise ValueError(
            f"Invalid input to {type(layer).__name__} {layer.name!r}: expected a known number of channels "
            f"divisible by groups={groups}. Received: channels={channels}"
        )


@keras.saving.register_keras_serializable(package="kerazoo")
class ChannelShuffle(keras.layers.Layer):
    """Interleaves ``groups`` equal channel groups: output channel ``j * groups + i`` is input channel
    ``i * (C // groups) + j``.

    Equivalent to reshaping the channels to ``(groups, C // groups)``, transposing to ``(C // groups, groups)`` and
    flattening back, as torchvision's ``channel_shuffle`` does on channels-first tensors. No weights.

    Args:
        groups: number of channel groups (a positive integer dividing the number of channels).
    """

    def __init__(self, groups: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.groups = _check_groups(groups)

    def build(self, input_shape):
        _check_channels(self, input_shape[-1], self.groups)

    def call(self, inputs):
        channels = inputs.shape[-1]
        leading = ops.shape(inputs)[:-1]
        x = ops.reshape(inputs, (*leading, self.groups, channels // self.groups))
        rank = len(inputs.shape)
        x = ops.transpose(x, (*range(rank - 1), rank, rank - 1))
        return ops.reshape(x, (*leading, channels))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


@keras.saving.register_keras_serializable(package="kerazoo")
class ChannelSplit(keras.layers.Layer):
    """Splits the channels into ``groups`` equal, contiguous parts and returns them as a list (first part first).

    Args:
        groups: number of parts (a positive integer dividing the number of channels).
    """

    def __init__(self, groups: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.groups = _check_groups(groups)

    def build(self, input_shape):
        _check_channels(self, input_shape[-1], self.groups)

    def call(self, inputs):
        return ops.split(inputs, self.groups, axis=-1)

    def compute_output_shape(self, input_shape):
        part = tuple(input_shape[:-1]) + (input_shape[-1] // self.groups,)
        return [part for _ in range(self.groups)]

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}

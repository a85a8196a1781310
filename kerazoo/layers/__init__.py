"""Reusable Keras layers that the zoo families need, each usable on its own and serializable by name."""

from kerazoo.layers.adaptive_pool import AdaptiveAveragePooling2D
from kerazoo.layers.channel_shuffle import ChannelShuffle, ChannelSplit
from kerazoo.layers.drop_connect import DropConnectDense
from kerazoo.layers.drop_path import DropPath, drop_path_rates
from kerazoo.layers.fractal_join import FractalJoin, FractalPathSampler
from kerazoo.layers.fractional_max_pooling import FractionalMaxPooling
from kerazoo.layers.glimpse import GlimpseSensor
from kerazoo.layers.grouped_conv import GroupedConv2D
from kerazoo.layers.lrn import LocalResponseNormalization
from kerazoo.layers.masked_conv import MaskedConv2D, causal_mask
from kerazoo.layers.shortcut import ZeroPadShortcut
from kerazoo.layers.squeeze_excite import squeeze_excite
from kerazoo.layers.ternary import QuantizedConv2D, QuantizedDense
from kerazoo.layers.unpooling import MaxPoolingWithArgmax2D, MaxUnpooling2D

__all__ = ["AdaptiveAveragePooling2D", "DropConnectDense", "FractalJoin", "FractalPathSampler", "FractionalMaxPooling", "GlimpseSensor", "GroupedConv2D", "ChannelShuffle", "ChannelSplit", "DropPath", "drop_path_rates", "LocalResponseNormalization", "MaskedConv2D", "causal_mask", "ZeroPadShortcut", "squeeze_excite", "QuantizedConv2D", "QuantizedDense", "MaxPoolingWithArgmax2D", "MaxUnpooling2D"]

"""A grouped 2-D convolution that is fast on the CPU under TensorFlow and JAX.

Keras 3's TensorFlow backend compiles every grouped convolution with XLA (``tf.function(jit_compile=True)``, made
anew on each call), which makes ``Conv2D(groups=32)`` forward + backward about 300x slower on CPU than
``tf.nn.convolution`` with the same grouped kernel, although TensorFlow's own kernels (oneDNN) take a kernel whose
in-channels are ``in / groups`` directly, gradients included. XLA's CPU grouped convolution is as slow under JAX
(``feature_group_count``: 7.1 s forward + backward on 8x24x24x128, groups=32), while the same convolution written
as one ungrouped convolution with a block-diagonal kernel takes 0.23 s there despite its ``groups`` times more
multiply-adds, so JAX on CPU uses that. JAX on an accelerator, and PyTorch, keep ``keras.ops.conv``.
"""

import keras
from keras import ops


def _jax_on_cpu() -> bool:
    import jax  # the backend itself; imported here so other backends never load it

    return jax.default_backend() == "cpu"


def block_diagonal_kernel(kernel, groups: int):
    """A grouped kernel ``(kh, kw, in // groups, filters)`` → the ungrouped ``(kh, kw, in, filters)`` kernel that is
    zero between groups: in-channels ``j * (in // groups) + i`` reach out-channels of group ``j`` only."""
    kh, kw, group_in, filters = kernel.shape
    per_group = ops.reshape(kernel, (kh, kw, group_in, groups, filters // groups))
    full = ops.einsum("hwigo,jg->hwjigo", per_group, ops.eye(groups, dtype=kernel.dtype))
    return ops.reshape(full, (kh, kw, groups * group_in, filters))


@keras.saving.register_keras_serializable(package="kerazoo")
class GroupedConv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` whose grouped convolution runs on the backend's fast path.

    The same layer as ``Conv2D(groups=...)``: same arguments and config, same weights (``kernel`` of shape
    ``(kh, kw, in // groups, filters)``, then ``bias``), same outputs and gradients, so weights copy between the two
    by ``set_weights`` and weight converters that assign by layer keep working. With channels-last inputs and
    ``groups`` > 1 the convolution is ``tf.nn.convolution`` (no XLA) on TensorFlow and a block-diagonal ungrouped
    convolution under JAX on CPU; otherwise it is Conv2D's own.
    """

    def convolution_op(self, inputs, kernel):
        if self.groups == 1 or self.data_format != "channels_last":
            return super().convolution_op(inputs, kernel)
        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf  # the backend itself; imported here so other backends never load it

            return tf.nn.convolution(
                inputs, kernel, strides=list(self.strides), padding=self.padding.upper(),
                dilations=list(self.dilation_rate), data_format="NHWC",
            )
        if backend == "jax" and _jax_on_cpu():
            return super().convolution_op(inputs, block_diagonal_kernel(kernel, self.groups))
        return super().convolution_op(inputs, kernel)

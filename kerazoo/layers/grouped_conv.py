"""A grouped 2-D convolution that is fast on TensorFlow's CPU path.

Keras 3's TensorFlow backend compiles every grouped convolution with XLA (``tf.function(jit_compile=True)``, made
anew on each call), which makes ``Conv2D(groups=32)`` forward + backward about 300x slower on CPU than
``tf.nn.convolution`` with the same grouped kernel, although TensorFlow's own kernels (oneDNN) handle a kernel whose
in-channels are ``in / groups`` directly, gradients included. Other backends keep ``keras.ops.conv`` (JAX's
``feature_group_count`` is already fast).
"""

import keras


@keras.saving.register_keras_serializable(package="kerazoo")
class GroupedConv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` whose convolution runs as the backend's direct grouped convolution.

    The same layer as ``Conv2D(groups=...)``: same arguments and config, same weights (``kernel`` of shape
    ``(kh, kw, in // groups, filters)``, then ``bias``), same outputs and gradients, so weights copy between the two
    by ``set_weights`` and weight converters that assign by layer keep working. On TensorFlow with channels-last
    inputs the convolution is ``tf.nn.convolution`` (no XLA); elsewhere, and for ``groups=1``, it is Conv2D's own.
    """

    def convolution_op(self, inputs, kernel):
        if self.groups == 1 or keras.backend.backend() != "tensorflow" or self.data_format != "channels_last":
            return super().convolution_op(inputs, kernel)
        import tensorflow as tf  # the backend itself; imported here so other backends never load it

        return tf.nn.convolution(
            inputs, kernel, strides=list(self.strides), padding=self.padding.upper(),
            dilations=list(self.dilation_rate), data_format="NHWC",
        )

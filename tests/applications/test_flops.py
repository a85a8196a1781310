"""The FLOPs counter (kerazoo.applications.flops): each rule against a hand count, and the protocol by which a custom
layer declares its own FLOPs."""

import keras

from kerazoo.applications.flops import count_flops


class _Declared(keras.layers.Layer):
    """Runs its Dense sublayer ``repeats`` times: invisible from outside, so it declares its FLOPs."""

    def __init__(self, units, repeats, **kwargs):
        super().__init__(**kwargs)
        self.repeats = repeats
        self.dense = keras.layers.Dense(units)

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, x):
        for _ in range(self.repeats):
            x = self.dense(x)
        return x

    def flops(self, input_shape):
        return self.repeats * 2 * input_shape[-1] * self.dense.units


def test_a_custom_layer_declares_its_flops():
    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(2)(_Declared(6, 3)(inputs)))
    assert count_flops(model) == 3 * 2 * 6 * 6 + 2 * 6 * 2


def test_dense_and_convolutions_by_hand():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same")(inputs)  # 4x4 outputs
    x = keras.layers.Conv2DTranspose(5, 2, strides=2)(x)  # kernel at each of the 4x4 inputs
    x = keras.layers.Dense(7)(x)  # at each of the 8x8 positions
    assert count_flops(keras.Model(inputs, x)) == 2 * (16 * 3 * 3 * 3 * 4 + 16 * 2 * 2 * 4 * 5 + 64 * 5 * 7)


def test_multi_head_attention_by_hand():
    queries, keys, dim, heads, key_dim = 5, 7, 12, 3, 4
    query, value = keras.Input((queries, dim)), keras.Input((keys, dim))
    out = keras.layers.MultiHeadAttention(heads, key_dim)(query, value)
    projections = queries * dim * heads * key_dim * 2 + keys * dim * heads * key_dim * 2  # q and output; k and v
    products = queries * keys * heads * key_dim * 2  # scores q·k and the mix of the values
    assert count_flops(keras.Model([query, value], out)) == 2 * (projections + products)


def test_time_distributed_counts_every_step():
    inputs = keras.Input((6, 4, 4, 2))
    out = keras.layers.TimeDistributed(keras.layers.Conv2D(3, 3, padding="same"))(inputs)
    assert count_flops(keras.Model(inputs, out)) == 6 * 2 * 16 * 3 * 3 * 2 * 3

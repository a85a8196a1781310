"""Vision Transformer: the paper's parameter formula, the class token and position embeddings, the token map."""

import keras
import numpy as np
import pytest

from kerazoo.applications import create_model
from kerazoo.applications.vit import ClassToken, PositionEmbedding, ViTSpec, VisionTransformer, vit_param_count


def _tiny(**kwargs):
    options = dict(include_top=True, weights=None, input_tensor=None, input_shape=(16, 16, 3), pooling=None,
                   classes=5, classifier_activation=None, name="vit_test", default_shape=(16, 16, 3))
    return VisionTransformer(ViTSpec(4, 16, 2, 2, 24), **{**options, **kwargs})


@pytest.mark.parametrize("spec, size, channels, classes", [
    (ViTSpec(4, 16, 2, 2, 24), 16, 3, 5),
    (ViTSpec(4, 64, 6, 4, 128), 32, 1, 10),
])
def test_parameter_count_matches_the_papers_formula(spec, size, channels, classes):
    model = VisionTransformer(spec, include_top=True, weights=None, input_tensor=None,
                              input_shape=(size, size, channels), pooling=None, classes=classes,
                              classifier_activation=None, name="vit", default_shape=(size, size, channels))
    assert model.count_params() == vit_param_count(spec, image_size=size, channels=channels, classes=classes)


@pytest.mark.slow
def test_vit_base_16_has_the_papers_86m_parameters():
    model = create_model("vit_base_p16")
    expected = vit_param_count(ViTSpec(16, 768, 12, 12, 3072), image_size=224, channels=3, classes=1000)
    assert model.count_params() == expected
    assert 86e6 <= expected <= 87e6  # "86M" in Table 1


def test_class_token_is_prepended_and_learned():
    layer = ClassToken(name="cls")
    tokens = np.arange(2 * 3 * 4, dtype="float32").reshape(2, 3, 4)
    out = keras.ops.convert_to_numpy(layer(tokens))
    assert out.shape == (2, 4, 4)
    np.testing.assert_array_equal(out[:, 1:], tokens)
    layer.token.assign(np.full((1, 1, 4), 7.0, "float32"))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(tokens))[:, 0], np.full((2, 4), 7.0))


def test_position_embedding_adds_one_vector_per_position_and_rejects_longer_sequences():
    layer = PositionEmbedding(name="pos")
    zeros = np.zeros((2, 5, 3), "float32")
    out = keras.ops.convert_to_numpy(layer(zeros))
    np.testing.assert_allclose(out, np.broadcast_to(keras.ops.convert_to_numpy(layer.embedding), (2, 5, 3)))
    assert not np.allclose(out[0, 0], out[0, 1])
    with pytest.raises(ValueError, match="position embeddings for 5 positions. Received a sequence of 6"):
        layer(np.zeros((2, 6, 3), "float32"))


def test_feature_map_is_the_patch_tokens_on_the_patch_grid():
    model = _tiny(include_top=False)
    assert model.output_shape == (None, 4, 4, 16)
    x = np.random.default_rng(0).normal(size=(1, 16, 16, 3)).astype("float32")
    tokens = keras.Model(model.inputs[0], model.get_layer("encoder_norm").output)(x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x))[0].reshape(16, 16),
                               keras.ops.convert_to_numpy(tokens)[0, 1:], rtol=1e-6)


def test_patches_are_independent_of_position_until_attention():
    """The patch embedding is a P-strided PxP convolution: moving content by one patch moves its embedding."""
    model = _tiny()
    embed = keras.Model(model.inputs[0], model.get_layer("stem_tokens").output)
    x = np.zeros((1, 16, 16, 3), "float32")
    x[0, :4, :4] = 1.0
    shifted = np.roll(x, 4, axis=2)
    a, b = (keras.ops.convert_to_numpy(embed(v))[0] for v in (x, shifted))
    np.testing.assert_allclose(a[0], b[1], rtol=1e-6)


@pytest.mark.parametrize("shape", [(18, 18, 3), (16, 18, 1)])
def test_input_not_divisible_by_the_patch_size_is_an_error(shape):
    with pytest.raises(ValueError, match="divisible by the patch size 4"):
        _tiny(input_shape=shape)


def test_tiny_vit_fits_a_small_batch():
    model = _tiny(input_shape=(16, 16, 1), classes=3)
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), run_eagerly=True)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 16, 16, 1)).astype("float32"), np.array([0, 1, 2, 0, 1, 2])
    first = model.train_on_batch(x, y)
    for _ in range(10):
        last = model.train_on_batch(x, y)
    assert last < 0.5 * first

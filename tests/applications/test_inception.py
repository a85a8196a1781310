"""GoogLeNet (paper's table 1, auxiliary classifiers) and Inception-v3 (equal to keras.applications.InceptionV3)."""

import keras
import numpy as np
import pytest

from kerazoo.applications import create_model, inception


def conv(k, cin, cout):
    return k * k * cin * cout + cout


# The paper's table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
TABLE_1 = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64), "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64), "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}


def googlenet_params(classes=1000):
    total = conv(7, 3, 64) + conv(1, 64, 64) + conv(3, 64, 192)
    cin = 192
    for b1, r3, b3, r5, b5, proj in TABLE_1.values():
        total += conv(1, cin, b1) + conv(1, cin, r3) + conv(3, r3, b3) + conv(1, cin, r5) + conv(5, r5, b5)
        total += conv(1, cin, proj)
        cin = b1 + b3 + b5 + proj
    return total + cin * classes + classes


def aux_params(cin, classes=1000):
    return conv(1, cin, 128) + (4 * 4 * 128) * 1024 + 1024 + 1024 * classes + classes


def test_googlenet_count_and_sizes_follow_table_1():
    model = inception.GoogLeNet()
    # Table 1 written out layer by layer, with biases.
    assert model.count_params() == googlenet_params() == 6_998_552
    names = {"stem_conv1_relu": (112, 112, 64), "stem_pool1": (56, 56, 64), "stem_conv3_relu": (56, 56, 192),
             "stem_pool2": (28, 28, 192), "stage3_block1_concat": (28, 28, 256), "stage3_block2_concat": (28, 28, 480),
             "stage4_pool": (14, 14, 480), "stage4_block1_concat": (14, 14, 512),
             "stage4_block4_concat": (14, 14, 528), "stage4_block5_concat": (14, 14, 832),
             "stage5_block2_concat": (7, 7, 1024)}
    assert {n: model.get_layer(n).output.shape[1:] for n in names} == names
    assert tuple(model.get_layer("stage3_block1_branch3_conv2").kernel.shape) == (5, 5, 16, 32)  # a real 5x5
    assert model.get_layer("head_dropout").rate == 0.4
    assert [layer.name for layer in model.layers if "lrn" in layer.name] == ["stem_lrn1", "stem_lrn2"]
    assert not any("lrn" in layer.name for layer in inception.GoogLeNet(local_response_norm=False).layers)


def test_googlenet_aux_classifiers_at_224():
    model = inception.GoogLeNet(aux_classifiers=True)
    assert len(model.outputs) == 3
    assert [tuple(o.shape) for o in model.outputs] == [(None, 1000)] * 3
    assert model.count_params() == googlenet_params() + aux_params(512) + aux_params(528)
    assert (aux_params(512), aux_params(528)) == (3_188_840, 3_190_888)
    assert model.get_layer("aux1_pool").output.shape[1:] == (4, 4, 512)  # on (4a), 5x5/3 pooling
    assert model.get_layer("aux2_pool").output.shape[1:] == (4, 4, 528)  # on (4d)
    assert model.get_layer("aux1_dropout").rate == 0.7


def test_googlenet_aux_classifiers_train_with_three_losses(tmp_path):
    shape = (80, 80, 3)  # the smallest sizes give (4a) a 5x5 map
    model = create_model("googlenet", aux_classifiers=True, input_shape=shape, classes=3, classifier_activation=None)
    assert model.output_names == ["predictions", "aux1_predictions", "aux2_predictions"]
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer="sgd", loss=[loss, loss, loss], loss_weights=[1.0, 0.3, 0.3], run_eagerly=True)
    x = np.random.default_rng(0).uniform(0, 1, size=(2, *shape)).astype("float32")
    y = np.array([0, 2])
    before = [w.numpy().copy() for w in (model.get_layer("aux1_fc").kernel, model.get_layer("predictions").kernel)]
    logs = model.train_on_batch(x, [y, y, y], return_dict=True)
    assert all(np.isfinite(v) for v in logs.values())
    # Both the main and the auxiliary heads received gradients.
    after = [model.get_layer("aux1_fc").kernel.numpy(), model.get_layer("predictions").kernel.numpy()]
    assert all(not np.allclose(b, a) for b, a in zip(before, after))
    outputs = model.predict(x, verbose=0)
    assert len(outputs) == 3 and all(o.shape == (2, 3) for o in outputs)


def test_googlenet_aux_classifier_errors():
    with pytest.raises(ValueError, match="aux_classifiers=True adds classifiers, so it needs include_top=True"):
        inception.GoogLeNet(aux_classifiers=True, include_top=False)
    with pytest.raises(ValueError, match="at least 5x5"):
        inception.GoogLeNet(aux_classifiers=True, input_shape=(64, 64, 3))


def test_inception_v3_equals_keras_applications():
    ours = inception.InceptionV3()
    reference = keras.applications.InceptionV3(weights=None)
    assert ours.count_params() == reference.count_params() == 23_851_784
    # Same modules, branch order and layer order: keras.applications' weights load as they are.
    ours.set_weights(reference.get_weights())
    x = np.random.default_rng(0).uniform(-1, 1, size=(1, 299, 299, 3)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(ours(x, training=False)),
        keras.ops.convert_to_numpy(reference(x, training=False)),
        rtol=1e-4, atol=1e-6,
    )
    sizes = [ours.get_layer(f"stage{s}_block{b}_concat").output.shape[1:] for s, b in ((3, 3), (4, 5), (5, 3))]
    assert sizes == [(35, 35, 288), (17, 17, 768), (8, 8, 2048)]


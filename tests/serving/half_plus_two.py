"""A TF1-style SavedModel like TF Serving's ``half_plus_two`` testdata, built by the tests (no files checked in).

The graph is written with ``tf.compat.v1`` placeholders and a ``SavedModelBuilder``, as TF Serving's
``saved_model_half_plus_two.py`` does: y = 0.5 * x + 2, y2 = 0.5 * x + 3, y3 = 0.5 * x2 + 3, where x and x2 are
parsed from serialized tf.Examples. Signatures: ``serving_default`` (predict, x -> y), ``classify_x_to_y``,
``regress_x_to_y``, ``regress_x_to_y2`` and ``regress_x2_to_y3``. The version folder has leading zeros (00000123),
as TF Serving's testdata.
"""

from __future__ import annotations

import os

VERSION_FOLDER = "00000123"
VERSION = 123


def build_half_plus_two(base_path: str, *, offset: float = 2.0) -> str:
    """Write the SavedModel to ``base_path/00000123`` and return that folder (``offset`` 3.0: half_plus_three)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    export_dir = os.path.join(base_path, VERSION_FOLDER)
    builder = v1.saved_model.builder.SavedModelBuilder(export_dir)
    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        a, b, c = v1.Variable(0.5, name="a"), v1.Variable(offset, name="b"), v1.Variable(3.0, name="c")
        serialized = v1.placeholder(tf.string, name="tf_example", shape=[None])
        features = v1.parse_example(serialized, {
            "x": v1.FixedLenFeature([1], tf.float32),
            "x2": v1.FixedLenFeature([1], tf.float32, default_value=[0.0])})
        x = tf.identity(features["x"], name="x")
        y = tf.identity(a * x + b, name="y")
        y2 = tf.identity(a * x + c, name="y2")
        x2 = tf.identity(features["x2"], name="x2")
        y3 = tf.identity(a * x2 + c, name="y3")
        info = v1.saved_model.utils.build_tensor_info
        build = v1.saved_model.signature_def_utils.build_signature_def
        constants = v1.saved_model.signature_constants

        def regress(inputs, outputs):
            return build({constants.REGRESS_INPUTS: info(inputs)}, {constants.REGRESS_OUTPUTS: info(outputs)},
                         constants.REGRESS_METHOD_NAME)

        signatures = {
            "regress_x_to_y": regress(serialized, y),
            "regress_x_to_y2": regress(serialized, y2),
            "regress_x2_to_y3": regress(x2, y3),
            "classify_x_to_y": build({constants.CLASSIFY_INPUTS: info(serialized)},
                                     {constants.CLASSIFY_OUTPUT_SCORES: info(y)}, constants.CLASSIFY_METHOD_NAME),
            constants.DEFAULT_SERVING_SIGNATURE_DEF_KEY: build({"x": info(x)}, {"y": info(y)},
                                                               constants.PREDICT_METHOD_NAME),
        }
        session.run(v1.global_variables_initializer())
        builder.add_meta_graph_and_variables(session, [v1.saved_model.tag_constants.SERVING],
                                             signature_def_map=signatures)
    builder.save()
    return export_dir

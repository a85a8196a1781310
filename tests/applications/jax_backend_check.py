"""Run by test_jax_backend.py in a fresh process with KERAS_BACKEND=jax (the backend is fixed at import time).

    KERAS_BACKEND=jax python tests/applications/jax_backend_check.py FOLDER NAME [NAME ...]

For each NAME, FOLDER holds NAME.json (builder kwargs), NAME.weights.h5 and inputs.npy written under TensorFlow;
this script rebuilds the model on JAX, loads the weights, and writes NAME.jax.npy (inference outputs) and, for the
names listed in FOLDER/train.json, runs one jitted training step and records whether the loss was finite and the
weights moved.
"""

import json
import os
import sys

import numpy as np


def main(folder, names):
    import keras

    assert keras.backend.backend() == "jax", keras.backend.backend()
    from kerazoo.applications import create_model

    with open(os.path.join(folder, "train.json")) as f:
        train_names = set(json.load(f))
    report = {}
    for name in names:
        with open(os.path.join(folder, f"{name}.json")) as f:
            kwargs = json.load(f)
        kwargs["input_shape"] = tuple(kwargs["input_shape"])
        model = create_model(name, **kwargs)
        model.load_weights(os.path.join(folder, f"{name}.weights.h5"))
        x = np.load(os.path.join(folder, f"inputs_{kwargs['input_shape'][0]}_{kwargs['input_shape'][2]}.npy"))
        # Eager call: one forward pass does not pay for an XLA compilation per model.
        np.save(os.path.join(folder, f"{name}.jax.npy"), np.asarray(model(x, training=False)))
        entry = {"params": int(model.count_params())}
        if name in train_names:
            before = [np.array(w) for w in model.trainable_weights]
            model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
            loss = float(model.train_on_batch(x, np.arange(len(x)) % kwargs["classes"]))
            moved = any(not np.allclose(a, np.array(w)) for a, w in zip(before, model.trainable_weights))
            entry.update(loss=loss, weights_moved=bool(moved))
        report[name] = entry
    with open(os.path.join(folder, "report.json"), "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])

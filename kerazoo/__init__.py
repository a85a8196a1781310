"""kerazoo: a Keras model zoo and training service for the CS231n architectures and tasks."""

__version__ = "0.1.0"

# Registers kerazoo's Keras objects once Keras is loaded, so keras.models.load_model opens every kerazoo file after
# ``import kerazoo`` alone, while ``import kerazoo`` itself stays free of TensorFlow (see kerazoo/saving.py).
from kerazoo import saving as _saving  # noqa: E402

_saving.install()

"""kerazoo: a Keras model zoo and training service for the CS231n architectures and tasks."""

__version__ = "0.1.0"

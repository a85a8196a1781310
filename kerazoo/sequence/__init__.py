"""kerazoo.sequence: character-level language models (RNN, LSTM, GRU), interpretable cells and image captioning.

Imported by the model registry on first lookup (``kerazoo.applications.registry.PLUGIN_PACKAGES``); importing it
registers the ``charrnn`` and ``captioning`` training tasks (kerazoo.sequence.tasks).
"""

from kerazoo.sequence import tasks  # noqa: F401  (registers the tasks with the training service)
from kerazoo.sequence.charrnn import CharRNNConfig, VanillaRNNCell, char_language_model, sample, train_char_rnn
from kerazoo.sequence.corpus import list_corpora, load_text

__all__ = ["CharRNNConfig", "VanillaRNNCell", "char_language_model", "list_corpora", "load_text", "sample",
           "train_char_rnn"]

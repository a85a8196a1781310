"""What the ``kerazoo`` command prints besides results: verbosity, TensorFlow's start-up noise, stage lines.

Three levels: ``--quiet`` (results and errors only), the default (results, errors and one stage line per long step
on stderr), ``-v/--verbose`` (also TensorFlow's and absl's own start-up and info lines).

TensorFlow 2.21 writes its start-up lines (oneDNN, cudart, "All log messages before absl::InitializeLog() ...")
from C++ before absl's logging is initialized, and ``TF_CPP_MIN_LOG_LEVEL`` does not reach those: only the file
descriptor does. So the first ``import tensorflow`` runs with fd 2 pointed at a temporary file, and whatever it
wrote besides absl's info and warning lines and the CPU-instructions notice (an error line, a Python warning, a
failed import's output) goes back to stderr.
The import is caught by a meta-path hook, so verbs that never load TensorFlow do not pay for it.

Stage lines: a library module logs them with ``logging.getLogger(__name__).info("converting to TFLite")``; the
command shows every ``kerazoo.*`` logger's INFO records as ``kerazoo: converting to TFLite`` on stderr (not with
``--quiet``), and a program that imports kerazoo as a library sees them only if it configures logging.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import sys
import warnings

QUIET, NORMAL, VERBOSE = 0, 1, 2
VERBOSITY_ENV = "KERAZOO_VERBOSITY"  # inherited by the worker processes `kerazoo launch` starts

# Lines TensorFlow/absl write to fd 2 while TensorFlow imports, that say nothing the user can act on.
START_UP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog|^[IW]\d{4} [\d:. ]+\d+ \S+\.cc:\d+\]|"
    r"^To enable the following instructions|rebuild TensorFlow with the appropriate compiler flags"
)

_state = {"verbosity": NORMAL}
log = logging.getLogger("kerazoo")


def verbosity() -> int:
    return _state["verbosity"]


def inherited() -> int:
    """The verbosity a parent kerazoo process passed on (`kerazoo launch`'s workers), else the default."""
    value = os.environ.get(VERBOSITY_ENV, "")
    return int(value) if value in (str(QUIET), str(NORMAL), str(VERBOSE)) else NORMAL


def configure(level: int) -> None:
    """Set the verbosity for this process (and the kerazoo processes it starts); call before TensorFlow loads."""
    _state["verbosity"] = level
    os.environ[VERBOSITY_ENV] = str(level)
    if not os.environ.get("TF_CPP_MIN_LOG_LEVEL"):  # a value the user set stands
        # After absl's start: TensorFlow's C++ info, warnings and errors (cuInit on a machine without a GPU, ...).
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if level >= VERBOSE else "3"
    if level < VERBOSE:
        if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietImport) for f in sys.meta_path):
            sys.meta_path.insert(0, _QuietImport())
    handler = _Stderr()
    handler.setFormatter(logging.Formatter("kerazoo: %(message)s"))
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.INFO if level >= NORMAL else logging.WARNING)
    if level == QUIET:
        logging.getLogger().setLevel(logging.ERROR)  # absl's and Keras' Python warnings
        warnings.simplefilter("ignore")


class _Stderr(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (a test's capture, a redirect), not the one of setup."""

    def emit(self, record):
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # logging's contract: a broken stream never raises into the caller
            self.handleError(record)


def stage(message: str) -> None:
    """One progress line on stderr (``kerazoo: message``), hidden by ``--quiet``."""
    log.info(message)


def filter_noise(text: str) -> str:
    """``text`` without TensorFlow's known start-up lines."""
    return "".join(line for line in text.splitlines(keepends=True) if not START_UP_NOISE.search(line))


def _after_keras() -> None:
    if verbosity() == QUIET:  # progress bars go to absl's logger instead of stdout, and it shows errors only
        import keras

        keras.config.disable_interactive_logging()


class _QuietImport:  # a meta-path finder (not importlib.abc's subclass: that module alone costs --help 50 ms)
    """Finds ``tensorflow`` and ``keras`` once each, with a loader that silences fd 2 while TensorFlow executes and
    quiets Keras' progress bars under ``--quiet``."""

    def __init__(self):
        self.pending = {"tensorflow", "keras"}

    def find_spec(self, name, path=None, target=None):
        if name not in self.pending:
            return None
        self.pending.discard(name)  # once; the real finders do the finding
        if not self.pending:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader, silence=name == "tensorflow",
                                       after=_after_keras if name == "keras" else None)
        return spec


class _QuietLoader:
    def __init__(self, loader, *, silence: bool, after=None):
        self.loader, self.silence, self.after = loader, silence, after

    def __getattr__(self, name):  # resource readers and the like: the real loader's
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader
        if not self.silence:
            self.loader.exec_module(module)
        else:
            self._exec_silenced(module)
        if self.after is not None:
            self.after()

    def _exec_silenced(self, module):
        import tempfile

        with tempfile.TemporaryFile() as captured:
            sys.stderr.flush()
            saved = os.dup(2)
            os.dup2(captured.fileno(), 2)
            try:
                self.loader.exec_module(module)
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                rest = filter_noise(captured.read().decode("utf-8", "replace"))
                if rest and verbosity() > QUIET:
                    sys.stderr.write(rest)
                    sys.stderr.flush()

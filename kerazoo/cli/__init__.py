"""The ``kerazoo`` command: argument parsing only; each verb calls one library function.

Each verb group lives in its own module under ``kerazoo/cli/`` and exposes ``register(subparsers)``, which adds its
sub-parser(s) and sets ``func`` (called with the parsed namespace; returns an exit code or None). Nothing here
imports TensorFlow: ``--help`` answers at once, and the names a command gives (models, datasets, recipes, config
fields, folders) are checked (:func:`preflight`, then the verb's own checks) before a verb loads it. A user's
mistake is one line on stderr, ``kerazoo VERB: error: ...``, and exit code 2 (:func:`user_error`); anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from kerazoo import __version__, runtime
from kerazoo.cli import output

# One line per verb module, in the order `kerazoo --help` lists them.
VERB_MODULES = [
    "kerazoo.cli.models",
    "kerazoo.cli.train",
    "kerazoo.cli.evaluate",
    "kerazoo.cli.predict",
    "kerazoo.cli.export",
    "kerazoo.cli.serve",
    "kerazoo.cli.optimize",
    "kerazoo.cli.doctor",
    "kerazoo.cli.search",
    "kerazoo.cli.rl",
    "kerazoo.cli.launch",
    "kerazoo.cli.runs",
    "kerazoo.cli.robustness",
    "kerazoo.cli.attack",
    "kerazoo.cli.visualize",
    "kerazoo.cli.style",
    "kerazoo.cli.generate",
    "kerazoo.cli.sequence",
    "kerazoo.cli.caption",
]

# Optional dependencies by the module a missing one raises ModuleNotFoundError for -> the extra that installs it.
EXTRAS = {
    "tf2onnx": "onnx", "onnx": "onnx", "onnxruntime": "onnx",
    "ai_edge_litert": "tflite",
    "tf_keras": "optimize", "tensorflow_model_optimization": "optimize",
    "tensorflow_serving": "serving", "grpc": "serving",
    "gymnasium": "rl", "pygame": "rl",
    "ale_py": "atari", "cv2": "atari",
    "skimage": "vision", "pycocotools": "vision",
    "nltk": "text",
    "jax": "jax", "jaxlib": "jax",
    "torch": "convert", "torchvision": "convert", "timm": "convert", "safetensors": "pretrained",
    "huggingface_hub": "pretrained",
}

class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


class Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (no usage block): what was wrong, and where the usage is."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (`{self.prog} --help` shows the usage)\n")


def version_text() -> str:
    """``kerazoo X (tensorflow Y, keras Z, python W)``, from the installed metadata (TensorFlow is not imported)."""
    from importlib import metadata

    def installed(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    stack = ", ".join(f"{name} {installed(name)}" for name in ("tensorflow", "keras"))
    return f"kerazoo {__version__} ({stack}, python {sys.version.split()[0]})"


class _Version(argparse.Action):
    """``--version``, its text made only when asked for (reading package metadata costs time every --help)."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()


def _add_verbosity(parser: argparse.ArgumentParser, default) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="store_true", default=default,
                       help="also show TensorFlow's own start-up and info lines")
    group.add_argument("-q", "--quiet", action="store_true", default=default,
                       help="print only results and errors (no progress lines, no warnings)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="kerazoo",
        description="Keras model zoo and training service: train, evaluate, export and serve CS231n models.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="show the versions of kerazoo and its stack")
    _add_verbosity(parser, False)
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    subparsers.required = True
    for module in VERB_MODULES:
        importlib.import_module(module).register(subparsers)
    return parser


def add_parser(subparsers, name: str, *, help: str, example: str) -> argparse.ArgumentParser:
    """A verb's sub-parser with the shared formatter, an example in its --help and the -v/-q flags (which may also
    come before the verb)."""
    parser = subparsers.add_parser(
        name, help=help, description=f"{help}\n\nexample:\n  {example}", formatter_class=_Formatter
    )
    _add_verbosity(parser, argparse.SUPPRESS)  # SUPPRESS: absent here, the value before the verb stands
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """``parser.parse_args``, except that FIELD=VALUE overrides may also follow the flags
    (`kerazoo train unet --out runs/u model.loss=dice`), and so may the words of a verb's optional positional list
    named by its ``trailing`` default (`kerazoo predict resnet50 --weights imagenet cat.jpg`): argparse fills the
    positional list before it reaches the flags, so the trailing ones are collected here."""
    args, extra = parser.parse_known_args(argv)
    trailing = getattr(args, "trailing", None)
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra and trailing and not any(e.startswith("-") for e in extra):
        setattr(args, trailing, [*getattr(args, trailing), *extra])
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


# -- checks before TensorFlow loads --------------------------------------------------------------------------------


def require(*modules: str) -> None:
    """Raise ModuleNotFoundError (printed as the extra that installs it) for the first of ``modules`` that is not
    installed; looks them up without importing them."""
    import importlib.util

    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise ModuleNotFoundError(f"No module named {module!r}", name=module)


def existing_folder(flag: str, path: str | None) -> None:
    """A folder the command reads from must exist (a typo would otherwise fall back to a default silently)."""
    if path is not None and not os.path.isdir(path):
        what = "is a file, not a folder" if os.path.exists(path) else "does not exist"
        raise FileNotFoundError(f"{flag} {path!r} {what}.")


def output_folder(flag: str, path: str | None) -> None:
    """A folder the command writes into may exist (resumed, added to) but must not be a file."""
    if path is not None and os.path.exists(path) and not os.path.isdir(path):
        raise FileExistsError(f"{flag} {path!r} is an existing file; give a folder to write into.")


def check_config(config) -> None:
    """The names and folders a training config refers to, checked without TensorFlow: the model and a dense
    head's backbone, the dataset, the data folder and the runs it starts from."""
    from kerazoo.cli import names

    if not getattr(config, "task", None):  # a named task (charrnn, captioning) checks its own model and data
        names.check_model(config.model.name)
        backbone = config.model.kwargs.get("backbone") if isinstance(config.model.kwargs, dict) else None
        if isinstance(backbone, str):
            names.check_model(backbone)
        names.check_dataset(config.data.dataset)
    existing_folder("data.data_dir (--data-dir)", config.data.data_dir)
    for field, path in (("model.init_from (--init-from)", config.model.init_from),
                        ("model.backbone_from (--backbone-from)", config.model.backbone_from),
                        ("distill.teacher (--teacher)", config.distill.teacher)):
        existing_folder(field, path)


def preflight(args: argparse.Namespace) -> None:
    """Checks shared by the verbs, made on the parsed flags before any verb runs: dataset names, data folders,
    output folders (verbs whose --out is a folder set ``out_is_folder``) and recipe names (--config)."""
    from kerazoo.cli import names

    if getattr(args, "dataset", None):
        names.check_dataset(args.dataset)
    existing_folder("--data-dir", getattr(args, "data_dir", None))
    if getattr(args, "out_is_folder", False):
        output_folder("--out", getattr(args, "out", None))
    if getattr(args, "config", None):
        from kerazoo.training.config import recipe_path

        args.config = recipe_path(args.config)


# -- user errors ---------------------------------------------------------------------------------------------------


def user_error(error: BaseException) -> str | None:
    """The one-line message for an exception that is the user's doing, or None for a bug (it keeps its traceback)."""
    import zipfile

    if isinstance(error, ModuleNotFoundError):
        top = (error.name or "").split(".")[0]
        if top not in EXTRAS:
            return None
        return (f"this needs the optional package {top!r}, which is not installed: "
                f"pip install \"kerazoo[{EXTRAS[top]}]\"")
    if isinstance(error, OSError) and error.errno == errno.EADDRINUSE:
        return f"a port is already in use ({error.strerror}); pick another one or stop the server holding it"
    if isinstance(error, zipfile.BadZipFile):
        return f"a model file is corrupt or incomplete (not a whole .keras zip archive): {error}"
    yaml = sys.modules.get("yaml")
    if isinstance(error, (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
                          PermissionError)) or (yaml is not None and isinstance(error, yaml.YAMLError)):
        return " ".join(str(error).split()) or type(error).__name__
    return None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse(parser, argv)
    output.configure(output.QUIET if args.quiet else output.VERBOSE if args.verbose else output.inherited())
    runtime.prefer_onednn(not getattr(args, "no_speed", False))  # before any verb loads TensorFlow
    try:
        preflight(args)
        code = args.func(args)
    except KeyboardInterrupt:
        print("kerazoo: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        message = user_error(error)
        if message is None:
            raise
        print(f"kerazoo {args.verb}: error: {message}", file=sys.stderr)
        return 2
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())

"""Text corpora for the character-level language models, by name.

Every corpus is real text that installs from a system or Python package (nothing is downloaded at run time):

    from kerazoo.sequence.corpus import load_text, list_corpora
    text = load_text("fortunes")          # Debian's `fortunes` package, /usr/share/games/fortunes
    text = load_text("/path/to/book.txt") # or any UTF-8 text file

A corpus that is not installed raises a FileNotFoundError naming the package that provides it.
"""

from __future__ import annotations

import difflib
import glob
import os
from dataclasses import dataclass

__all__ = ["Corpus", "CORPORA", "DEFAULT_CORPUS", "list_corpora", "corpus_files", "load_text"]


@dataclass(frozen=True)
class Corpus:
    """A named corpus: the files (glob patterns) that make it up and the package that installs them."""

    name: str
    description: str
    patterns: tuple
    install: str  # the command that installs the package providing the files
    license: str


CORPORA = {
    "fortunes": Corpus(
        name="fortunes",
        description="the fortune-cookie database (quotations, jokes, poems, literature excerpts), ~2.6 MB of text",
        # The data files have no extension; their .dat index files and the .u8 links are skipped.
        patterns=("/usr/share/games/fortunes/*",),
        install="apt-get install -y fortunes",
        # fortune-mod is BSD-licensed; the quotations were collected under fair use (BSD fortune "Notes").
        license="BSD (fortune-mod), quotations collected under fair use; /usr/share/doc/fortunes/copyright",
    ),
}
DEFAULT_CORPUS = "fortunes"


def list_corpora() -> list[str]:
    return sorted(CORPORA)


def _is_text_file(path: str) -> bool:
    return os.path.isfile(path) and not os.path.islink(path) and not path.endswith((".dat", ".u8"))


def corpus_files(name: str) -> list[str]:
    """The files of corpus ``name`` (sorted), or ``[name]`` when ``name`` is a path to a text file."""
    if os.path.isfile(name):
        return [name]
    if name not in CORPORA:
        close = difflib.get_close_matches(name, list(CORPORA), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"Unknown corpus {name!r}: expected one of {list_corpora()} or the path to a text file.{hint}"
        )
    corpus = CORPORA[name]
    files = sorted(p for pattern in corpus.patterns for p in glob.glob(pattern) if _is_text_file(p))
    if not files:
        raise FileNotFoundError(
            f"Corpus {name!r} is not installed: no files match {', '.join(corpus.patterns)}. "
            f"Install it with `{corpus.install}`."
        )
    return files


def load_text(name: str = DEFAULT_CORPUS, *, max_chars: int | None = None) -> str:
    """The corpus as one string (files joined by blank lines; undecodable bytes replaced), at most ``max_chars``.

    Raises:
        ValueError: unknown name, or a corpus with no text in it (a model cannot learn from nothing).
        FileNotFoundError: a named corpus whose package is not installed (the message says what to install).
    """
    if max_chars is not None and max_chars < 2:
        raise ValueError(f"Invalid max_chars: expected None or an integer >= 2. Received: max_chars={max_chars!r}")
    parts = []
    for path in corpus_files(name):
        with open(path, encoding="utf-8", errors="replace") as f:
            parts.append(f.read())
    text = "\n\n".join(parts)
    if max_chars is not None:
        text = text[:max_chars]
    if len(text.strip()) < 2:
        raise ValueError(
            f"Corpus {name!r} is empty: a language model needs at least 2 characters of text. "
            f"Received {len(text)} characters."
        )
    return text

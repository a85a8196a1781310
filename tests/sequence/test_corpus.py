"""Corpora by name or path; a corpus that is not installed names its package; an empty corpus is an error."""

import pytest

from kerazoo.sequence import corpus
from kerazoo.sequence.corpus import Corpus, corpus_files, load_text


def test_a_text_file_is_a_corpus(tmp_path):
    path = tmp_path / "book.txt"
    path.write_text("It was the best of times.\n", encoding="utf-8")
    assert corpus_files(str(path)) == [str(path)]
    assert load_text(str(path)) == "It was the best of times.\n"
    assert load_text(str(path), max_chars=6) == "It was"


def test_named_corpus_joins_its_files_and_skips_index_files(tmp_path, monkeypatch):
    (tmp_path / "b").write_text("second", encoding="utf-8")
    (tmp_path / "a").write_text("first", encoding="utf-8")
    (tmp_path / "a.dat").write_bytes(b"\x00\x01binary index")
    monkeypatch.setitem(corpus.CORPORA, "toy", Corpus("toy", "test", (str(tmp_path / "*"),), "pip install toy", "MIT"))
    assert load_text("toy") == "first\n\nsecond"


def test_missing_corpus_names_the_package_to_install(tmp_path, monkeypatch):
    missing = Corpus("fortunes", "test", (str(tmp_path / "nowhere" / "*"),), "apt-get install -y fortunes", "BSD")
    monkeypatch.setitem(corpus.CORPORA, "fortunes", missing)
    with pytest.raises(FileNotFoundError, match="Install it with `apt-get install -y fortunes`"):
        load_text("fortunes")


def test_unknown_corpus_lists_close_names():
    with pytest.raises(ValueError, match="Unknown corpus 'fortune'.*Did you mean: fortunes"):
        load_text("fortune")


@pytest.mark.parametrize("content", ["", " \n\n "])
def test_empty_corpus_is_an_error(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="is empty: a language model needs at least 2 characters"):
        load_text(str(path))

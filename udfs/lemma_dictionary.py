"""The lemma dictionary Spark NLP's Lemmatizer is trained from, built from lemminflect's English lookup table.

lemminflect (MIT licence) ships `lemma_lu.csv.gz`: one row per (word, part of speech, lemma[/lemma...]), about
80,000 rows. Spark NLP's Lemmatizer wants `lemma -> form<TAB>form...` lines and knows no part of speech, so a
word takes its noun lemma when it has one ("leaves" -> "leaf", not "leave"): tags and aspects are nouns.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path

KEY_DELIMITER, VALUE_DELIMITER = "->", "\t"
# Earlier wins when a word has lemmas under several parts of speech.
POS_PREFERENCE = ("noun", "propn", "verb", "adj", "adv", "aux")


def lemma_of_word(rows: Iterable[tuple[str, str, str]]) -> dict[str, str]:
    """word -> lemma (lower-cased) from (word, part of speech, 'lemma[/lemma...]') rows: a lower-case entry
    beats a capitalised one ("weeks" is not the surname "Weeks"), then nouns beat other parts of speech."""
    best: dict[str, tuple[tuple[bool, int], str]] = {}
    for written, pos, lemmas in rows:
        word, lemma = written.lower(), lemmas.split("/")[0].lower()
        if not word[:1].isalpha() or not lemma or not word.replace("-", "").replace("'", "").isalpha():
            continue
        rank = (written != word, POS_PREFERENCE.index(pos) if pos in POS_PREFERENCE else len(POS_PREFERENCE))
        if word not in best or rank < best[word][0]:
            best[word] = (rank, lemma)
    return {word: lemma for word, (_rank, lemma) in best.items()}


def dictionary_lines(lemmas: dict[str, str]) -> list[str]:
    """Spark NLP dictionary lines, `lemma -> form<TAB>form`, sorted (a deterministic file for a given table)."""
    forms: dict[str, set[str]] = {}
    for word, lemma in lemmas.items():
        # A lemma is its own form unless it is itself a form of another lemma ("weeks" of the rare "weekses"
        # is still a form of "week"): Spark NLP keeps the last line that names a form.
        forms.setdefault(lemma, {lemma} if lemmas.get(lemma, lemma) == lemma else set()).add(word)
    return [f"{lemma} {KEY_DELIMITER} {VALUE_DELIMITER.join(sorted(words))}" for lemma, words in sorted(forms.items())]


def lemminflect_rows() -> Iterable[tuple[str, str, str]]:
    """Rows of the lookup table shipped inside the lemminflect package."""
    with gzip.open(str(files("lemminflect") / "resources" / "lemma_lu.csv.gz"), "rt", encoding="utf-8") as handle:
        for row in csv.reader(handle):
            if len(row) == 3:
                yield row[0], row[1], row[2]


def write_lemma_dictionary(path: Path) -> int:
    """Write the dictionary file for Spark NLP's Lemmatizer; returns the number of lemmas."""
    lines = dictionary_lines(lemma_of_word(lemminflect_rows()))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)

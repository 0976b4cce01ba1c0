"""Aspect-term extraction (plain Python + scikit-learn): which words of a review sentence name an aspect of the
product ("the screen is bright but the keyboard flexes" -> "screen", "keyboard").

A sequence tagger learned from labelled review sentences (the SemEval 2014-16 laptop and restaurant train and
dev splits shipped in udfs/training_data/, see its LICENSE.md; never their test splits), not from a word list:
each token is described by its word, lemma, affixes, shape, the parts of speech it can take, and a window of its
neighbours (words, affixes, parts of speech, whether they judge or are function words); a linear-chain CRF
(CRFsuite) tags it B (starts a term), I (continues one) or O. Terms are the B/I runs. Trained once per lake
(about half a minute) and kept in its model store; at run time only `extract` runs.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import tempfile
from collections.abc import Iterable, Sequence
from functools import cache, lru_cache
from pathlib import Path

TRAINING_DATA = Path(__file__).parent / "training_data" / "semeval_absa_train.jsonl.gz"
MODEL_FILE = "extractor.crfsuite"
WINDOW = 2
FEATURES_VERSION = 2   # bump when token_features changes
TOKEN = re.compile(r"[A-Za-z0-9]+(?:['’-][A-Za-z0-9]+)*|[^\sA-Za-z0-9]")


@cache
def _function_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


@cache
def _valence() -> dict[str, float]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer().lexicon


@lru_cache(maxsize=100_000)
def _word_classes(word: str) -> tuple[str, str]:
    """The parts of speech a word can take and its lemma (lemminflect's tables, no tagger: aspects are nouns,
    and "keyboard" can only be one while "bright" can be an adjective)."""
    from lemminflect import getAllLemmas

    lemmas = getAllLemmas(word)
    classes = "|".join(sorted(lemmas)) or "none"
    lemma = (lemmas.get("NOUN") or next(iter(lemmas.values()), (word,)))[0]
    return classes, lemma


def tokenize(sentence: str) -> list[str]:
    """Words (with inner apostrophes and hyphens) and single punctuation marks, as the training data splits."""
    return TOKEN.findall(sentence)


def _shape(token: str) -> str:
    if token.isdigit():
        return "digit"
    if not token[0].isalnum():
        return "punct"
    if token.isupper() and len(token) > 1:
        return "upper"
    return "title" if token[0].isupper() else "lower"


def _describe(token: str | None) -> tuple[str, ...]:
    """What a neighbour contributes: its word, suffix, and whether it judges or is a function word."""
    if token is None:
        return ("<edge>",)
    word = token.lower()
    valence = _valence().get(word, 0.0)
    tone = "pos" if valence >= 1 else "neg" if valence <= -1 else "flat"
    return (f"w={word}", f"s3={word[-3:]}", f"fw={word in _function_words()}", f"tone={tone}",
            f"shape={_shape(token)}", f"pos={_word_classes(word)[0]}")


def token_features(tokens: Sequence[str]) -> list[list[str]]:
    """Feature strings of every token (its own description, affixes and its +-WINDOW neighbours')."""
    lowered = [t.lower() for t in tokens]
    rows = []
    for i, word in enumerate(lowered):
        features = ["bias", f"w={word}", f"p2={word[:2]}", f"p3={word[:3]}", f"s2={word[-2:]}", f"s3={word[-3:]}",
                    f"s4={word[-4:]}", f"shape={_shape(tokens[i])}", f"len={min(len(word), 8)}",
                    f"fw={word in _function_words()}", f"first={i == 0}", f"last={i == len(tokens) - 1}",
                    "pos={}".format(*_word_classes(word)), "lemma={1}".format(*_word_classes(word))]
        for offset in (*range(-WINDOW, 0), *range(1, WINDOW + 1)):
            j = i + offset
            neighbour = tokens[j] if 0 <= j < len(tokens) else None
            features.extend(f"{offset}:{d}" for d in _describe(neighbour))
        previous = lowered[i - 1] if i else "<edge>"
        following = lowered[i + 1] if i + 1 < len(tokens) else "<edge>"
        features.extend((f"bi-={previous}|{word}", f"bi+={word}|{following}"))
        rows.append(features)
    return rows


def bio_labels(labels: Sequence[str]) -> list[str]:
    """B/I/O from per-token gold labels ("O" or "T-<polarity>"): a run of T-* labels of one polarity is one
    term, so two adjacent terms of different polarity stay two."""
    out, previous = [], "O"
    for label in labels:
        out.append("O" if label == "O" else "I" if label == previous else "B")
        previous = label
    return out


def spans(tags: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) token ranges of the B/I runs (an I without a B before it starts a term too)."""
    found: list[tuple[int, int]] = []
    start = None
    for i, tag in enumerate([*tags, "O"]):
        if start is not None and tag != "I":
            found.append((start, i))
            start = None
        if tag in ("B", "I") and start is None:
            start = i
    return found


def read_training_data(path: Path = TRAINING_DATA) -> list[dict]:
    """Rows of {domain, tokens, labels} (labels "O" / "T-POS" / "T-NEG" / "T-NEU")."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


class AspectExtractor:
    """A fitted B/I/O sequence tagger (linear-chain CRF); `extract` gives the aspect terms of sentences.

    Holds the CRFsuite model as bytes, so it pickles (Spark ships it to the workers) and saves as one file."""

    def __init__(self, model: bytes) -> None:
        self.model = model
        self._tagger = None

    def __getstate__(self) -> dict:
        return {"model": self.model}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["model"])

    @staticmethod
    def fit(sentences: Iterable[Sequence[str]], labels: Iterable[Sequence[str]], c1: float = 0.02,
            c2: float = 0.1, iterations: int = 150) -> AspectExtractor:
        """Fit on tokenised sentences and their per-token gold labels (see bio_labels); c1, c2: L1 and L2
        regularisation (common CRFsuite values, set once and not tuned against the test splits)."""
        import pycrfsuite

        trainer = pycrfsuite.Trainer(verbose=False)
        for tokens, gold in zip(sentences, labels, strict=True):
            trainer.append(token_features(tokens), bio_labels(gold))
        trainer.set_params({"c1": c1, "c2": c2, "max_iterations": iterations,
                            "feature.possible_transitions": True})
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "model.crfsuite"
            trainer.train(str(path))
            return AspectExtractor(path.read_bytes())

    def save(self, directory: Path) -> None:
        (directory / MODEL_FILE).write_bytes(self.model)

    @staticmethod
    def load(directory: Path) -> AspectExtractor:
        return AspectExtractor((directory / MODEL_FILE).read_bytes())

    def tag(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """B/I/O per token of each tokenised sentence."""
        if self._tagger is None:
            import pycrfsuite

            self._tagger = pycrfsuite.Tagger()
            self._tagger.open_inmemory(self.model)
        return [list(self._tagger.tag(token_features(tokens))) if tokens else [] for tokens in sentences]

    def extract(self, sentences: Sequence[str]) -> list[list[str]]:
        """The aspect terms (lower-cased, as written) of each sentence."""
        tokenised = [tokenize(s) for s in sentences]
        return [[" ".join(tokens[a:b]).lower() for a, b in spans(tags)]
                for tokens, tags in zip(tokenised, self.tag(tokenised), strict=True)]


def train_default() -> AspectExtractor:
    """The extractor trained on the shipped SemEval training sentences (both domains)."""
    rows = read_training_data()
    return AspectExtractor.fit([r["tokens"] for r in rows], [r["labels"] for r in rows])


def training_fingerprint() -> str:
    """Changes when the shipped training data or the feature design changes (then the lake refits)."""
    digest = hashlib.sha256(TRAINING_DATA.read_bytes())
    digest.update(f"crf/{WINDOW}/{FEATURES_VERSION}".encode())
    return digest.hexdigest()[:12]

"""Aspect-targeted sentiment (plain Python + scikit-learn): how a sentence judges one of its aspect terms ("the
screen is bright but the keyboard flexes": screen positive, keyboard negative), not how the whole sentence
reads.

A multinomial logistic regression learned from the same labelled review sentences as udfs.aspects (the SemEval
2014-16 laptop and restaurant train and dev splits, whose every aspect term carries a gold polarity: positive,
negative or neutral; never their test splits). A term is described by what the lexicon says around it, the
nearer the louder: VADER's compound of the whole sentence and of the term's clause (the tokens between the
nearest contrast words or separators on each side: "but", "although", ";", ...), the lexicon valence of every
other word weighted by 1 / distance, the words of its window (sided: "was" before the term reads differently
from after it), and the term's own words (some aspects are mostly complained about). Classes are balanced in
the loss: most terms are praised, and a model that learns only that is useless for complaints.

`score` gives P(positive) - P(negative) in [-1, 1] per term, the figure tags average; `predict` the class.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from udfs.aspects import AspectExtractor, bio_labels, read_training_data, spans, tokenize, training_fingerprint
from udfs.model_files import FORMAT as MODEL_FORMAT
from udfs.model_files import load_pipeline, save_pipeline
from udfs.sentences import _vader, polarity

MODEL_STEM = "aspect_sentiment"
CLASSES = ("NEG", "NEU", "POS")
WINDOW = 5
FEATURES_VERSION = 1   # bump when term_features changes: the lake retrains on a new fingerprint
# Where a clause ends: its sentiment rarely crosses these ("great screen, but the battery dies").
CONTRAST = frozenset({"but", "however", "although", "though", "yet", "except", "while", "whereas", "unfortunately"})
SEPARATORS = frozenset({";", ",", ".", "!", "?", ":", "(", ")", "-"})


def _compound(tokens: Sequence[str]) -> float:
    return polarity(" ".join(tokens)) if tokens else 0.0


def _clause(tokens: Sequence[str], start: int, end: int, boundaries: frozenset[str]) -> list[str]:
    """The tokens around [start, end) up to (not including) the nearest boundary token on each side."""
    lowered = [t.lower() for t in tokens]
    left = start
    while left > 0 and lowered[left - 1] not in boundaries:
        left -= 1
    right = end
    while right < len(tokens) and lowered[right] not in boundaries:
        right += 1
    return list(tokens[left:right])


def term_features(tokens: Sequence[str], start: int, end: int) -> dict[str, float]:
    """Features of the term tokens[start:end] in its sentence."""
    lowered = [t.lower() for t in tokens]
    lexicon = _vader().lexicon
    features: dict[str, float] = {
        "sentence": _compound(tokens),
        "clause": _compound(_clause(tokens, start, end, CONTRAST | SEPARATORS)),
        "contrast_clause": _compound(_clause(tokens, start, end, CONTRAST | frozenset({";"}))),
    }
    near_positive = near_negative = 0.0
    for i, word in enumerate(lowered):
        if start <= i < end:
            features[f"term={word}"] = 1.0
            continue
        distance = start - i if i < start else i - end + 1
        valence = lexicon.get(word, 0.0)
        near_positive += max(valence, 0.0) / distance
        near_negative += min(valence, 0.0) / distance
        if distance <= WINDOW:
            side = "before" if i < start else "after"
            features[f"{side}={word}"] = features.get(f"{side}={word}", 0.0) + 1.0 / distance
    features["near_positive"], features["near_negative"] = near_positive, near_negative
    return features


def training_terms(rows: Iterable[dict]) -> tuple[list[dict[str, float]], list[str]]:
    """(features, gold class) of every aspect term of labelled sentences ({tokens, labels "T-POS"...})."""
    features, classes = [], []
    for row in rows:
        for start, end in spans(bio_labels(row["labels"])):
            features.append(term_features(row["tokens"], start, end))
            classes.append(row["labels"][start][2:])
    return features, classes


class AspectSentiment:
    """A fitted term-polarity classifier (DictVectorizer + logistic regression), saved as data (udfs.model_files),
    never as a pickle."""

    def __init__(self, model) -> None:
        self.model = model

    @staticmethod
    def fit(features: list[dict[str, float]], classes: list[str], regularisation: float = 0.3) -> AspectSentiment:
        """Fit on term features and their classes (NEG / NEU / POS); `regularisation` is the inverse L2 weight
        (chosen among 0.1 / 0.3 / 1 / 3 by macro-F1 on the dev splits with the train splits fitted, never on
        the test splits)."""
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        model = make_pipeline(DictVectorizer(), LogisticRegression(C=regularisation, class_weight="balanced",
                                                                   max_iter=2000))
        return AspectSentiment(model.fit(features, classes))

    def probabilities(self, features: list[dict[str, float]]) -> np.ndarray:
        """Per term, the probability of NEG, NEU and POS (columns in CLASSES order)."""
        if not features:
            return np.zeros((0, len(CLASSES)))
        order = [list(self.model.classes_).index(c) for c in CLASSES]
        return self.model.predict_proba(features)[:, order]

    def predict(self, features: list[dict[str, float]]) -> list[str]:
        return [CLASSES[i] for i in self.probabilities(features).argmax(axis=1)]

    def score(self, features: list[dict[str, float]]) -> np.ndarray:
        """P(positive) - P(negative) per term, in [-1, 1]."""
        p = self.probabilities(features)
        return p[:, 2] - p[:, 0]

    def save(self, directory: Path) -> None:
        save_pipeline(self.model, directory, MODEL_STEM)

    @staticmethod
    def load(directory: Path) -> AspectSentiment:
        return AspectSentiment(load_pipeline(directory, MODEL_STEM))


@dataclass
class AspectModels:
    """What the sentences stage runs per sentence: the term extractor and the term-polarity classifier, trained
    together, saved together (one model-store version)."""

    extractor: AspectExtractor
    sentiment: AspectSentiment

    def save(self, directory: Path) -> None:
        self.extractor.save(directory)
        self.sentiment.save(directory)

    @staticmethod
    def load(directory: Path) -> AspectModels:
        return AspectModels(AspectExtractor.load(directory), AspectSentiment.load(directory))

    def analyse(self, sentences: Sequence[str]) -> tuple[list[list[str]], list[list[float]]]:
        """Per sentence, its aspect terms (lower-cased, as written) and each term's polarity in [-1, 1]."""
        tokenised = [tokenize(s) for s in sentences]
        found = [spans(tags) for tags in self.extractor.tag(tokenised)]
        features = [term_features(tokens, a, b) for tokens, ranges in zip(tokenised, found, strict=True)
                    for a, b in ranges]
        scores = iter(self.sentiment.score(features).tolist())
        terms = [[" ".join(tokens[a:b]).lower() for a, b in ranges]
                 for tokens, ranges in zip(tokenised, found, strict=True)]
        return terms, [[float(next(scores)) for _ in ranges] for ranges in found]


def train_default_sentiment() -> AspectSentiment:
    """The term-polarity classifier trained on the shipped SemEval training sentences (both domains)."""
    return AspectSentiment.fit(*training_terms(read_training_data()))


def train_default_models() -> AspectModels:
    from udfs.aspects import train_default

    return AspectModels(train_default(), train_default_sentiment())


def models_fingerprint() -> str:
    """Changes when the training data or either model's feature design changes."""
    return f"{training_fingerprint()}-s{FEATURES_VERSION}-f{MODEL_FORMAT}"

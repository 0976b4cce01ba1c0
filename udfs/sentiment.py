"""Sentiment models and their plain-Python core (texts -> labels, probabilities, score).

Models, all behind `SentimentModel`:
- `BaseModel`: the n-gram model trained once on a general corpus of rated reviews (reviewlake.base_sentiment),
  for cold start; the corpus holds only negative and positive reviews, so neutral is a band around 50/50.
- `LexiconModel`: VADER (lexicon shipped in the PyPI package); cold start when asked or without a base model.
- `NgramModel`: TF-IDF word 1-2-grams + char 2-5-grams, class-balanced logistic regression (fast tier).
- `EncoderHeadModel`: frozen all-MiniLM-L6-v2 embeddings + logistic head (transformer tier).
- `FineTunedModel` (udfs/finetune.py): MiniLM fine-tuned end to end (transformer tier, needs torch).
- `ViveknModel` (jobs/sentiment.py): Spark NLP's Vivekn naive Bayes, run in the JVM (fast tier); its binary
  output is turned into three classes here (`vivekn_positive_share`, `vivekn_cuts`, `vivekn_probabilities`).
The Spark UDF in jobs/sentiment.py calls `predict_frame`; nothing here imports Spark.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from udfs.model_files import load_pipeline, save_pipeline

LABELS = ("negative", "neutral", "positive")
NEGATIVE, NEUTRAL, POSITIVE = range(3)


def rating_to_label(rating: float | None) -> int | None:
    """Stars -> class: below 3 negative, 3 neutral, above 3 positive (halves fall on their side)."""
    if rating is None or (isinstance(rating, float) and math.isnan(rating)):
        return None
    return NEGATIVE if rating < 3 else NEUTRAL if rating == 3 else POSITIVE


def _texts(texts: Sequence[str | None]) -> list[str]:
    return ["" if t is None or (isinstance(t, float) and math.isnan(t)) else str(t) for t in texts]


class SentimentModel(ABC):
    """Texts -> (n, 3) class probabilities in LABELS order."""

    kind: str

    @abstractmethod
    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write the model's files into `directory` (metadata.json is the model store's)."""

    @classmethod
    def load(cls, directory: Path) -> SentimentModel:
        return cls()


def predict_frame(model: SentimentModel, texts: Sequence[str | None]) -> pd.DataFrame:
    """The UDF core: label, score (= p_positive - p_negative, in [-1, 1]) and the three probabilities."""
    return probability_frame(model.predict_proba(_texts(texts)) if len(texts) else np.zeros((0, 3)))


def probability_frame(probabilities: np.ndarray) -> pd.DataFrame:
    """(n, 3) probabilities in LABELS order -> label (the most probable), score and the three probabilities."""
    return pd.DataFrame({
        "label": np.asarray(LABELS, dtype=object)[probabilities.argmax(axis=1)] if len(probabilities) else [],
        "score": probabilities[:, POSITIVE] - probabilities[:, NEGATIVE],
        "prob_negative": probabilities[:, NEGATIVE],
        "prob_neutral": probabilities[:, NEUTRAL],
        "prob_positive": probabilities[:, POSITIVE],
    })


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class LexiconModel(SentimentModel):
    """VADER compound score mapped to probabilities; |compound| < 0.05 reads as neutral (VADER's own rule)."""

    kind = "vader"
    SHARPNESS = 30.0
    NEUTRAL_BAND = 0.05

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()

    def save(self, directory: Path) -> None:
        """Nothing to write: the lexicon ships with the vaderSentiment package."""

    def compound(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([self._analyzer.polarity_scores(t)["compound"] if t else 0.0 for t in texts])

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        c = self.compound(texts)
        positive = _sigmoid(self.SHARPNESS * (c - self.NEUTRAL_BAND))
        negative = _sigmoid(self.SHARPNESS * (-c - self.NEUTRAL_BAND))
        neutral = np.clip(1.0 - positive - negative, 0.0, None) + 1e-6
        stacked = np.stack([negative, neutral, positive], axis=1)
        return stacked / stacked.sum(axis=1, keepdims=True)


def _full_proba(classes: np.ndarray, partial: np.ndarray) -> np.ndarray:
    """Probabilities over all three labels when training saw only some of them."""
    full = np.zeros((partial.shape[0], len(LABELS)))
    full[:, classes.astype(int)] = partial
    return full


PIPELINE_STEM = "pipeline"
LEGACY_PICKLE = "pipeline.joblib"


class PickledModel(ValueError):
    """A model directory from before models were saved without pickle."""


def saved_as_pickle(directory: str | Path) -> bool:
    """True for a model directory an earlier version wrote with joblib (pickle), which is never loaded."""
    directory = Path(directory)
    return (directory / LEGACY_PICKLE).exists() and not (directory / f"{PIPELINE_STEM}.npz").exists()


class NgramModel(SentimentModel):
    """TF-IDF word 1-2-grams + char_wb 2-5-grams -> class-balanced logistic regression."""

    kind = "ngram"

    def __init__(self, pipeline=None) -> None:
        self.pipeline = pipeline

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[int], c: float = 4.0,
              max_features: int = 400_000, sample_weight: Sequence[float] | None = None) -> NgramModel:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline, make_union

        features = make_union(
            TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=max_features, sublinear_tf=True,
                            dtype=np.float32),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=3, max_features=max_features,
                            sublinear_tf=True, dtype=np.float32),
        )
        # Balanced class weights: real reviews are >90 % positive and macro-F1 is what we select on.
        head = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
        pipeline = make_pipeline(features, head)
        pipeline.fit(_texts(texts), np.asarray(labels), logisticregression__sample_weight=sample_weight)
        return cls(pipeline)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        head = self.pipeline[-1]
        return _full_proba(head.classes_, self.pipeline.predict_proba(_texts(texts)))

    def save(self, directory: Path) -> None:
        save_pipeline(self.pipeline, directory, PIPELINE_STEM)

    @classmethod
    def load(cls, directory: Path) -> NgramModel:
        if saved_as_pickle(directory):
            raise PickledModel(f"{directory} holds a model an earlier version saved as a pickle, which is no longer "
                               "loaded (loading a pickle can run code): retrain it (`reviewlake run --stages "
                               "sentiment --retrain`) or use a model saved by this version")
        return cls(load_pipeline(directory, PIPELINE_STEM))


class DistilledModel(NgramModel):
    """The fast tier taught by a slower model: the n-gram recipe trained on a teacher's labels of many reviews,
    rated or not (each weighted by the teacher's confidence), instead of on the stars of the rated ones."""

    kind = "distilled"

    @classmethod
    def distil(cls, teacher: SentimentModel, texts: Sequence[str]) -> DistilledModel:
        probabilities = teacher.predict_proba(_texts(texts))
        return cls(NgramModel.train(texts, probabilities.argmax(axis=1),
                                    sample_weight=probabilities.max(axis=1)).pipeline)


class BaseModel(NgramModel):
    """An n-gram model trained on negative and positive reviews only: P(positive | polar) = p; the closer p is
    to 1/2, the more of the mass goes to neutral (neutral = max(0, 1 - |p - 1/2| / neutral_band)), the rest is
    split p : 1 - p. The band is chosen once, on data that has neutral labels (reviewlake.base_sentiment)."""

    kind = "base_ngram"

    def __init__(self, pipeline=None, neutral_band: float = 0.2) -> None:
        super().__init__(pipeline)
        self.neutral_band = neutral_band

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[int], neutral_band: float = 0.2) -> BaseModel:
        labels = np.asarray(labels)
        if set(np.unique(labels)) != {NEGATIVE, POSITIVE}:
            raise ValueError("the base model trains on negative and positive reviews only, both present")
        return cls(NgramModel.train(texts, labels).pipeline, neutral_band)

    def polar_positive(self, texts: Sequence[str]) -> np.ndarray:
        """P(positive | negative or positive) per text."""
        probabilities = super().predict_proba(texts)
        return probabilities[:, POSITIVE] / np.clip(probabilities[:, POSITIVE] + probabilities[:, NEGATIVE], 1e-12,
                                                    None)

    def with_band(self, neutral_band: float) -> BaseModel:
        return BaseModel(self.pipeline, neutral_band)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return base_probabilities(self.polar_positive(texts), self.neutral_band)

    def save(self, directory: Path) -> None:
        super().save(directory)
        (Path(directory) / "base.json").write_text(json.dumps({"neutral_band": self.neutral_band}))

    @classmethod
    def load(cls, directory: Path) -> BaseModel:
        band = json.loads((Path(directory) / "base.json").read_text())["neutral_band"]
        return cls(NgramModel.load(directory).pipeline, band)


def base_probabilities(polar_positive: np.ndarray, neutral_band: float) -> np.ndarray:
    """(n, 3) probabilities from P(positive | polar) and the neutral band (see BaseModel)."""
    p = np.asarray(polar_positive, dtype=float)
    neutral = np.clip(1.0 - np.abs(p - 0.5) / neutral_band, 0.0, 1.0)
    return np.stack([(1 - neutral) * (1 - p), neutral, (1 - neutral) * p], axis=1)


class EncoderHeadModel(SentimentModel):
    """Frozen MiniLM embeddings -> logistic regression head (weights kept as plain arrays)."""

    kind = "encoder_head"

    def __init__(self, coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray, device: str = "auto") -> None:
        self.coef, self.intercept, self.classes = coef, intercept, classes
        self.device = device
        self._encoder = None

    @property
    def encoder(self):
        if self._encoder is None:
            from udfs.encoder import SentenceEncoder

            self._encoder = SentenceEncoder(self.device)
        return self._encoder

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[int], embeddings: np.ndarray | None = None,
              device: str = "auto") -> EncoderHeadModel:
        from sklearn.linear_model import LogisticRegression

        model = cls(np.zeros(0), np.zeros(0), np.zeros(0), device)
        embeddings = model.encoder.encode(_texts(texts)) if embeddings is None else embeddings
        head = LogisticRegression(C=4.0, class_weight="balanced", max_iter=3000).fit(embeddings, np.asarray(labels))
        model.coef, model.intercept, model.classes = head.coef_, head.intercept_, head.classes_
        return model

    def proba_from_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        logits = embeddings @ self.coef.T + self.intercept
        if logits.shape[1] == 1:  # binary head: sklearn keeps one column
            logits = np.hstack([-logits, logits]) / 2
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return _full_proba(self.classes, exp / exp.sum(axis=1, keepdims=True))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.proba_from_embeddings(self.encoder.encode(_texts(texts)))

    def save(self, directory: Path) -> None:
        np.savez(Path(directory) / "head.npz", coef=self.coef, intercept=self.intercept, classes=self.classes)

    @classmethod
    def load(cls, directory: Path, device: str = "auto") -> EncoderHeadModel:
        arrays = np.load(Path(directory) / "head.npz")
        return cls(arrays["coef"], arrays["intercept"], arrays["classes"], device)


# Vivekn (Spark NLP's ViveknSentimentApproach, trained and run in jobs/sentiment.py) is binary: per review it
# answers positive or negative with a "confidence", or "na" when it knows none of the review's words. That
# confidence is the share of the raw training counts of the review's features that back the winning side, not
# a calibrated probability: it leans towards whichever side had more training text, so "neutral = confidence
# near 0.5" would be wrong. Measured on 20k synthetic reviews (negatives repeated to balance the classes), the
# positive share of held-out reviews (10th-90th percentile) was 0.30-0.54 for 1-2 stars, 0.57-0.66 for 3 and
# 0.66-0.75 for 4-5.
# So the confidence is read as one positive share and two cut points, learned on the newest training rows
# (never on the holdout), split it into negative | neutral | positive; "na" (no evidence) is neutral.
VIVEKN_CUT_QUANTILES = 41                     # candidate cut points: midpoints between these quantiles
VIVEKN_DEFAULT_CUTS = (1 / 3, 2 / 3)          # when the tuning rows hold fewer than 3 distinct verdicts


def vivekn_positive_share(results: Sequence[str | None], confidences: Sequence[float | None]) -> np.ndarray:
    """Vivekn's confidence turned towards "positive" (c, or 1 - c for a negative verdict); NaN for no verdict."""
    result = np.asarray([r or "na" for r in results], dtype=object)
    confidence = pd.to_numeric(pd.Series(list(confidences), dtype=object), errors="coerce").to_numpy(float)
    # Spark NLP writes the confidence as the first 6 characters of Java's Double.toString: below 0.001 that is
    # scientific notation cut short ("1.2345E-4" -> "1.2345"); a confidence above 1 can only be such a value.
    confidence = np.where(confidence > 1, 0.0, confidence)
    share = np.where(result == "positive", confidence, np.where(result == "negative", 1 - confidence, np.nan))
    return np.where(np.isnan(confidence), np.nan, share)


def vivekn_probabilities(positive_share: np.ndarray, cuts: tuple[float, float]) -> np.ndarray:
    """(n, 3) probabilities: negative below cuts[0], positive above cuts[1], neutral between them or for NaN.

    The share is mapped piecewise-linearly to a polarity x in [-1, 1] with the cuts at -1/3 and 1/3; the
    probabilities are proportional to (max(-x, 0), (1 - |x|) / 2, max(x, 0)), whose largest entry switches
    class at the cuts and whose score (p_positive - p_negative) rises with the share.
    """
    share = np.asarray(positive_share, dtype=float)
    lower, upper = cuts
    x = np.where(np.isnan(share), 0.0, np.interp(share, [0.0, lower, upper, 1.0], [-1.0, -1 / 3, 1 / 3, 1.0]))
    weights = np.stack([np.maximum(-x, 0.0), (1 - np.abs(x)) / 2, np.maximum(x, 0.0)], axis=1)
    return weights / weights.sum(axis=1, keepdims=True)


def vivekn_cuts(y_true: Sequence[int], positive_share: np.ndarray) -> tuple[float, float]:
    """The (lower, upper) cut points with the best macro-F1 on the rows given (the newest training rows)."""
    from sklearn.metrics import f1_score

    y_true = np.asarray(y_true)
    share = np.asarray(positive_share, dtype=float)
    observed = share[~np.isnan(share)]
    grid = (np.unique(np.quantile(observed, np.linspace(0, 1, VIVEKN_CUT_QUANTILES), method="lower"))
            if len(observed) else np.zeros(0))
    # Midpoints between observed values: no tuning row sits on a cut, and every class keeps some tuning rows.
    candidates = (grid[:-1] + grid[1:]) / 2
    best, best_f1 = VIVEKN_DEFAULT_CUTS, -1.0
    for i, lower in enumerate(candidates):
        for upper in candidates[i + 1:]:
            predicted = vivekn_probabilities(share, (lower, upper)).argmax(axis=1)
            f1 = f1_score(y_true, predicted, labels=list(range(len(LABELS))), average="macro", zero_division=0)
            if f1 > best_f1:
                best, best_f1 = (float(lower), float(upper)), f1
    return best


def model_class(kind: str) -> type[SentimentModel]:
    """The class that loads a saved model of `kind`."""
    if kind == "vivekn":
        raise ValueError("a vivekn model runs in Spark: load it with jobs.sentiment.load_model(directory, spark)")
    if kind == "finetuned":
        from udfs.finetune import FineTunedModel

        return FineTunedModel
    classes = {c.kind: c for c in (LexiconModel, NgramModel, DistilledModel, BaseModel, EncoderHeadModel)}
    if kind not in classes:
        raise ValueError(f"unknown sentiment model kind {kind!r}")
    return classes[kind]


def load_model_metadata(directory: str | Path) -> dict:
    return json.loads((Path(directory) / "metadata.json").read_text())


def load_model(directory: str | Path) -> SentimentModel:
    """Load a saved model directory (its metadata.json names the kind)."""
    return model_class(load_model_metadata(directory)["kind"]).load(Path(directory))


def classification_metrics(y_true: Sequence[int], probabilities: np.ndarray) -> dict[str, float]:
    """Macro-F1 first; balanced accuracy, Cohen's kappa, accuracy, binary macro-F1 (3-star rows excluded,
    negative vs positive by the larger of the two probabilities) and the 3x3 confusion matrix."""
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        cohen_kappa_score,
        confusion_matrix,
        f1_score,
    )

    y_true = np.asarray(y_true)
    y_pred = probabilities.argmax(axis=1)
    labels = list(range(len(LABELS)))
    metrics = {
        "macro_f1": f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
        "balanced_accuracy": balanced_accuracy_score(y_true, y_pred),
        "cohen_kappa": cohen_kappa_score(y_true, y_pred, labels=labels),
        "accuracy": accuracy_score(y_true, y_pred),
    }
    polar = y_true != NEUTRAL
    if polar.any():
        binary_pred = np.where(probabilities[polar, POSITIVE] >= probabilities[polar, NEGATIVE], POSITIVE, NEGATIVE)
        metrics["binary_macro_f1"] = f1_score(y_true[polar], binary_pred, labels=[NEGATIVE, POSITIVE],
                                              average="macro", zero_division=0)
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    for i, true_label in enumerate(LABELS):
        for j, predicted in enumerate(LABELS):
            metrics[f"confusion.{true_label}.{predicted}"] = float(matrix[i, j])
    metrics["n"] = float(len(y_true))
    return {k: float(v) for k, v in metrics.items()}

"""Sentence-level text tools shared by the summarizer and the tag miner (plain Python, no Spark).

Sentences themselves come from silver.review_sentences (Spark NLP's SentenceDetector, Tokenizer and YAKE in
the sentences stage); this module decides which of them a summary may quote and gives each a polarity.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

import numpy as np
import pandas as pd

from udfs.text_normalization import EMAIL_TOKEN, PHONE_TOKEN, URL_TOKEN, redact_pii

MIN_WORDS, MAX_WORDS = 4, 40
WORD = re.compile(r"[a-z][a-z'-]*")
PII_TOKENS = (EMAIL_TOKEN, PHONE_TOKEN, URL_TOKEN)


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def carries_pii(sentence: str) -> bool:
    """A redaction placeholder, or anything the redactor would still change, marks a sentence as unusable."""
    return any(token in sentence for token in PII_TOKENS) or redact_pii(sentence) != sentence


def usable(sentence: str) -> bool:
    n = len(sentence.split())
    return MIN_WORDS <= n <= MAX_WORDS and not carries_pii(sentence)


@cache
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


@lru_cache(maxsize=200_000)   # review sentences repeat across reviews and products
def polarity(sentence: str) -> float:
    """VADER compound score in [-1, 1] of one sentence."""
    return float(_vader().polarity_scores(sentence)["compound"])


# A sentence inherits part of its review's tone: "could be much better" reads positive to a lexicon.
LEXICON_SHARE, REVIEW_SHARE = 0.7, 0.3


def review_tone(rating: pd.Series, sentiment_score: pd.Series | None = None) -> pd.Series:
    """Per review in [-1, 1]: the sentiment stage's score where present, else the stars ((rating - 3) / 2)."""
    stars = (pd.to_numeric(rating, errors="coerce") - 3) / 2
    return stars if sentiment_score is None else pd.to_numeric(sentiment_score, errors="coerce").fillna(stars)


def with_tone(lexical: pd.Series, tone: pd.Series) -> pd.Series:
    """A sentence-level (or term-level) lexical polarity blended with its review's tone where that is known."""
    return (LEXICON_SHARE * lexical + REVIEW_SHARE * tone).where(tone.notna(), lexical)


def usable_sentences(sentences: pd.DataFrame) -> pd.DataFrame:
    """The quotable rows (PII-free, 4-40 words) of silver.review_sentences rows carrying `sentence`,
    `lexicon_polarity` and optionally the review's `tone`; adds polarity (the lexicon blended with the tone)
    and lexical_polarity (the sentence alone). Row order is kept."""
    kept = sentences[np.fromiter((usable(s) for s in sentences["sentence"]), bool, len(sentences))]
    lexical = pd.to_numeric(kept["lexicon_polarity"], errors="coerce").astype(float)
    missing = lexical.isna()
    if missing.any():   # rows the sentences stage left unscored only: VADER is the cost here
        lexical[missing] = kept.loc[missing, "sentence"].map(polarity)
    tone = pd.to_numeric(kept["tone"], errors="coerce") if "tone" in kept else pd.Series(np.nan, index=kept.index)
    return kept.assign(polarity=with_tone(lexical, tone).astype(float), lexical_polarity=lexical.astype(float))


@cache
def english_stop_words() -> frozenset[str]:
    """Spark ML's English stop-word list (the one the sentences stage's StopWordsCleaner removes), read from
    Spark's own MLlib jar: function words only, no content word such as 'system' or 'computer'."""
    import os
    import zipfile
    from pathlib import Path

    import pyspark
    from pyspark.find_spark_home import _find_spark_home

    # A Python worker may import pyspark from a zip, so the jar is looked up under SPARK_HOME as well.
    homes = [Path(pyspark.__file__).parent, Path(os.environ.get("SPARK_HOME") or _find_spark_home())]
    jar = next((j for home in homes for j in sorted((home / "jars").glob("spark-mllib_*.jar"))), None)
    if jar is None:
        raise RuntimeError(f"Spark's MLlib jar (its stop-word list) is not under {', '.join(map(str, homes))}")
    with zipfile.ZipFile(jar) as archive:
        return frozenset(archive.read("org/apache/spark/ml/feature/stopwords/english.txt").decode().split())


@cache
def sentiment_words(min_valence: float = 0.5) -> frozenset[str]:
    """Words whose VADER valence reaches `min_valence` in size (they judge an aspect, they are not one)."""
    return frozenset(word for word, valence in _vader().lexicon.items() if abs(valence) >= min_valence)

"""Sentence-level text tools shared by the summarizer and the tag miner (plain Python, no Spark).

Spark NLP would do sentence detection, tokenising, normalising, stop words and YAKE inside the JVM, but its
Spark 4 build is not published on Maven Central (see README), so these are the Python equivalents: segtok's
rule-based sentence splitter, a regex tokenizer, YAKE (`yake`), VADER for sentence polarity.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

import numpy as np
import pandas as pd

from udfs.text_normalization import EMAIL_TOKEN, PHONE_TOKEN, URL_TOKEN, redact_pii

MIN_WORDS, MAX_WORDS = 4, 40
WORD = re.compile(r"[a-z][a-z'-]*")
# Discourse openers a summary writer would drop: removing them compresses a sentence without changing it.
OPENERS = re.compile(r"^(?:honestly|overall|i think|for me|after (?:a|one|two|three) (?:day|week|month)s?|"
                     r"so far|to be fair|to be honest|in short|all in all|frankly),?\s+", re.IGNORECASE)
PII_TOKENS = (EMAIL_TOKEN, PHONE_TOKEN, URL_TOKEN)


def split_sentences(text: str | None) -> list[str]:
    """Sentences of a review, whitespace-normalised (rule-based, deterministic)."""
    from segtok.segmenter import split_multi

    if not text:
        return []
    return [" ".join(s.split()) for s in split_multi(str(text)) if s.strip()]


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def carries_pii(sentence: str) -> bool:
    """A redaction placeholder, or anything the redactor would still change, marks a sentence as unusable."""
    return any(token in sentence for token in PII_TOKENS) or redact_pii(sentence) != sentence


def compress(sentence: str) -> str:
    """Drop a leading discourse opener and re-capitalise: the same statement, shorter."""
    shorter = OPENERS.sub("", sentence.strip())
    return shorter[:1].upper() + shorter[1:] if shorter else sentence.strip()


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


def review_sentences(reviews: pd.DataFrame) -> pd.DataFrame:
    """Usable sentences (PII-free, 4-40 words, compressed) of reviews with columns review_id, review_date, text
    and optionally tone; columns review_id, review_date, sentence, polarity (lexicon blended with the tone),
    lexical_polarity (the sentence alone)."""
    tones = reviews["tone"] if "tone" in reviews else pd.Series(np.nan, index=reviews.index)
    rows = []
    for review_id, review_date, text, tone in zip(reviews["review_id"], reviews["review_date"], reviews["text"],
                                                  tones, strict=True):
        for sentence in split_sentences(text):
            if usable(sentence):
                lexical = polarity(sentence)
                blended = lexical if pd.isna(tone) else LEXICON_SHARE * lexical + REVIEW_SHARE * float(tone)
                rows.append((review_id, review_date, compress(sentence), blended, lexical))
    return pd.DataFrame(rows, columns=["review_id", "review_date", "sentence", "polarity", "lexical_polarity"])


@cache
def sentiment_words(min_valence: float = 0.5) -> frozenset[str]:
    """Words whose VADER valence reaches `min_valence` in size (they judge an aspect, they are not one)."""
    return frozenset(word for word, valence in _vader().lexicon.items() if abs(valence) >= min_valence)

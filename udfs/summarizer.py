"""Extractive summary of one product's reviews (plain Python): a 40-70-word paragraph (never over 80) of the
product's most representative statements, plus pros and cons.

Sentences come from silver.review_sentences through udfs.sentences.usable_sentences (PII-free, with
polarity). Each distinct sentence gets a centrality, the mean of two views of "what most reviews say":
    - semantic: cosine of its MiniLM embedding to the product's centroid (the mean embedding of all its
      sentences, each counted as often as reviewers wrote it);
    - lexical: its mean TF-IDF cosine to all the product's sentences (same counting; TF-IDF fitted on this
      product's sentences alone, a degree-centrality cousin of LexRank), relative to the most central one,
so a sentence must both mean and word what many reviews do.
Candidates are opinions or statements naming an aspect (tag); questions are not statements. Selection is greedy
maximal marginal relevance under a word budget:
    gain = lam * centrality - (1 - lam) * max MiniLM similarity to what is already chosen
           + ASPECT_BONUS if it names an aspect (tag) not yet covered, - COVERED_PENALTY if all it names is
           + AGREEMENT_BONUS * (+1 if it agrees with the reviews' majority tone on its aspects, -1 if not)
           + OPINION_BONUS if it is polar
           - BALANCE_WEIGHT * |positive share of the chosen polar statements - that share in all reviews|
and each step takes the statement with the best gain per sqrt(words) among those whose gain reaches MIN_GAIN
(the cost-scaled greedy of budgeted summarization, Lin & Bilmes 2010, with r = 0.5): a short "Easy to empty."
that says as much as a 30-word story costs a fraction of the budget, while gain per word (r = 1) would let the
shortest fragments win on length alone. Statements are added while they fit max_words, and past min_words
while they fit target_words. So the paragraph says what most reviews say, does not repeat itself, covers
several aspects, states the majority view on each, and keeps the reviews' balance of praise and complaint.
The main complaint is made explicit: as soon as the reviews' complaint share, applied to the polar statements
chosen so far plus one, rounds to one statement and none is chosen yet, the next pick is the complaint with the
best gain per sqrt(words) (if one reaches MIN_GAIN and fits). Statements are ordered praise, neutral,
complaint. The lexical half of the centrality, r, filling up to target_words, the question rule and the
complaint rule were chosen on the even-indexed OPOSUM products (bench/text_quality_real.py) and checked on the
odd ones; the other weights predate them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SummarySettings:
    """Extractive summary settings ([summarize] in the config file; min_reviews is the job's)."""

    min_reviews: int = 3
    min_words: int = 40
    target_words: int = 70
    max_words: int = 80
    max_sentences: int = 200      # newest sentences considered per product (embedding is the cost)
    mmr_lambda: float = 0.6
    n_pros: int = 3
    n_cons: int = 3


POLAR = 0.2                 # |polarity| from which a sentence is praise or complaint
ASPECT_BONUS = 0.08
COVERED_PENALTY = 0.3
MIN_GAIN = 0.05             # below this a statement only repeats: a shorter summary beats padding
AGREEMENT_BONUS = 0.1
BALANCE_WEIGHT = 0.3
OPINION_BONUS = 0.05        # a summary states opinions; "We got this for our new apartment" is not one
LENGTH_COST_EXPONENT = 0.5  # gain per words ** r: r = 1 would favour fragments, r = 0 long stories


@dataclass
class Summary:
    summary: str
    pros: list[str] = field(default_factory=list)
    cons: list[str] = field(default_factory=list)
    sentences_used: list[str] = field(default_factory=list)
    share_positive_statements: float | None = None


def _normalise(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)


def _word_count(text: str) -> int:
    return len(text.split())


def summarize(sentences: pd.DataFrame, embed: Callable[[list[str]], np.ndarray],
              settings: SummarySettings | None = None, aspects: tuple[str, ...] = ()) -> Summary:
    """Summary of one product from its review sentences (columns sentence, polarity; newest last)."""
    settings = settings or SummarySettings()
    if sentences.empty:
        return Summary("")
    recent = sentences.tail(settings.max_sentences)
    if "lexical_polarity" not in recent:
        recent = recent.assign(lexical_polarity=recent["polarity"])
    # Per distinct sentence: how many reviewers wrote it, its mean polarity (bincount: pandas' groupby costs
    # more than the rest of the summary on small groups).
    codes, distinct = pd.factorize(recent["sentence"], sort=True)
    texts = distinct.tolist()
    support = np.bincount(codes, minlength=len(texts)).astype(float)
    polarity = np.bincount(codes, recent["polarity"].to_numpy(float), len(texts)) / support
    lexical = np.bincount(codes, recent["lexical_polarity"].to_numpy(float), len(texts)) / support
    vectors = _normalise(np.asarray(embed(texts), dtype=np.float32))
    centroid = _normalise((vectors * support[:, None]).sum(0, keepdims=True))[0]
    # The MiniLM centroid alone rates a vague on-topic sentence as central as a specific one; shared words pull
    # towards the statements many reviewers word alike ("easy to empty", "the cord is short").
    centrality = 0.5 * (vectors @ centroid) + 0.5 * _lexical_centrality(texts, support)
    polar = np.abs(polarity) >= POLAR
    target_positive = float((support * (polarity >= POLAR)).sum() / max((support * polar).sum(), 1e-9))
    aspect_patterns = [re.compile(rf"\b{re.escape(a)}", re.IGNORECASE) for a in aspects]
    names = [{i for i, p in enumerate(aspect_patterns) if p.search(t)} for t in texts]
    weighted = support * polarity
    aspect_tone = [sum(weighted[i] for i in range(len(texts)) if a in names[i]) for a in range(len(aspects))]
    agreement = np.array([np.mean([1.0 if np.sign(polarity[i]) == np.sign(aspect_tone[a]) else -1.0
                                   for a in names[i]]) if names[i] else 0.0 for i in range(len(texts))])

    # Opinions and aspect statements only ("We got this for our new apartment" says nothing about the product),
    # unless the reviews hold nothing else.
    eligible = (np.abs(lexical) >= POLAR) | np.array([bool(n) for n in names])
    # A question ("Is there a setting I missed?") states nothing about the product.
    eligible &= np.array([not t.rstrip().endswith("?") for t in texts])
    if not eligible.any():
        eligible[:] = True
    n_words = np.array([_word_count(t) for t in texts])
    cost = n_words.astype(float) ** LENGTH_COST_EXPONENT
    positive = polarity >= POLAR
    complaint = polarity <= -POLAR
    base_gain = settings.mmr_lambda * centrality + OPINION_BONUS * polar + AGREEMENT_BONUS * agreement
    chosen: list[int] = []
    words = 0
    covered: set[int] = set()
    closest = np.zeros(len(texts))   # max similarity to a chosen statement (0 before the first pick)
    while True:
        # Past min_words only what still fits target_words: a statement that fits beats stopping early.
        budget = settings.target_words if words >= settings.min_words else settings.max_words
        open_ = eligible & (words + n_words <= budget)
        open_[chosen] = False
        if not open_.any():
            break
        new_aspect = np.array([bool(n - covered) for n in names])
        only_covered = np.array([bool(n) and n <= covered for n in names])
        gain = base_gain - (1 - settings.mmr_lambda) * closest + ASPECT_BONUS * new_aspect \
            - COVERED_PENALTY * only_covered
        # Balance of the chosen polar statements if this one joined them (no term while there are none).
        n_polar = polar[chosen].sum() + polar
        n_positive = (positive[chosen] & polar[chosen]).sum() + (positive & polar)
        share = np.divide(n_positive, n_polar, out=np.zeros(len(texts)), where=n_polar > 0)
        gain -= np.where(n_polar > 0, BALANCE_WEIGHT * np.abs(share - target_positive), 0.0)
        worth = open_ & (gain >= MIN_GAIN)
        # The main complaint: once the reviews' share of complaints, applied to the polar statements chosen so far
        # and this one, rounds to one statement, the next one is the best complaint (when one is worth its words).
        # The balance term alone lets well-liked aspects crowd out a complaint a quarter of the reviews make.
        due = not complaint[chosen].any() and (polar[chosen].sum() + 1) * (1 - target_positive) >= 0.5
        if due and (worth & complaint).any():
            worth &= complaint
        if not worth.any():
            break
        best = int(np.argmax(np.where(worth, gain / cost, -np.inf)))
        chosen.append(best)
        words += int(n_words[best])
        covered |= names[best]
        closest = vectors @ vectors[best] if len(chosen) == 1 else np.maximum(closest, vectors @ vectors[best])
    # Praise first, then neutral statements, then complaints; within each, the most central first.
    ordered = sorted(chosen, key=lambda i: (0 if polarity[i] >= POLAR else 2 if polarity[i] <= -POLAR else 1,
                                            -centrality[i], texts[i]))
    paragraph = " ".join(_as_sentence(texts[i]) for i in ordered)
    return Summary(
        summary=paragraph,
        pros=_best_of(np.flatnonzero(polarity >= POLAR), texts, vectors, centrality, settings.n_pros),
        cons=_best_of(np.flatnonzero(polarity <= -POLAR), texts, vectors, centrality, settings.n_cons),
        sentences_used=[texts[i] for i in ordered],
        share_positive_statements=target_positive if polar.any() else None,
    )


def _lexical_centrality(texts: list[str], support: np.ndarray) -> np.ndarray:
    """Per distinct sentence: its mean TF-IDF cosine to the product's sentences (each counted `support` times),
    divided by the largest, so in [0, 1] like the MiniLM cosine it is averaged with. TF-IDF is fitted on these
    sentences alone (cheap: no model), so idf weighs words by how rare they are in this product's reviews.
    Zeros when no sentence has a word to compare."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    try:
        tfidf = TfidfVectorizer(sublinear_tf=True).fit_transform(texts)
    except ValueError:   # empty vocabulary: no token of two letters or more in any sentence
        return np.zeros(len(texts))
    mean_similarity = np.asarray(tfidf @ (tfidf.T @ support)).ravel() / support.sum()
    top = mean_similarity.max()
    return mean_similarity / top if top > 0 else np.zeros(len(texts))


def _as_sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def _best_of(candidates: np.ndarray, texts: list[str], vectors: np.ndarray, centrality: np.ndarray,
             n: int) -> list[str]:
    """The n most central candidates, skipping near-repeats of ones already taken (cosine >= 0.8)."""
    taken: list[int] = []
    for i in sorted(candidates.tolist(), key=lambda i: (-centrality[i], texts[i])):
        if all(float(vectors[i] @ vectors[j]) < 0.8 for j in taken):
            taken.append(i)
        if len(taken) == n:
            break
    return [_as_sentence(texts[i]) for i in taken]

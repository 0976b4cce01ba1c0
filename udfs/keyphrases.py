"""Tags of one product from its review sentences (plain Python): the aspect terms udfs.aspects found in them
(silver.sentence_aspects), filtered to aspect-like noun phrases, merged by lemma and by embedding, then counted,
scored for sentiment and trend.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from udfs.sentences import english_stop_words, sentiment_words, with_tone, words


@dataclass(frozen=True)
class TagSettings:
    """Tag mining settings ([tags] in the config file)."""

    max_tags: int = 15
    max_words: int = 3
    max_candidates: int = 40
    min_mentions: int = 2
    merge_similarity: float = 0.85     # cosine above which two tags are one (MiniLM)
    subsumed_share: float = 0.8        # a word whose mentions are mostly inside a longer tag is dropped
    trend_days: int = 30
    min_determiner_share: float = 0.0   # 0.3 kept YAKE's adverbs out; the extractor's terms need no such test


CANDIDATES = "aspect_terms"   # chosen over YAKE's "keyphrases" on the real sets (bench/text_quality_real.py)
DETERMINERS = r"(?:the|its|this|that|my|our|their|your|his|her|a|an)"
STRONG_VALENCE = 2.0     # VADER valence of words that judge ("great", "terrible"), unlike "fresh" (1.3)


def lemma(phrase: str) -> str:
    """Singular form of the last word (enough to merge 'keys' with 'key', 'dishes' with 'dish')."""
    *head, last = phrase.split()
    if last.endswith("ies") and len(last) > 4:
        last = last[:-3] + "y"
    elif last.endswith(("sses", "shes", "ches", "xes")):
        last = last[:-2]
    elif last.endswith("s") and not last.endswith(("ss", "us", "is")) and len(last) > 3:
        last = last[:-1]
    return " ".join([*head, last])


def is_aspect_like(phrase: str, max_words: int) -> bool:
    """Noun-phrase-like: 1..max_words alphabetic words, no stop word (Spark ML's English list), no judging word
    (VADER valence >= STRONG_VALENCE), not ending in a past participle (what an aspect did)."""
    tokens = phrase.split()
    if not 1 <= len(tokens) <= max_words or any(not re.fullmatch(r"[a-z][a-z-]+", t) for t in tokens):
        return False
    if any(t in english_stop_words() or t in sentiment_words(STRONG_VALENCE) for t in tokens):
        return False
    return not (len(tokens[-1]) > 4 and tokens[-1].endswith("ed"))   # "returned", "ordered"


def determiner_share(phrase: str, lowered: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Share of the phrase's mentions that follow a determiner ("the waiter", "its screen"): aspects are
    things reviewers talk about; "very well" or "returned" never follow one. `mask`: mention_mask, if known."""
    pattern = mention_pattern(phrase)
    anchored = re.compile(rf"\b{DETERMINERS}\s+" + pattern.pattern.removeprefix(r"\b"))
    hits = lowered[mention_mask(phrase, lowered) if mask is None else mask]
    return sum(bool(anchored.search(s)) for s in hits) / len(hits) if len(hits) else 0.0


def candidate_phrases(proposals: Iterable[Iterable[str] | None], settings: TagSettings) -> list[str]:
    """The product's aspect-like candidates (per sentence: its aspect terms, or YAKE keyphrases), most often
    proposed first (a phrase proposed in many sentences is one the product's reviewers keep coming back to),
    lower-cased."""
    proposed: Counter[str] = Counter()
    for phrases in proposals:
        proposed.update({" ".join(words(p)) for p in (phrases if phrases is not None else ())})
    ranked = sorted((p for p in proposed if p and is_aspect_like(p, settings.max_words)),
                    key=lambda p: (-proposed[p], p))
    return ranked[: settings.max_candidates]


def extend_phrase(phrase: str, lowered: np.ndarray, settings: TagSettings) -> str:
    """'touch' -> 'touch pad' when the phrase is (almost) always followed by the same content word: keyphrase
    extractors sometimes score a compound's first word alone."""
    if len(phrase.split()) >= settings.max_words:
        return phrase
    containing = [s for s in lowered if phrase in s]   # a plain substring test first: most sentences fail it
    whole = re.compile(rf"\b{re.escape(phrase)}\b")
    total = sum(1 for s in containing if whole.search(s))
    following = re.compile(rf"\b{re.escape(phrase)}\s+([a-z][a-z-]+)")
    nexts = Counter(m.group(1) for s in containing for m in following.finditer(s))
    if not nexts or not total:
        return phrase
    word, count = max(nexts.items(), key=lambda item: (item[1], item[0]))
    extended = f"{phrase} {word}"
    if count / total >= settings.subsumed_share and is_aspect_like(extended, settings.max_words):
        return extended
    return phrase


def _stem(tag: str) -> str:
    base = lemma(tag)
    return base[:-1] if base.endswith("y") else base


def mention_pattern(tag: str) -> re.Pattern[str]:
    """Whole-word match of the tag, singular or plural last word."""
    stem = _stem(tag)
    ending = "(?:y|ies)" if lemma(tag).endswith("y") else "(?:s|es)?"
    return re.compile(rf"\b{re.escape(stem)}{ending}\b")


def mention_mask(tag: str, lowered: np.ndarray) -> np.ndarray:
    """Which of the lower-cased sentences mention the tag (mention_pattern). Every match contains the tag's
    stem verbatim, so a substring test rules out most sentences before the regex runs."""
    stem, pattern = _stem(tag), mention_pattern(tag)
    return np.fromiter((stem in s and pattern.search(s) is not None for s in lowered), bool, len(lowered))


def product_nouns(title: str | None, category: str | None) -> frozenset[str]:
    """Lemmas that name the product itself rather than a part of it: the head (last word) of its title and the
    words of its category ("Zen X14 Laptop" in "Computers" -> laptop, computers)."""
    title_words = words(title or "")
    head = [title_words[-1]] if title_words else []
    return frozenset(lemma(w) for w in [*head, *words(category or "")] if len(w) > 2)


def nouns_of_product_frame(frame: pd.DataFrame) -> frozenset[str]:
    """product_nouns of a one-product frame carrying product_title / product_category (none when absent)."""
    if "product_title" not in frame or frame.empty:
        return frozenset()
    return product_nouns(frame["product_title"].iloc[0], frame["product_category"].iloc[0])


def product_tags(sentences: pd.DataFrame, settings: TagSettings, run_date: date,
                 embed: Callable[[list[str]], np.ndarray] | None = None,
                 product: frozenset[str] = frozenset(), candidates: str = CANDIDATES) -> pd.DataFrame:
    """Tags of one product from `sentences` (columns sentence, polarity, review_date, review_id and the candidate
    column: `aspect_terms` from udfs.aspects, or `keyphrases` from YAKE).
    A phrase whose head is one of `product` (product_nouns) names the product, not an aspect of it ("my old
    laptop" on a laptop), and is no tag.

    Returns tag, weight (share of the product's sentences mentioning it), n_mentions (sentences), tag_sentiment
    (mean over those sentences of how each judges the tag: mention_polarity), first_seen, trend (mention rate in
    the last `trend_days` minus the rate before, per sentence; null without sentences in either window).
    """
    columns = ["tag", "weight", "n_mentions", "tag_sentiment", "first_seen", "trend"]
    if sentences.empty:
        return pd.DataFrame(columns=columns)
    lowered = sentences["sentence"].str.lower().to_numpy()
    mentions: dict[str, np.ndarray] = {}
    written: dict[str, str] = {}   # lemma -> the form reviewers wrote ("small parts", not "small part")
    for phrase in candidate_phrases(sentences[candidates], settings):
        if lemma(phrase).split()[-1] in product:
            continue
        if candidates == "keyphrases":   # YAKE scores a compound's first word alone; the extractor tags spans
            phrase = extend_phrase(phrase, lowered, settings)
        key = lemma(phrase)
        if key in mentions or key.split()[-1] in product:
            continue
        written[key] = phrase
        mask = mention_mask(phrase, lowered)
        if mask.sum() >= settings.min_mentions and \
                determiner_share(phrase, lowered, mask) >= settings.min_determiner_share:
            mentions[key] = mask
    # A word that mostly appears inside a longer tag ("screen" in "screen resolution") is not a tag of its own.
    for short in [t for t in mentions if " " not in t]:
        for longer in [t for t in mentions if " " in t and short in t.split()]:
            overlap = (mentions[short] & mentions[longer]).sum() / mentions[short].sum()
            if overlap >= settings.subsumed_share:
                mentions.pop(short, None)
                break
    ranked = sorted(mentions, key=lambda t: (-int(mentions[t].sum()), t))[: settings.max_tags + 10]
    if embed is not None and len(ranked) > 1:
        ranked = _merge_similar(ranked, mentions, embed, settings.merge_similarity)
    ranked = ranked[: settings.max_tags]
    recent_from = run_date - timedelta(days=settings.trend_days)
    dates = pd.to_datetime(sentences["review_date"]).dt.date.to_numpy()
    recent = np.array([d is not None and d >= recent_from for d in dates])
    rows = []
    for tag in ranked:
        mask = mentions[tag]
        judged = mention_polarity(sentences[mask], tag)
        before, now = (~recent).sum(), recent.sum()
        trend = (mask[recent].sum() / now - mask[~recent].sum() / before) if before and now else None
        rows.append({"tag": written[tag], "weight": float(mask.mean()), "n_mentions": int(mask.sum()),
                     "tag_sentiment": float(judged.mean()),
                     "first_seen": min(d for d in dates[mask] if d is not None), "trend": trend})
    return pd.DataFrame(rows, columns=columns)


def term_polarity(mentioning: pd.DataFrame, tag: str) -> pd.Series:
    """The targeted polarity the aspect models gave the tag in each sentence (aspect_polarity of the
    aspect_terms equal to the tag by lemma, averaged); NaN where the sentence has none."""
    if "aspect_polarity" not in mentioning or mentioning.empty:
        return pd.Series(np.nan, index=mentioning.index, dtype=float)
    key = lemma(tag)

    def targeted(terms, polarities) -> float:
        if terms is None or polarities is None:
            return np.nan
        hits = [p for t, p in zip(terms, polarities, strict=True) if lemma(" ".join(words(t)) or "-") == key]
        return float(np.mean(hits)) if hits else np.nan

    return pd.Series([targeted(t, p) for t, p in zip(mentioning["aspect_terms"], mentioning["aspect_polarity"],
                                                     strict=True)], index=mentioning.index, dtype=float)


def mention_polarity(mentioning: pd.DataFrame, tag: str) -> pd.Series:
    """How each sentence judges `tag`: the targeted polarity the aspect models gave the term (term_polarity)
    where the sentence has one, else the sentence's polarity (lexicon, or lexicon and review tone); either way
    blended with the review's tone (`tone`) when known."""
    if "aspect_polarity" not in mentioning or mentioning.empty:
        return mentioning["polarity"].astype(float)
    tone = mentioning["tone"] if "tone" in mentioning else pd.Series(np.nan, index=mentioning.index)
    return with_tone(term_polarity(mentioning, tag), pd.to_numeric(tone, errors="coerce")) \
        .fillna(mentioning["polarity"]).astype(float)


def _merge_similar(ranked: list[str], mentions: dict[str, np.ndarray], embed, threshold: float) -> list[str]:
    """Fold each tag into a more-mentioned one whose embedding is within `threshold` cosine."""
    vectors = embed(ranked)
    vectors = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
    kept: list[int] = []
    for i, tag in enumerate(ranked):
        twin = next((k for k in kept if float(vectors[i] @ vectors[k]) >= threshold), None)
        if twin is None:
            kept.append(i)
        else:
            mentions[ranked[twin]] = mentions[ranked[twin]] | mentions[tag]
    return [ranked[k] for k in kept]

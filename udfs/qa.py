"""Product questions answered from that product's reviews (plain Python, no Spark): what kind of question it
is, which reviews speak to it, how each of them leans, and the answer with its evidence and confidence.

* **Question type**: a knowledge question (rating, counts, complaints, ...) is one whose nearest labelled
  template question (training_data/qa_templates.tsv, MiniLM cosine) is a knowledge template, which also gives
  its intent. Otherwise rules on the first word and "or" decide (auxiliary verb -> yes/no, wh-word -> open,
  options joined by "or" -> choice), and the nearest template where no rule fires.
* **Aspect**: the product's tags and its category's tags are the aspects a question can name: by words
  (whole words, singular or plural), else by a shared word (the "battery" of "battery life"), else by
  embedding; several equally good ones make a clarification, not a guess.
* **Retrieval**: hybrid per product: BM25 over lemmatised sentence words fused (reciprocal rank) with the
  cosine of the stored MiniLM sentence vectors to the question.
* **Stance**: how the sentence judges the aspect (the aspect-targeted polarity of silver.sentence_aspects,
  else the sentence's lexicon polarity), flipped when the question asks about something undesirable ("does it
  leak?": complaints say yes).
* **Aggregation**: one vote per review. The leaning (yes / mixed / no) is the most probable one under a
  Beta(yes + 1, no + 1) posterior of the share of reviews saying yes (yes >= 0.7, no <= 0.3, mixed
  between), and the confidence is that posterior probability; "not discussed" when fewer than MIN_SUPPORT
  reviews mention it, with the posterior probability that under 2 % of reviews would.
"""

from __future__ import annotations

import csv
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from udfs.keyphrases import lemma, mention_mask, nouns_of_product_frame, term_polarity
from udfs.sentences import _vader, english_stop_words, review_tone, usable_sentences, words

TEMPLATES = Path(__file__).parent / "training_data" / "qa_templates.tsv"
QUESTION_TYPES = ("yes_no", "choice", "open", "knowledge")
KNOWLEDGE_INTENTS = ("rating", "review_count", "sentiment_mix", "top_tags", "complaints", "praise", "similar",
                     "summary")
QA_VERSION = "qa-hybrid-bm25-minilm-1"


@dataclass(frozen=True)
class QaSettings:
    """Product-question settings ([qa] in the config file; faq_* are the qa stage's)."""

    faq_min_reviews: int = 5        # products with fewer reviews get no FAQ rows
    faq_aspects: int = 8            # the category's most discussed tags asked about, per product
    evidence: int = 3               # evidence sentences kept per FAQ answer

AUXILIARIES = frozenset({"does", "do", "did", "is", "are", "was", "were", "can", "could", "will", "would",
                         "should", "has", "have", "had", "am", "any", "must", "may", "might"})
WH_WORDS = frozenset({"what", "how", "which", "why", "where", "when", "who", "whats", "hows"})
FOLLOW_UP_OPENERS = ("and ", "what about ", "how about ", "also ", "same for ", "and what about ")
# Words that carry no topic in a question (beyond Spark ML's stop words): the product is "it" already.
QUESTION_WORDS = frozenset({"it", "its", "good", "bad", "better", "best", "worse", "worst", "well", "people",
                            "reviewers", "reviewer", "reviews", "review", "say", "says", "think", "thing", "product",
                            "anyone", "really", "much", "many", "lot", "get", "use", "one", "buy", "like", "work",
                            "works", "make", "makes", "tell", "know", "also", "ok", "okay", "pretty", "quite"})
ASPECT_SIMILARITY = 0.55    # cosine from which a question names an aspect it does not spell out
AMBIGUITY_MARGIN = 0.03     # aspects this close to the best one are candidates of a clarification
EVIDENCE_SIMILARITY = 0.5   # cosine from which a sentence speaks to a question that names no aspect
# Cosine from which a sentence speaks to an aspect it does not spell out ("durability": "it broke in a week"),
# set where on-aspect precision reaches 0.7 on OPOSUM's dev products (the even-numbered ones in sorted order).
ASPECT_SENTENCE_SIMILARITY = 0.3
POLAR = 0.1                 # |stance| from which a review counts as yes or no
MIN_SUPPORT = 2             # reviews mentioning an aspect before it counts as discussed
YES_SHARE, NO_SHARE = 0.7, 0.3
RARE_MENTION_RATE = 0.02
RRF_K = 60
NUMBER = re.compile(r"\b(\d+(?:\.\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|thirty|"
                    r"a few|several|a couple of)\s*(-\s*)?(seconds?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|"
                    r"years?|uses|washes|charges|cups?|ounces?|oz|pounds?|lbs?|inches|inch|feet|foot|cm|mm|"
                    r"watts?|volts?|percent|%)\b", re.IGNORECASE)
NUMBER_QUESTION = re.compile(r"\bhow (long|many|much|often|big|heavy|far|tall|wide|loud|hot|fast)\b|"
                             r"\bwhat (size|capacity|weight|temperature|wattage)\b", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------- question types

@dataclass
class QuestionClassifier:
    """Rules plus the nearest labelled templates (cosine of normalised MiniLM vectors)."""

    templates: pd.DataFrame                       # question, type, intent
    vectors: np.ndarray
    embed: Callable[[list[str]], np.ndarray]

    @classmethod
    def load(cls, embed: Callable[[list[str]], np.ndarray], path: Path = TEMPLATES) -> QuestionClassifier:
        with open(path, encoding="utf-8", newline="") as handle:
            templates = pd.DataFrame(list(csv.DictReader(handle, delimiter="\t"))).fillna("")
        return cls(templates, normalise(embed(templates["question"].tolist())), embed)

    def classify(self, question: str, vector: np.ndarray | None = None) -> tuple[str, str | None]:
        """(question type, knowledge intent or None)."""
        if vector is None:
            vector = normalise(self.embed([question]))[0]
        similarity = self.vectors @ vector
        knowledge = (self.templates["type"] == "knowledge").to_numpy()
        rule = rule_type(question)
        # Knowledge questions look like the others ("what ...", "is it ..."): only their templates tell them
        # apart. Otherwise the rule decides, and the templates when it is silent. (A bonus for a firing rule
        # against the knowledge templates scored worse in leave-one-out over the templates: 0.0 > 0.05 > 0.15.)
        if float(similarity[knowledge].max()) <= float(similarity[~knowledge].max()):
            if rule is not None:
                return rule, None
            scores = {t: float(similarity[(self.templates["type"] == t).to_numpy()].max())
                      for t in QUESTION_TYPES if t != "knowledge"}
            kind = max(scores, key=lambda t: scores[t])
            if kind == "choice" and len(question_options(question)) < 2:
                kind = "yes_no" if first_word(question) in AUXILIARIES else "open"
            return kind, None
        nearest = int(np.flatnonzero(knowledge)[np.argmax(similarity[knowledge])])
        return "knowledge", str(self.templates["intent"].iloc[nearest])


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)


def first_word(question: str) -> str:
    found = words(question.replace("’", "'"))
    return found[0].replace("'s", "") if found else ""


def asking_word(question: str) -> str:
    """The first word of the clause that asks: "how about the fit, is it any good?" -> is."""
    clauses = [c for c in re.split(r"[,;:]", question) if words(c)]
    for clause in reversed(clauses):
        if first_word(clause) in AUXILIARIES | WH_WORDS:
            return first_word(clause)
    return first_word(question)


def rule_type(question: str) -> str | None:
    """What the asking word and an "or" between options say about the type; None when they say nothing."""
    head = asking_word(question)
    offers_options = len(question_options(question)) >= 2
    if head in AUXILIARIES:
        return "choice" if offers_options else "yes_no"
    if head in WH_WORDS:
        return "choice" if offers_options and head == "which" else "open"
    return "choice" if offers_options else None


_PREPOSITIONS = frozenset({"for", "on", "in", "with", "to", "at", "by", "from", "of", "than", "as", "into"})
_ARTICLES = frozenset({"the", "a", "an", "my", "your", "its", "their", "our", "more", "less", "too", "very"})


def question_options(question: str) -> list[str]:
    """The alternatives a question offers: "better for travel or for home?" -> [travel, home]; "AA or AAA
    batteries" -> [AA, AAA]; "coffee, tea or smoothies" -> three. Empty when it offers none ("or not")."""
    text = re.sub(r"[?!.]+$", "", question.strip())
    clause = re.split(r"[,;:]\s*(?=(?:which|what|should|does|do|is|are)\b)", text, flags=re.IGNORECASE)
    text = max(clause, key=lambda c: len(re.findall(r"\bor\b", c, flags=re.IGNORECASE)))
    parts = re.split(r"\s+or\s+", text, flags=re.IGNORECASE)
    if len(parts) < 2:
        return []
    right_words = parts[-1].split()
    right = _strip_leading(right_words)
    if not right or right[0].lower() in {"not", "no"}:
        return []
    whole_phrase = len(right) < len(right_words)   # "the battery life": its own noun phrase, nothing shared
    right = right[:_option_length(right)]
    n_words = len(right)
    left = [p.strip() for p in re.split(r",\s*", parts[0])]
    middle = [_strip_leading(p.split()) for p in left[1:] + parts[1:-1]]
    first = _trailing_phrase(left[0].split()) or left[0].split()[-n_words:]
    if not whole_phrase:   # "AA or AAA batteries": the noun is shared (AA, AAA); "size up or down": up, down
        if len(first) < len(right):
            right = right[:len(first)]
        elif len(first) > len(right):
            first = first[-len(right):]
    options = [" ".join(first), *(" ".join(m) for m in middle if m), " ".join(right)]
    options = [re.sub(r"[^\w\s%.-]", "", o).strip() for o in options]
    return [o for o in dict.fromkeys(options) if o] if len(options) >= 2 else []


_COMPARATIVES = frozenset({"better", "worse", "best", "worst", "good", "bad", "stronger", "weaker", "nicer",
                           "more", "less", "preferred", "recommended"})


_FUNCTION_WORDS = _PREPOSITIONS | _ARTICLES | AUXILIARIES | WH_WORDS | {"it", "they", "i", "you", "we", "this", "these"}


def _trailing_phrase(tokens: list[str], max_words: int = 4) -> list[str]:
    """The words after the last function word: "is the skin feel" -> skin feel; "does it run on AA" -> AA."""
    tail: list[str] = []
    for token in reversed(tokens):
        if token.lower() in _FUNCTION_WORDS or len(tail) == max_words:
            break
        tail.insert(0, token)
    return tail


def _strip_leading(tokens: list[str]) -> list[str]:
    while tokens and tokens[0].lower() in _FUNCTION_WORDS:
        tokens = tokens[1:]
    return tokens


def _option_length(tokens: list[str]) -> int:
    """Words of the right-hand option: up to the first word that continues the sentence ("home use" stays;
    "screen the weaker part" and "battery life better" stop before "the" and "better")."""
    ends = _PREPOSITIONS | _ARTICLES | AUXILIARIES | _COMPARATIVES | {"which", "that", "when", "if", "because"}
    for i, token in enumerate(tokens):
        if token.lower() in ends:
            return max(i, 1)
    return len(tokens)


# ------------------------------------------------------------------------------------------- question analysis

@dataclass
class Question:
    text: str
    type: str
    intent: str | None
    focus: list[str]               # topic words: no question, stop or product words
    options: list[str]
    asks_number: bool
    undesirable: bool              # asks about something bad ("does it leak?"): complaints answer yes


def focus_words(text: str, product_words: frozenset[str] = frozenset()) -> list[str]:
    stop = english_stop_words() | AUXILIARIES | WH_WORDS | QUESTION_WORDS
    return [w for w in words(text.replace("’", "'")) if w not in stop and lemma(w) not in product_words
            and len(w) > 1]


def analyse(text: str, kind: str, intent: str | None, product_words: frozenset[str] = frozenset()) -> Question:
    focus = focus_words(text, product_words)
    lexicon = _vader().lexicon
    valence = sum(lexicon.get(w, 0.0) for w in words(text) if w not in {"good", "well", "better", "best", "like"})
    options = question_options(text) if kind == "choice" else []
    return Question(text, kind, intent, focus, options, bool(NUMBER_QUESTION.search(text)), valence < 0)


def is_follow_up(text: str) -> bool:
    """"and the battery?", "what about the fit?": a question that leans on the previous turn."""
    lowered = text.strip().lower()
    return lowered.startswith(FOLLOW_UP_OPENERS) or (len(words(lowered)) <= 3 and rule_type(lowered) is None)


# -------------------------------------------------------------------------------------------------- the product

@dataclass
class ProductReviews:
    """One product's review sentences, what the answerer searches. `sentences` columns: review_id, review_date,
    sentence, polarity (lexicon blended with the review's tone), tone, aspect_terms, aspect_polarity and,
    optionally, vector (stored MiniLM vector or None)."""

    product_id: str
    title: str | None
    category: str | None
    sentences: pd.DataFrame
    aspects: list[str]                           # the product's tags, then its category's
    n_reviews: int
    product_words: frozenset[str] = frozenset()
    facts: dict = field(default_factory=dict)     # knowledge: rating, counts, mix, tags, similar, summary
    _lowered: np.ndarray | None = None
    _bm25: Bm25 | None = None
    _vectors: np.ndarray | None = None
    _has_vector: np.ndarray | None = None

    @property
    def lowered(self) -> np.ndarray:
        if self._lowered is None:
            self._lowered = self.sentences["sentence"].str.lower().to_numpy()
        return self._lowered

    @property
    def bm25(self) -> Bm25:
        if self._bm25 is None:
            self._bm25 = Bm25([_terms(s) for s in self.lowered])
        return self._bm25

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(normalised vectors, which rows have one): rows without a stored vector score 0."""
        if self._vectors is None:
            column = self.sentences["vector"] if "vector" in self.sentences else pd.Series([None] * len(self.sentences))
            has = np.array([v is not None and len(v) > 0 for v in column], dtype=bool)
            matrix = np.zeros((len(self.sentences), 384), dtype=np.float32)
            if has.any():
                matrix[has] = normalise(np.stack([np.asarray(v, dtype=np.float32) for v in column[has]]))
            self._vectors, self._has_vector = matrix, has
        return self._vectors, self._has_vector


def product_from_rows(frame: pd.DataFrame, aspects: list[str], n_reviews: int, facts: dict | None = None
                    ) -> ProductReviews:
    """A ProductReviews from one product's sentence rows (reviewlake.views.product_sentences columns, + vector
    where loaded): the quotable sentences, newest review first (ties in ranking go to the newest evidence)."""
    frame = frame.sort_values(["review_ts", "review_id", "sentence_idx"], ascending=[False, True, True])
    frame = frame.assign(tone=review_tone(frame["rating"], frame["sentiment_score"]))
    first = frame.iloc[0] if len(frame) else {}
    return ProductReviews(
        product_id=str(first.get("product_id", "")), title=first.get("product_title"),
        category=first.get("product_category"), sentences=usable_sentences(frame).reset_index(drop=True),
        aspects=list(dict.fromkeys(aspects)), n_reviews=int(n_reviews), product_words=nouns_of_product_frame(frame),
        facts=facts or {})


def _terms(text: str) -> list[str]:
    stop = english_stop_words()
    return [lemma(w) for w in words(text) if w not in stop]


class Bm25:
    """Okapi BM25 (k1 1.2, b 0.75) over a few thousand sentences."""

    def __init__(self, documents: Sequence[list[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.counts = [Counter(d) for d in documents]
        self.lengths = np.array([len(d) for d in documents], dtype=float)
        self.average = float(self.lengths.mean()) if len(documents) else 1.0
        frequency = Counter(t for c in self.counts for t in c)
        n = len(documents)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in frequency.items()}
        self.k1, self.b = k1, b

    def scores(self, query: Sequence[str]) -> np.ndarray:
        norm = self.k1 * (1 - self.b + self.b * self.lengths / max(self.average, 1e-9))
        out = np.zeros(len(self.counts))
        for term in set(query):
            idf = self.idf.get(term)
            if idf is None:
                continue
            tf = np.fromiter((c.get(term, 0) for c in self.counts), float, len(self.counts))
            out += idf * tf * (self.k1 + 1) / (tf + norm)
        return out


# ------------------------------------------------------------------------------------------------------ answers

@dataclass
class Answer:
    """The documented JSON contract of `reviewlake ask` (README, "Product questions")."""

    product_id: str
    question: str
    question_type: str                 # yes_no, choice, open, knowledge or clarification
    answer: str                        # leaning, option, best span, the knowledge sentence or the clarification
    confidence: float
    support: dict
    evidence: list[dict]
    aspect: str | None = None
    intent: str | None = None
    options: list[str] = field(default_factory=list)
    spans: list[dict] = field(default_factory=list)
    values: list[dict] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    follow_up_of: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class AspectMatch:
    aspect: str | None
    candidates: list[str]
    how: str                            # words, shared word, embedding, none


def resolve_aspect(text: str, aspects: Sequence[str], embed: Callable[[list[str]], np.ndarray] | None,
                   focus: Sequence[str]) -> AspectMatch:
    """The aspect a question names among `aspects` (best first: whole phrase, shared head word, embedding)."""
    lowered = " ".join(words(text))
    unique = list(dict.fromkeys(aspects))
    spelled = [a for a in unique if mention_mask(a, np.array([lowered]))[0]]
    if spelled:
        longest = max(len(a.split()) for a in spelled)
        best = [a for a in spelled if len(a.split()) == longest]
        best = [a for a in best if not any(a != o and a in o for o in spelled)] or best
        return AspectMatch(best[0], best if len(best) > 1 else [], "words")
    question_lemmas = {lemma(w) for w in focus}
    sharing = [a for a in unique if question_lemmas & {lemma(w) for w in a.split()}]
    if len(sharing) == 1:
        return AspectMatch(sharing[0], [], "shared word")
    if len(sharing) > 1:
        return AspectMatch(None, sharing[:6], "shared word")
    if embed is None or not focus or not unique:
        return AspectMatch(None, [], "none")
    vectors = normalise(embed([" ".join(focus), *unique]))
    similarity = vectors[1:] @ vectors[0]
    order = np.argsort(-similarity)
    top = float(similarity[order[0]])
    if top < ASPECT_SIMILARITY:
        return AspectMatch(None, [], "none")
    close = [unique[i] for i in order if similarity[i] >= top - AMBIGUITY_MARGIN]
    if len(close) > 1:
        return AspectMatch(None, close[:6], "embedding")
    return AspectMatch(unique[order[0]], [], "embedding")


def names_an_aspect(text: str, product: ProductReviews) -> bool:
    """Whether the question spells out one of the product's aspects, or a word of one."""
    match = resolve_aspect(text, product.aspects, None, focus_words(text, product.product_words))
    return match.aspect is not None or bool(match.candidates)


def rank_sentences(product: ProductReviews, query_terms: Sequence[str], query_vector: np.ndarray | None,
                   must_mention: np.ndarray | None = None, min_lexical_share: float = 0.0,
                   min_cosine: float = EVIDENCE_SIMILARITY) -> np.ndarray:
    """Row positions of the product's sentences, best first: reciprocal-rank fusion of BM25 and cosine.
    Sentences with no query term (or a BM25 score under min_lexical_share of the best), no vector within
    min_cosine and no mention (must_mention) are left out."""
    n = len(product.sentences)
    if n == 0:
        return np.array([], dtype=int)
    fused = np.zeros(n)
    lexical = product.bm25.scores(query_terms)
    candidates = (lexical > 0) & (lexical >= min_lexical_share * lexical.max())
    fused[candidates] += 1.0 / (RRF_K + _ranks(-lexical)[candidates])
    if query_vector is not None:
        vectors, has = product.vectors()
        cosine = np.where(has, vectors @ query_vector, -1.0)
        close = cosine >= min_cosine
        fused[close] += 1.0 / (RRF_K + _ranks(-cosine)[close])
        candidates |= close
    if must_mention is not None:
        fused[must_mention] += 1.0 / RRF_K   # a sentence naming the aspect outranks one that only resembles it
        candidates |= must_mention
    order = np.argsort(-fused, kind="stable")
    return order[candidates[order]]


def _ranks(values: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(values))
    ranks[np.argsort(values, kind="stable")] = np.arange(1, len(values) + 1)
    return ranks


def stances(product: ProductReviews, rows: np.ndarray, aspect: str | None, undesirable: bool) -> pd.Series:
    """How each of these sentences answers the question: > 0 yes, < 0 no. The aspect-targeted polarity where
    the aspect models judged the aspect in it, else the sentence's own lexicon polarity. Unlike tag sentiment,
    the review's tone is left out: a happy review can still complain about the one aspect asked about (on
    the synthetic FAQ, 4,000 reviews: 0.918 accuracy without the tone, 0.862 with it)."""
    chosen = product.sentences.iloc[rows]
    own = chosen["lexical_polarity"] if "lexical_polarity" in chosen else chosen["polarity"]
    values = own.astype(float) if not aspect else term_polarity(chosen, aspect).fillna(own.astype(float))
    return -values if undesirable else values


def _evidence(product: ProductReviews, rows: np.ndarray, stance: pd.Series, k: int) -> list[dict]:
    """Up to k distinct sentences (the newest review of each text), in the given order."""
    seen, out = set(), []
    frame = product.sentences.iloc[rows]
    for (_, row), value in zip(frame.iterrows(), stance.to_numpy(), strict=True):
        key = row["sentence"].strip().lower()
        if key in seen:
            continue
        seen.add(key)
        out.append({"review_id": row["review_id"], "sentence": row["sentence"], "stance": _stance_word(value),
                    "review_date": None if pd.isna(row["review_date"]) else str(row["review_date"])[:10]})
        if len(out) == k:
            break
    return out


def _stance_word(value: float) -> str:
    return "yes" if value > POLAR else "no" if value < -POLAR else "neutral"


def review_votes(product: ProductReviews, rows: np.ndarray, stance: pd.Series) -> pd.Series:
    """One stance per review: the mean of its sentences' stances."""
    return pd.Series(stance.to_numpy(), index=product.sentences["review_id"].iloc[rows].to_numpy()) \
        .groupby(level=0).mean()


def leaning(n_yes: int, n_no: int, n_mentioning: int, n_reviews: int) -> tuple[str, float]:
    """(yes / mixed / no / not discussed, the posterior probability of that answer)."""
    from scipy.stats import beta

    if n_mentioning < MIN_SUPPORT:
        silent = n_reviews - n_mentioning
        return "not discussed", float(beta.cdf(RARE_MENTION_RATE, n_mentioning + 1, silent + 1))
    posterior = beta(n_yes + 1, n_no + 1)
    p_no, p_yes = float(posterior.cdf(NO_SHARE)), float(posterior.sf(YES_SHARE))
    options = {"yes": p_yes, "no": p_no, "mixed": 1.0 - p_yes - p_no}
    best = max(options, key=lambda o: options[o])
    return best, options[best]


class Answerer:
    """Answers any question about a loaded product: classify, resolve the aspect, then one of the answers
    below (yes_no_answer, choice_answer, open_answer, knowledge_answer) or a clarification."""

    def __init__(self, classifier: QuestionClassifier, embed: Callable[[list[str]], np.ndarray]) -> None:
        self.classifier, self.embed = classifier, embed

    def answer(self, product: ProductReviews, text: str, k: int = 5, previous: dict | None = None) -> Answer:
        text = text.strip()
        if not words(text):
            return self._clarify(product, text, "Ask a question in words, e.g. \"is the battery good?\"",
                                 product.aspects[:6])
        vector = normalise(self.embed([text]))[0]
        kind, intent = self.classifier.classify(text, vector)
        if kind == "knowledge" and names_an_aspect(text, product):
            # Knowledge questions are about the product as a whole; "what do reviewers say about the fit?"
            # and "is the price good?" are about one of its aspects.
            kind, intent = rule_type(text) or "open", None
        follow_up = previous is not None and previous.get("product_id") == product.product_id and is_follow_up(text)
        if follow_up and rule_type(text) is None:
            kind, intent = previous["question_type"], previous.get("intent")
            if kind == "clarification":
                kind = "open"
        question = analyse(text, kind, intent, product.product_words)
        if follow_up and kind == "choice" and not question.options:
            question.options = list(previous.get("options") or [])
        result = self._dispatch(product, question, vector, k, previous if follow_up else None)
        result.follow_up_of = previous["question"] if follow_up else None
        return result

    def _dispatch(self, product: ProductReviews, question: Question, vector: np.ndarray, k: int,
                  previous: dict | None) -> Answer:
        if question.type == "knowledge":
            return knowledge_answer(product, question, k)
        match = resolve_aspect(question.text, product.aspects, self.embed, question.focus)
        if match.aspect is None and match.candidates:
            return self._clarify(product, question.text, "Which aspect do you mean?", match.candidates)
        aspect = match.aspect
        if aspect is None and previous is not None and not question.focus:
            aspect = previous.get("aspect")
        if question.type == "choice":
            return choice_answer(product, question, aspect, k)
        if aspect is None and not question.focus:
            return self._clarify(product, question.text, "Which aspect of the product do you mean?",
                                 product.aspects[:6])
        if question.type == "yes_no":
            return yes_no_answer(product, question, vector, aspect, k, self.embed)
        return open_answer(product, question, vector, aspect, k)

    def _clarify(self, product: ProductReviews, text: str, message: str, candidates: list[str]) -> Answer:
        return Answer(product.product_id, text, "clarification", message, 0.0, {}, [], candidates=list(candidates))


def _relevant(product: ProductReviews, aspect: str | None, focus: Sequence[str], vector: np.ndarray | None,
              extra_terms: Sequence[str] = ()) -> np.ndarray:
    """The sentences that speak to the question, best first: those naming the aspect when it has one, else
    those sharing its focus words (at least half the best BM25 score) or close to it by embedding."""
    if aspect is not None:
        mentions = mention_mask(aspect, product.lowered)
        return rank_sentences(product, _terms(" ".join([aspect, *extra_terms])), vector, mentions)
    return rank_sentences(product, _terms(" ".join([*focus, *extra_terms])), vector, min_lexical_share=0.5)


def yes_no_answer(product: ProductReviews, question: Question, vector: np.ndarray | None, aspect: str | None,
                  k: int, embed: Callable[[list[str]], np.ndarray] | None = None) -> Answer:
    """Leaning, per-side review counts and the posterior confidence (module docstring)."""
    resembling = False
    if aspect is not None:   # only sentences naming the aspect vote: one resembling it may be about another
        mentions = mention_mask(aspect, product.lowered)
        ranked = rank_sentences(product, _terms(aspect), None, mentions)
        ranked = ranked[mentions[ranked]]
        if product.sentences["review_id"].iloc[ranked].nunique() < MIN_SUPPORT and embed is not None:
            # Reviewers rarely write "ease of use" or "durability": sentences close to the aspect itself (not to
            # the question, whose "is the ... good?" resembles every judgement) speak to it too.
            ranked = rank_sentences(product, [], normalise(embed([aspect]))[0], mentions,
                                    min_cosine=ASPECT_SENTENCE_SIMILARITY)
            # A sentence naming another of the product's aspects is about that one, however close it looks; one
            # naming none speaks to the asked aspect only if no other aspect of the product is closer to it
            # ("it does the job" is nearer "value" than "battery life").
            unnamed = ~_names_other_aspect(product, aspect) & _nearest_aspect_is(product, aspect, embed)
            ranked = ranked[mentions[ranked] | unnamed[ranked]]
            resembling = True
    else:
        ranked = _relevant(product, None, question.focus, vector)
    stance = stances(product, ranked, aspect, question.undesirable)
    if resembling:   # a resembling sentence that judges nothing ("this replaced my old headset") is not a mention
        keep = mentions[ranked] | (stance.abs().to_numpy() > POLAR)
        ranked, stance = ranked[keep], stance[keep]
    votes = review_votes(product, ranked, stance)
    n_yes, n_no = int((votes > POLAR).sum()), int((votes < -POLAR).sum())
    said, confidence = leaning(n_yes, n_no, len(votes), product.n_reviews)
    support = {"yes": n_yes, "no": n_no, "neutral": len(votes) - n_yes - n_no, "reviews": product.n_reviews}
    return Answer(product.product_id, question.text, "yes_no", said, round(confidence, 3), support,
                  _evidence(product, ranked, stance, k), aspect=aspect or " ".join(question.focus))


def _nearest_aspect_is(product: ProductReviews, aspect: str, embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """Per sentence: is `aspect` the closest (cosine) of the product's aspects to it?"""
    names = list(dict.fromkeys([aspect, *product.aspects]))
    vectors, has = product.vectors()
    cosine = vectors @ normalise(embed(names)).T
    return has & (cosine.argmax(axis=1) == 0)


def _names_other_aspect(product: ProductReviews, aspect: str) -> np.ndarray:
    named = np.zeros(len(product.sentences), dtype=bool)
    for other in product.aspects:
        if other != aspect and not set(words(other)) & set(words(aspect)):
            named |= mention_mask(other, product.lowered)
    return named


def choice_answer(product: ProductReviews, question: Question, aspect: str | None, k: int) -> Answer:
    """The option most reviews mention without complaint; confidence = P(it leads) under a Dirichlet posterior."""
    support, rows_by_option, best_rows = {}, {}, []
    for option in question.options:
        mask = mention_mask(option.lower(), product.lowered) if words(option) else \
            np.array([option.lower() in s.split() for s in product.lowered])
        rows = np.flatnonzero(mask)
        stance = stances(product, rows, option.lower() if words(option) else aspect, question.undesirable)
        votes = review_votes(product, rows, stance)
        support[option] = {"for": int((votes >= -POLAR).sum()), "against": int((votes < -POLAR).sum())}
        rows_by_option[option] = (rows, stance)
    counts = np.array([support[o]["for"] for o in question.options], dtype=float)
    if counts.sum() == 0:
        said, confidence = "not discussed", 0.0
    else:
        draws = np.random.default_rng(0).dirichlet(counts + 1, 4000)
        winner = int(np.argmax(counts))
        said = question.options[winner] if (counts == counts[winner]).sum() == 1 else "tie"
        confidence = float((draws.argmax(axis=1) == winner).mean()) if said != "tie" else 0.0
        rows, stance = rows_by_option[question.options[winner]]
        order = np.argsort(-stance.to_numpy(), kind="stable")
        best_rows = [(rows[order], stance.iloc[order])]
    evidence = []
    for rows, stance in best_rows + [rows_by_option[o] for o in question.options]:
        evidence += _evidence(product, rows, stance, k)
    unique = list({e["sentence"]: e for e in evidence}.values())[:k]
    return Answer(product.product_id, question.text, "choice", said, round(confidence, 3), support, unique,
                  aspect=aspect, options=question.options)


def open_answer(product: ProductReviews, question: Question, vector: np.ndarray | None, aspect: str | None,
                k: int) -> Answer:
    """The best answering spans (clauses naming the aspect), numbers and durations first when asked for."""
    ranked = _relevant(product, aspect, question.focus, vector, question.focus)
    values: list[dict] = []
    if question.asks_number:
        found = Counter(m.group(0).lower().replace(" - ", "-") for s in product.sentences["sentence"].iloc[ranked[:50]]
                        for m in NUMBER.finditer(s))
        values = [{"value": v, "n_sentences": n} for v, n in found.most_common(5)]
        with_number = np.array([bool(NUMBER.search(s)) for s in product.sentences["sentence"].iloc[ranked]],
                               dtype=bool)
        ranked = np.concatenate([ranked[with_number], ranked[~with_number]])
    stance = stances(product, ranked, aspect, False)
    evidence = _evidence(product, ranked, stance, k)
    counts = Counter(product.sentences["sentence"].iloc[ranked].str.strip().str.lower())
    spans = [{"text": clause_of(e["sentence"], aspect, question.focus), "review_id": e["review_id"],
              "n_reviews": counts[e["sentence"].strip().lower()]} for e in evidence]
    if not spans:
        return Answer(product.product_id, question.text, "open", "not discussed", 0.0,
                      {"sentences": 0, "reviews": product.n_reviews}, [], aspect=aspect)
    reviews = product.sentences["review_id"].iloc[ranked].nunique()
    confidence = min(1.0, reviews / (reviews + MIN_SUPPORT))
    return Answer(product.product_id, question.text, "open", spans[0]["text"], round(confidence, 3),
                  {"sentences": len(ranked), "reviews": int(reviews)}, evidence, aspect=aspect, spans=spans,
                  values=values)


def clause_of(sentence: str, aspect: str | None, focus: Sequence[str]) -> str:
    """The clause of a long sentence that names the aspect (or a focus word); short sentences stay whole."""
    if len(sentence.split()) <= 20:
        return sentence
    clauses = [c.strip() for c in re.split(r"\s*(?:[;:]|,\s*(?:but|and|although|though|while)\b|\bbut\b)\s*",
                                           sentence) if c and c.strip()]
    targets = [aspect] if aspect else list(focus)
    for clause in clauses:
        if any(mention_mask(t, np.array([clause.lower()]))[0] for t in targets if t):
            return clause
    return sentence


# --------------------------------------------------------------------------------------------------- knowledge

def knowledge_answer(product: ProductReviews, question: Question, k: int) -> Answer:
    """Answers from the gold tables (product.facts), with example sentences where a tag is the answer."""
    facts, intent = product.facts, question.intent or "summary"
    n = int(facts.get("n_reviews") or product.n_reviews)
    tags = pd.DataFrame(facts.get("tags") or [], columns=["tag", "weight", "tag_sentiment", "n_mentions"])
    evidence: list[dict] = []
    shown: dict = {}
    if intent == "rating":
        rating = facts.get("avg_rating")
        text = "no rating yet" if rating is None else f"{rating:.2f} of 5 stars on average over {n:,} reviews"
        shown = {"avg_rating": rating, "n_reviews": n}
    elif intent == "review_count":
        text, shown = f"{n:,} reviews", {"n_reviews": n}
    elif intent == "sentiment_mix":
        mix = {s: facts.get(f"share_{s}") for s in ("positive", "neutral", "negative")}
        known = {s: v for s, v in mix.items() if v is not None}
        text = ", ".join(f"{v:.0%} {s}" for s, v in known.items()) or "no sentiment labels yet"
        shown = {**mix, "n_reviews": n}
    elif intent in {"top_tags", "complaints", "praise"}:
        chosen = _chosen_tags(tags, intent)
        if len(chosen):
            text = ", ".join(chosen["tag"])
        elif tags.empty:
            text = "no tags for this product yet (too few reviews, or run the tags stage)"
        else:   # every tag leans the other way: say so, with the closest ones
            closest = tags.sort_values("tag_sentiment", ascending=intent == "complaints").head(3)
            side = "criticised" if intent == "complaints" else "praised"
            text = f"no aspect is {side} on balance; closest: " + ", ".join(
                f"{t} ({v:+.2f})" for t, v in zip(closest["tag"], closest["tag_sentiment"], strict=True))
            chosen = closest
        shown = {"tags": chosen.to_dict("records")}
        if intent == "complaints" and facts.get("cons"):
            shown["cons"] = list(facts["cons"])
        if intent == "praise" and facts.get("pros"):
            shown["pros"] = list(facts["pros"])
        evidence = _tag_examples(product, chosen["tag"].tolist(), intent, k)
    elif intent == "similar":
        similar = facts.get("similar") or []
        text = "; ".join(s.get("title") or s["product_id"] for s in similar[:k]) or "no similar products computed"
        shown = {"similar": similar[:k]}
    else:
        text = facts.get("summary") or "no summary yet: run the summarize stage"
        shown = {"pros": list(facts.get("pros") or []), "cons": list(facts.get("cons") or [])}
    available = bool(facts)
    return Answer(product.product_id, question.text, "knowledge", text, 1.0 if available else 0.0,
                  {"reviews": n}, evidence, intent=intent, facts=shown)


def _chosen_tags(tags: pd.DataFrame, intent: str, n: int = 5) -> pd.DataFrame:
    if tags.empty:
        return tags
    if intent == "complaints":
        return tags[tags["tag_sentiment"] < -POLAR].sort_values(["tag_sentiment", "tag"]).head(n)
    if intent == "praise":
        praised = tags[tags["tag_sentiment"] > POLAR]
        return praised.assign(_score=praised["weight"] * praised["tag_sentiment"]) \
            .sort_values(["_score", "tag"], ascending=[False, True]).drop(columns="_score").head(n)
    return tags.sort_values(["weight", "tag"], ascending=[False, True]).head(n)


def _tag_examples(product: ProductReviews, tags: list[str], intent: str, k: int) -> list[dict]:
    """For each tag, the sentence that judges it most in the asked direction."""
    out: list[dict] = []
    for tag in tags:
        rows = np.flatnonzero(mention_mask(tag, product.lowered))
        if not len(rows):
            continue
        stance = stances(product, rows, tag, False)
        pick = int(np.argmin(stance.to_numpy()) if intent == "complaints" else np.argmax(stance.to_numpy()))
        out += _evidence(product, rows[[pick]], stance.iloc[[pick]], 1)
    return out[:k]

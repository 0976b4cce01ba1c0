"""Summarizer, tag miner and tag search cores on generated reviews of known products (no Spark)."""

import random
from datetime import date

import numpy as np
import pandas as pd
import pytest

from reviewlake.config import SummarySettings, TagSettings
from reviewlake.synthetic import Product, _review_text
from udfs.keyphrases import lemma, mention_pattern, product_tags
from udfs.sentences import compress, review_sentences, split_sentences, usable
from udfs.summarizer import summarize
from udfs.tag_search import TagSearch, TagVectors

ASPECTS = {"battery life": 0.9, "sound quality": -0.9, "comfort": 0.6}


def _reviews(n=60, seed=1, aspects=ASPECTS, mood=(-0.3, 0.5), start=date(2023, 1, 1)) -> pd.DataFrame:
    rng = random.Random(seed)
    product = Product("B1", "Acme Pro Headphones 1", "Headphones", "headphones", list(aspects), dict(aspects),
                      np.zeros(6), 1.0)
    rows = []
    for i in range(n):
        tone = rng.uniform(*mood)
        _title, text = _review_text(rng, product, tone, False)
        rows.append({"review_id": f"r{i}", "review_date": date.fromordinal(start.toordinal() + 5 * i),
                     "text": text, "tone": tone})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def encoder():
    from udfs.encoder import SentenceEncoder

    return SentenceEncoder(device="cpu")


def test_sentence_tools():
    assert split_sentences("The motor is great. It arrived early!") == ["The motor is great.", "It arrived early!"]
    assert compress("Honestly, the motor is great.") == "The motor is great."
    assert compress("After a month, the blades are dull.") == "The blades are dull."
    assert not usable("Mail me at [EMAIL] for details.")
    assert not usable("Call +1 (555) 123-4567 if the motor breaks.")
    assert not usable("Great.")
    assert lemma("blades") == "blade" and lemma("batteries") == "battery" and lemma("glass") == "glass"
    assert mention_pattern("battery").search("the batteries died") and mention_pattern("blade").search("blades")


def test_planted_aspects_become_tags_with_the_planted_sign():
    sentences = review_sentences(_reviews())
    tags = product_tags(sentences, TagSettings(), date(2023, 12, 31))
    assert set(tags["tag"]) == set(ASPECTS)
    sign = dict(zip(tags["tag"], np.sign(tags["tag_sentiment"]), strict=True))
    assert sign == {a: np.sign(q) for a, q in ASPECTS.items()}
    assert (tags["weight"] > 0).all() and (tags["n_mentions"] >= 2).all()
    assert tags["first_seen"].min() >= date(2023, 1, 1)


def test_trend_rises_for_an_aspect_mentioned_only_lately():
    old = _reviews(40, aspects={"battery life": 0.9, "comfort": 0.5}, start=date(2023, 1, 1))
    new = _reviews(20, seed=2, aspects={"battery life": 0.9, "noise cancelling": 0.8}, start=date(2023, 12, 1))
    new["review_date"] = [date(2023, 12, 1 + i) for i in range(20)]
    new["review_id"] = "n" + new["review_id"]
    tags = product_tags(review_sentences(pd.concat([old, new])), TagSettings(), date(2023, 12, 25)).set_index("tag")
    assert tags.loc["noise cancelling", "trend"] > 0.2
    assert tags.loc["comfort", "trend"] < 0


def test_summary_is_bounded_faithful_balanced_and_deterministic(encoder):
    reviews = _reviews()
    reviews.loc[0, "text"] += " Mail me at [EMAIL] if the battery life disappoints you."
    sentences = review_sentences(reviews)
    result = summarize(sentences, encoder.encode, SummarySettings(), tuple(ASPECTS))
    n_words = len(result.summary.split())
    assert 0 < n_words <= 80
    written = set(sentences["sentence"])
    originals = {s for text in reviews["text"] for s in split_sentences(text)}
    for sentence in result.sentences_used:
        assert sentence in written
        assert any(compress(o) == sentence for o in originals)   # verbatim, or with its opener dropped
    assert "[EMAIL]" not in result.summary
    polarity = sentences.groupby("sentence")["polarity"].mean()
    assert result.pros and all(polarity[p] > 0 for p in result.pros)     # pros: positive statements only
    assert result.cons and all(polarity[c] < 0 for c in result.cons)     # cons: negative statements only
    # Every planted aspect is mentioned, each with the majority's tone.
    for aspect, quality in ASPECTS.items():
        said = [s for s in result.sentences_used if aspect in s.lower()]
        assert said, aspect
        assert np.sign(polarity[said[0]]) == np.sign(quality), (aspect, said)
    again = summarize(sentences.sample(frac=1, random_state=3).sort_index(), encoder.encode, SummarySettings(),
                      tuple(ASPECTS))
    assert again.summary == result.summary and again.pros == result.pros


def test_tag_search_exact_and_semantic_ranked_by_sentiment(encoder):
    tags = pd.DataFrame({
        "product_id": ["quiet", "loud", "other", "quiet"],
        "tag": ["motor", "motor", "fabric", "noise level"],
        "weight": [0.3, 0.3, 0.4, 0.2],
        "tag_sentiment": [0.8, -0.7, 0.9, 0.6]})
    vectors = TagVectors.build(sorted(set(tags["tag"])), encoder.encode)
    engine = TagSearch(tags, vectors, pd.DataFrame(columns=["product_id", "title", "category"]), encoder.encode)
    found = engine.search("powerful motor", k=3)
    assert found["product_id"].tolist()[:2] == ["quiet", "loud"]      # exact match, better sentiment first
    assert "other" not in found["product_id"].tolist()
    assert engine.search("engine", k=3)["product_id"].iloc[0] == "quiet"   # semantic: engine ~ motor
    with pytest.raises(ValueError):
        engine.search("  ", k=3)

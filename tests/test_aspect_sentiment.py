"""Aspect-targeted sentiment (udfs.aspect_sentiment) on real review sentences: slices of the SemEval test splits
(tests/data/real/, never trained on), scored against each aspect term's gold polarity."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import f1_score

from udfs.aspect_sentiment import AspectModels, AspectSentiment, train_default_models, training_terms
from udfs.keyphrases import TagSettings, product_tags
from udfs.sentences import polarity, usable_sentences

SLICE = Path(__file__).parent / "data" / "real" / "semeval_test_slice.jsonl.gz"


@pytest.fixture(scope="module")
def models() -> AspectModels:
    return train_default_models()


@pytest.fixture(scope="module")
def test_slice() -> list[dict]:
    with gzip.open(SLICE, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_contrast_sentences_judge_each_aspect_on_its_own(models):
    terms, scores = models.analyse(["The screen is bright and sharp but the keyboard is flimsy and cheap.",
                                    "The food was delicious, but the service was terribly slow."])
    judged = [dict(zip(t, s, strict=True)) for t, s in zip(terms, scores, strict=True)]
    assert judged[0]["screen"] > 0 > judged[0]["keyboard"]
    assert judged[1]["food"] > 0 > judged[1]["service"]
    assert all(-1 <= s <= 1 for row in scores for s in row)


@pytest.mark.parametrize("domain", ["laptops", "restaurants"])
def test_term_polarity_beats_the_sentence_lexicon_on_held_out_real_terms(models, test_slice, domain):
    """Three-class macro-F1 over the slice's gold terms: the classifier against the mentioning sentence's VADER
    class (what tags used before); the full test splits score 0.65 / 0.63 against VADER's 0.57 / 0.56
    (bench/text_quality_real.py)."""
    rows = [r for r in test_slice if r["domain"] == domain]
    features, gold = training_terms(rows)
    vader = []
    for row in rows:
        compound = polarity(" ".join(row["tokens"]))
        vader += ["POS" if compound > 0.05 else "NEG" if compound < -0.05 else "NEU"] * sum(
            1 for i, label in enumerate(row["labels"])
            if label != "O" and (i == 0 or row["labels"][i - 1] != label))
    assert len(vader) == len(gold)
    mine = f1_score(gold, models.sentiment.predict(features), average="macro")
    lexicon = f1_score(gold, vader, average="macro")
    assert mine >= 0.62
    assert mine >= lexicon + 0.03


def test_saved_models_score_as_the_fitted_ones(models, tmp_path):
    models.save(tmp_path)
    sentences = ["The battery dies fast but the screen is great.", "Nothing to say."]
    assert AspectModels.load(tmp_path).analyse(sentences) == models.analyse(sentences)
    assert isinstance(AspectModels.load(tmp_path).sentiment, AspectSentiment)


def test_tag_sentiment_comes_from_how_sentences_judge_the_tag(models):
    """Every sentence praises the screen and complains of the keyboard: the sentences' own tone is mixed, the
    tags are not."""
    text = ["The screen is gorgeous but the keyboard is awful.",
            "I love the screen, though the keyboard feels cheap.",
            "Great screen, terrible keyboard.",
            "The screen is bright and clear but the keyboard keys stick."]
    terms, scores = models.analyse(text)
    sentences = pd.DataFrame({"review_id": [f"r{i}" for i in range(len(text))], "sentence": text,
                              "aspect_terms": terms, "aspect_polarity": scores, "lexicon_polarity": None,
                              "review_date": date(2020, 1, 1)})
    tags = product_tags(usable_sentences(sentences), TagSettings(), date(2020, 1, 2)).set_index("tag")
    assert tags.loc["screen", "tag_sentiment"] > 0.2
    assert tags.loc["keyboard", "tag_sentiment"] < -0.2

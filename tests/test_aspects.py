"""Aspect-term extraction (udfs.aspects) and tags on real review sentences: slices of the SemEval test splits
(tests/data/real/, never trained on), scored against their gold aspect terms."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from udfs.aspects import AspectExtractor, bio_labels, read_training_data, spans, tokenize, train_default
from udfs.keyphrases import TagSettings, lemma, product_tags
from udfs.sentences import usable_sentences

SLICE = Path(__file__).parent / "data" / "real" / "semeval_test_slice.jsonl.gz"


@pytest.fixture(scope="module")
def extractor() -> AspectExtractor:
    return train_default()


@pytest.fixture(scope="module")
def test_slice() -> list[dict]:
    with gzip.open(SLICE, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_bio_labels_split_adjacent_terms_of_different_polarity():
    assert bio_labels(["O", "T-POS", "T-POS", "T-NEG", "O"]) == ["O", "B", "I", "B", "O"]
    assert spans(["O", "B", "I", "B", "O"]) == [(1, 3), (3, 4)]
    assert spans(["I", "O", "B"]) == [(0, 1), (2, 3)]   # a stray I still starts a term


def test_tokenize_keeps_inner_apostrophes_and_hyphens():
    assert tokenize("The built-in mic isn't great, 17-inch screen.") == [
        "The", "built-in", "mic", "isn't", "great", ",", "17-inch", "screen", "."]


def test_training_data_holds_no_test_sentence(test_slice):
    training = {" ".join(r["tokens"]) for r in read_training_data()}
    assert not [r for r in test_slice if " ".join(r["tokens"]) in training]


def test_extracts_aspects_of_written_sentences(extractor):
    terms = extractor.extract(["The battery life is great but the keyboard feels cheap.",
                               "Our waiter was rude and the pasta was cold."])
    assert "battery life" in terms[0] and "keyboard" in terms[0]
    assert "waiter" in terms[1] and "pasta" in terms[1]


def test_saved_extractor_tags_as_the_fitted_one(extractor, tmp_path):
    extractor.save(tmp_path)
    sentences = [["The", "screen", "is", "bright", "."], ["Service", "was", "slow", "."]]
    assert AspectExtractor.load(tmp_path).tag(sentences) == extractor.tag(sentences)


@pytest.mark.parametrize(("domain", "floor"), [("laptops", 0.62), ("restaurants", 0.70)])
def test_extraction_f1_on_held_out_real_sentences(extractor, test_slice, domain, floor):
    """Exact-span F1 against the gold terms (the full test splits score 0.71 / 0.69: bench/text_quality_real.py;
    YAKE's keyphrases after the aspect filter score far lower)."""
    rows = [r for r in test_slice if r["domain"] == domain]
    predicted = [set(spans(tags)) for tags in extractor.tag([r["tokens"] for r in rows])]
    gold = [set(spans(bio_labels(r["labels"]))) for r in rows]
    hits = sum(len(p & g) for p, g in zip(predicted, gold, strict=True))
    precision, recall = hits / sum(map(len, predicted)), hits / sum(map(len, gold))
    assert 2 * precision * recall / (precision + recall) >= floor


def test_tags_of_real_restaurant_sentences_are_gold_aspects(extractor, test_slice):
    """The restaurant slice as one product (one review per sentence): most tags are gold aspect terms of it,
    and the terms most of its sentences discuss are among the tags."""
    rows = [r for r in test_slice if r["domain"] == "restaurants"]
    text = [" ".join(r["tokens"]) for r in rows]
    sentences = pd.DataFrame({"review_id": [r["id"] for r in rows], "sentence": text,
                              "aspect_terms": extractor.extract(text), "lexicon_polarity": None,
                              "review_date": date(2020, 1, 1)})
    tags = product_tags(usable_sentences(sentences), TagSettings(), date(2020, 1, 2))
    gold = {lemma(" ".join(r["tokens"][a:b]).lower()) for r in rows for a, b in spans(bio_labels(r["labels"]))}
    tagged = {lemma(t) for t in tags["tag"]}
    assert len(tagged) >= 8
    assert len(tagged & gold) / len(tagged) >= 0.7
    assert {"food", "service", "staff"} <= tagged

"""Sentences stage on Spark NLP + Delta: hand-written reviews in silver.reviews -> silver.review_sentences,
silver.sentence_vectors and silver.sentence_aspects; the fitted pipeline and the aspect extractor in the model
store; incremental and idempotent re-runs."""

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from reviewlake.model_store import ModelStore
from tests.conftest import read_table

REVIEWS = {
    "r1": ("p1", "The batteries last for weeks. But the blades broke after two months! Would not buy again."),
    "r2": ("p1", "Great."),
    "r3": ("p2", "The lid leaks when I pour. Mail [EMAIL] for the receipt."),
    "r4": ("p2", None),
}


def _write_reviews(spark, lake, reviews: dict) -> None:
    schema = lake.read("silver.reviews").schema
    rows = [{"review_id": rid, "product_id": pid, "text": text, "rating": 4.0, "text_hash": f"h-{rid}",
             "source": "test", "source_file": "f", "source_line_no": i, "ingest_batch_id": "b",
             "clean_batch_id": "c", "updated_at": datetime(2024, 1, 1), "review_ts": datetime(2023, 6, 1 + i),
             "review_date": datetime(2023, 6, 1 + i).date(), "user_id": f"u_{i}", "category": "Kitchen",
             "language": "en", "verified": True, "helpful_votes": 0, "title": ""}
            for i, (rid, (pid, text)) in enumerate(reviews.items())]
    lake.merge("silver.reviews", spark.createDataFrame(pd.DataFrame(rows).reindex(columns=schema.fieldNames()),
                                                       schema=schema))


@pytest.fixture(scope="module")
def module_lake(spark, base_config, tmp_path_factory):
    from dataclasses import replace

    from reviewlake.lake import Lake

    config = replace(base_config, lake=tmp_path_factory.mktemp("sentences") / "lake", pii_salt="test-salt")
    return config, Lake(spark, config.lake)


@pytest.fixture(scope="module")
def split_lake(spark, module_lake):
    """The four reviews split once; the tests below read it, the last one changes it."""
    config, lake = module_lake
    _write_reviews(spark, lake, REVIEWS)
    from reviewlake.context import RunParams
    from reviewlake.pipeline import run_pipeline

    outcomes = run_pipeline(config, RunParams(stages=("sentences",)), say=lambda _m: None, run_id="first")
    assert [o.status for o in outcomes] == ["succeeded"]
    return config, outcomes[0].result


def test_reviews_become_sentences_with_lemmas_and_keyphrases(split_lake):
    config, result = split_lake
    rows = read_table(config.lake, "silver.review_sentences").sort_values(["review_id", "sentence_idx"])
    r1 = rows[rows["review_id"] == "r1"]
    assert r1["sentence"].tolist() == ["The batteries last for weeks.", "But the blades broke after two months!",
                                       "Would not buy again."]
    assert r1["sentence_idx"].tolist() == [0, 1, 2]
    assert (r1["product_id"] == "p1").all()
    first = r1.iloc[0]
    assert list(first["tokens"]) == ["the", "batteries", "last", "for", "weeks"]
    # Stop words gone, nouns lemmatised from the lemma dictionary ("batteries" -> "battery", "weeks" -> "week").
    assert "battery" in list(first["lemmas"]) and "week" in list(first["lemmas"]) and "the" not in list(first["lemmas"])
    assert "blade" in list(r1.iloc[1]["lemmas"])
    assert list(first["lemmas"]) == ["battery", "last", "week"]
    assert list(first["lemma_bigrams"]) == ["battery last", "last week"]
    assert all(len(k) for k in first["keyphrases"]) and "batteries" in " ".join(first["keyphrases"])
    assert r1["n_words"].tolist() == [5, 7, 4]
    assert rows.set_index(["review_id", "sentence_idx"]).loc[("r2", 0), "sentence"] == "Great."
    assert "r4" not in set(rows["review_id"])          # no text, no sentence
    assert rows["lexicon_polarity"].notna().all()
    assert result.details["reviews"] == 4


def test_each_distinct_usable_sentence_is_embedded_once(split_lake):
    config, result = split_lake
    sentences = read_table(config.lake, "silver.review_sentences")
    vectors = read_table(config.lake, "silver.sentence_vectors")
    usable = set(sentences.loc[sentences["n_words"].between(4, 40), "sentence_hash"])
    assert set(vectors["sentence_hash"]) == usable           # "Great." (1 word) has none
    assert len(vectors) == len(usable) == result.details["sentences_embedded"]
    norms = np.linalg.norm(np.stack(vectors["vector"].to_numpy()), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-3)
    assert vectors["encoder"].str.startswith("all-MiniLM-L6-v2/").all()


def test_each_distinct_usable_sentence_gets_its_aspect_terms_once(split_lake):
    config, result = split_lake
    sentences = read_table(config.lake, "silver.review_sentences")
    aspects = read_table(config.lake, "silver.sentence_aspects")
    usable = sentences[sentences["n_words"].between(4, 40)]
    assert set(aspects["sentence_hash"]) == set(usable["sentence_hash"])
    assert len(aspects) == result.details["sentences_aspect_searched"]
    terms = dict(zip(usable["sentence"], usable["sentence_hash"].map(
        dict(zip(aspects["sentence_hash"], aspects["aspect_terms"].map(list), strict=True))), strict=True))
    # Its quality is tested on real sentences (tests/test_aspects.py); here: the terms are stored per sentence,
    # as written in it.
    assert "batteries" in terms["The batteries last for weeks."]
    assert terms["Would not buy again."] == []
    assert all(term in sentence.lower() for sentence, found in terms.items() for term in found)
    store = ModelStore(config.lake, "aspects")
    assert aspects["extractor"].eq(store.current()).all()
    assert store.metadata(store.current())["kind"] == "aspect-term-extractor+aspect-sentiment"
    # One targeted polarity per term (its quality: tests/test_aspect_sentiment.py).
    polarity = dict(zip(aspects["sentence_hash"], aspects["aspect_polarity"].map(list), strict=True))
    assert all(len(polarity[h]) == len(t) for h, t in zip(aspects["sentence_hash"], aspects["aspect_terms"],
                                                            strict=True))
    assert all(-1 <= p <= 1 for values in polarity.values() for p in values)


def test_fitted_pipeline_is_versioned_in_the_lake_and_reused(split_lake, spark):
    config, _result = split_lake
    store = ModelStore(config.lake, "sentences")
    version = store.current()
    assert version and store.metadata(version)["kind"] == "spark-nlp-pipeline"
    assert store.metadata(version)["lemmas"] > 10_000
    from reviewlake.context import RunParams
    from reviewlake.pipeline import run_pipeline

    again = run_pipeline(config, RunParams(stages=("sentences",)), say=lambda _m: None, run_id="again")
    assert again[0].status == "succeeded"
    assert again[0].result.details["reviews"] == 0 and again[0].result.details["sentences_embedded"] == 0
    assert again[0].result.details["sentences_aspect_searched"] == 0
    assert store.current() == version and store.versions() == [version]
    assert len(ModelStore(config.lake, "aspects").versions()) == 1    # trained once


def test_a_changed_review_replaces_its_sentences_and_only_new_sentences_are_embedded(split_lake, spark, module_lake):
    config, _result = split_lake
    lake = module_lake[1]
    before = read_table(config.lake, "silver.sentence_vectors")
    _write_reviews(spark, lake, {"r1": ("p1", "The batteries last for weeks. The case feels solid in the hand.")})
    from reviewlake.context import RunParams
    from reviewlake.pipeline import run_pipeline

    outcome = run_pipeline(config, RunParams(stages=("sentences",)), say=lambda _m: None, run_id="second")[0]
    assert outcome.status == "succeeded" and outcome.result.details["reviews"] == 1
    rows = read_table(config.lake, "silver.review_sentences")
    r1 = rows[rows["review_id"] == "r1"].sort_values("sentence_idx")
    assert r1["sentence"].tolist() == ["The batteries last for weeks.", "The case feels solid in the hand."]
    assert len(rows[rows["review_id"] == "r3"]) == 2           # other reviews untouched
    after = read_table(config.lake, "silver.sentence_vectors")
    assert outcome.result.details["sentences_embedded"] == 1    # the first sentence already had a vector
    assert outcome.result.details["sentences_aspect_searched"] == 1
    assert len(after) == len(before) + 1

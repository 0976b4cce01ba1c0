"""Sentiment stage on real Spark and Delta: UDF = core, cold start, incremental scoring, model choice."""

import shutil
from dataclasses import replace
from datetime import date

import numpy as np
import pytest
from deltalake import DeltaTable

from jobs import sentiment
from reviewlake.context import RunParams
from reviewlake.model_store import ModelStore
from reviewlake.pipeline import run_pipeline
from reviewlake.synthetic import generate
from udfs import sentiment as core

RUN_DATE = date(2026, 11, 1)
QUIET = {"say": lambda _m: None}


@pytest.fixture(scope="module")
def silver_lake(spark, base_config, tmp_path_factory):
    """A lake with bronze and silver built from 1,500 synthetic reviews (copied by each test)."""
    root = tmp_path_factory.mktemp("sentiment")
    generate(1500, 31, root / "in")
    config = replace(base_config, lake=root / "lake", pii_salt="s")
    run_pipeline(config, RunParams(inputs=(str(root / "in/reviews.jsonl.gz"),), stages=("ingest", "clean"),
                                   run_date=RUN_DATE), run_id="build", **QUIET)
    return root / "lake"


@pytest.fixture
def sentiment_config(config, silver_lake):
    shutil.copytree(silver_lake, config.lake)
    return replace(config, sentiment=replace(config.sentiment, tier="fast", eval_rows=500, min_rated_reviews=100))


def _sentiment_run(config, run_id, **options):
    outcome = run_pipeline(config, RunParams(stages=("sentiment",), run_date=RUN_DATE, options=options),
                           run_id=run_id, **QUIET)
    return outcome[0].result


def test_fast_tier_scores_everything_then_only_new_reviews(spark, sentiment_config, lake, tmp_path):
    first = _sentiment_run(sentiment_config, "s1")
    silver = DeltaTable(str(sentiment_config.lake / "silver/reviews")).to_pandas()
    gold = DeltaTable(str(sentiment_config.lake / "gold/review_sentiment")).to_pandas()
    assert first.details["scored"] == len(silver) == len(gold)
    assert set(gold["review_id"]) == set(silver["review_id"])
    assert gold["score"].between(-1, 1).all() and set(gold["label"]) <= set(core.LABELS)
    store = ModelStore(sentiment_config.lake, "sentiment")
    assert store.current().startswith("ngram-")
    assert (gold["model_version"] == store.current()).all()
    metrics = DeltaTable(str(sentiment_config.lake / "ops/model_metrics")).to_pandas()
    macro = metrics[metrics["metric"] == "macro_f1"].set_index("model")["value"]
    assert {"sentiment.vader", "sentiment.ngram"} <= set(macro.index)
    assert macro["sentiment.ngram"] > macro["sentiment.vader"]
    assert {"confusion.negative.positive", "cohen_kappa", "balanced_accuracy"} <= set(metrics["metric"])
    # Labels agree with the stars far more often than not on the data's own reviews.
    joined = gold.merge(silver, on="review_id")
    rated = joined[joined["rating"].notna()]
    agree = (rated["label"] == rated["rating"].map(lambda r: core.LABELS[core.rating_to_label(r)])).mean()
    assert agree > 0.85

    # New reviews arrive: only they are scored, with the same (not retrained) model.
    generate(300, 77, tmp_path / "more")
    run_pipeline(sentiment_config, RunParams(inputs=(str(tmp_path / "more/reviews.jsonl.gz"),),
                                             stages=("ingest", "clean"), run_date=RUN_DATE), run_id="more", **QUIET)
    added = len(DeltaTable(str(sentiment_config.lake / "silver/reviews")).to_pandas()) - len(silver)
    second = _sentiment_run(sentiment_config, "s2")
    assert second.details["scope"] == "new or changed reviews"
    assert "training" not in second.details
    assert second.details["scored"] == added > 0
    assert len(DeltaTable(str(sentiment_config.lake / "gold/review_sentiment")).to_pandas()) == len(silver) + added


def test_udf_equals_the_plain_core(spark, sentiment_config, lake):
    _sentiment_run(sentiment_config, "s1")
    store = ModelStore(sentiment_config.lake, "sentiment")
    model_dir = str(store.path(store.current()))
    rows = lake.read("silver.reviews").limit(200)
    scored = sentiment.transform(rows, model_dir, "v", "r").toPandas().set_index("review_id")
    local = rows.select("review_id", sentiment.review_text(rows.title, rows.text).alias("t")).toPandas()
    expected = core.predict_frame(core.load_model(model_dir), local["t"].tolist())
    expected.index = local["review_id"]
    scored = scored.loc[expected.index]
    assert (scored["label"] == expected["label"]).all()
    assert np.allclose(scored["prob_positive"], expected["prob_positive"])


def test_cold_start_uses_the_lexicon_and_says_so(spark, sentiment_config, lake):
    config = replace(sentiment_config, sentiment=replace(sentiment_config.sentiment, min_rated_reviews=10**9))
    result = _sentiment_run(config, "cold")
    assert result.details["model_source"] == "cold_start"
    assert "cold start" in result.message
    gold = DeltaTable(str(config.lake / "gold/review_sentiment")).to_pandas()
    assert (gold["model_version"] == sentiment.LEXICON_VERSION).all()
    ledger = DeltaTable(str(config.lake / "ops/pipeline_runs")).to_pandas()
    assert "cold start" in ledger[ledger["run_id"] == "cold"]["message"].iloc[0]


def test_given_model_version_is_used_and_unknown_is_a_user_error(spark, sentiment_config, lake):
    from reviewlake.errors import UserError

    _sentiment_run(sentiment_config, "s1")
    version = ModelStore(sentiment_config.lake, "sentiment").current()
    result = _sentiment_run(sentiment_config, "given", sentiment_model=version)
    assert result.details["model_source"] == "given"
    with pytest.raises(UserError, match="neither a model directory"):
        _sentiment_run(sentiment_config, "bad", sentiment_model="no-such-model")


def _candidate(kind, f1, speed):
    return sentiment.Candidate(kind, None, {"macro_f1": f1}, 0.0, speed)


def test_choose_by_macro_f1_within_the_tier_and_budget():
    candidates = [_candidate("vader", 0.9, 1e6), _candidate("ngram", 0.80, 10_000),
                  _candidate("encoder_head", 0.78, 200), _candidate("finetuned", 0.86, 150)]
    assert sentiment.choose(candidates, "fast", 220_000, 600).kind == "ngram"
    assert sentiment.choose(candidates, "transformer", 220_000, 600).kind == "finetuned"
    # auto: the fine-tuned model would need 1,467 s for 220k on this hardware, over budget.
    assert sentiment.choose(candidates, "auto", 220_000, 600).kind == "ngram"
    assert sentiment.choose(candidates, "auto", 20_000, 600).kind == "finetuned"


@pytest.mark.slow
def test_transformer_tier_on_cpu(spark, sentiment_config, lake):
    settings = replace(sentiment_config.sentiment, tier="transformer", encoder_train_rows=300,
                       finetune_train_rows=300, finetune_budget_s=20, eval_rows=150)
    config = replace(sentiment_config, sentiment=settings)
    result = _sentiment_run(config, "tx")
    candidates = result.details["training"]["candidates"]
    assert {"vader", "encoder_head", "finetuned"} <= set(candidates)
    assert "ngram" not in candidates
    version = ModelStore(config.lake, "sentiment").current()
    assert version.split("-")[0] in {"encoder_head", "finetuned"}
    gold = DeltaTable(str(config.lake / "gold/review_sentiment")).to_pandas()
    assert len(gold) == result.details["scored"] > 1000
    assert (gold["model_version"] == version).all()


@pytest.mark.slow
def test_a_worse_retrained_model_is_saved_but_not_promoted(spark, sentiment_config, lake):
    _sentiment_run(sentiment_config, "s1")
    store = ModelStore(sentiment_config.lake, "sentiment")
    first = store.current()
    # A frozen-encoder head on 200 reviews cannot match the n-gram model trained on all of them.
    weak = replace(sentiment_config.sentiment, tier="transformer", encoder_train_rows=200, finetune_on_cpu=False)
    result = _sentiment_run(replace(sentiment_config, sentiment=weak), "s2", retrain=True)
    training = result.details["training"]
    assert training["trained"].startswith("encoder_head-")
    assert training["promoted"] is False
    assert "on the same holdout" in training["promotion_reason"]
    assert store.current() == first
    assert training["trained"] in store.versions()
    # Nothing changed for scoring: the current model still scores (incrementally: nothing new).
    assert result.details["model_version"] == first and result.details["scored"] == 0

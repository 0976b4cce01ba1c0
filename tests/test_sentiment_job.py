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


def test_cold_start_uses_the_lexicon_when_asked_and_says_so(spark, sentiment_config, lake):
    config = replace(sentiment_config, sentiment=replace(sentiment_config.sentiment, min_rated_reviews=10**9,
                                                         cold_start="vader"))
    result = _sentiment_run(config, "cold")
    assert result.details["model_source"] == "cold_start"
    assert "cold start: VADER lexicon (asked for)" in result.message
    gold = DeltaTable(str(config.lake / "gold/review_sentiment")).to_pandas()
    assert (gold["model_version"] == sentiment.LEXICON_VERSION).all()
    ledger = DeltaTable(str(config.lake / "ops/pipeline_runs")).to_pandas()
    assert "cold start" in ledger[ledger["run_id"] == "cold"]["message"].iloc[0]


def test_cold_start_uses_the_cached_base_model(spark, sentiment_config, lake, tmp_path):
    """A base model in the cache (here a small one trained in the test, in the layout `reviewlake base-model`
    writes) is installed into the lake's model store and scores every review; without one, the lexicon, and
    the message says how to build it."""
    cache = tmp_path / "cache"
    config = replace(sentiment_config, cache_dir=cache,
                     sentiment=replace(sentiment_config.sentiment, min_rated_reviews=10**9))
    without = _sentiment_run(config, "no-base")
    assert "no base model is built" in without.message

    positive = ["great product, works perfectly", "love it, excellent quality"] * 5
    negative = ["terrible, broke after a week", "awful quality, do not buy"] * 5
    built = cache / "base-sentiment" / "base-ngram-3-test"
    built.mkdir(parents=True)
    core.BaseModel.train(positive + negative, [2] * 10 + [0] * 10).save(built)
    (built / "metadata.json").write_text('{"kind": "base_ngram", "tier": "base", "version": "base-ngram-3-test"}')
    result = _sentiment_run(config, "base")
    assert result.details["cold_start"] == "base model base-ngram-3-test"
    assert "cold start: base model base-ngram-3-test" in result.message
    assert (ModelStore(config.lake, "sentiment").path("base-ngram-3-test") / "pipeline.npz").is_file()
    gold = DeltaTable(str(config.lake / "gold/review_sentiment")).to_pandas()
    assert (gold["model_version"] == "base-ngram-3-test").all()
    assert result.details["scored"] == len(gold)


def test_given_model_version_is_used_and_unknown_is_a_user_error(spark, sentiment_config, lake):
    from reviewlake.errors import UserError

    _sentiment_run(sentiment_config, "s1")
    version = ModelStore(sentiment_config.lake, "sentiment").current()
    result = _sentiment_run(sentiment_config, "given", sentiment_model=version)
    assert result.details["model_source"] == "given"
    with pytest.raises(UserError, match="neither a model directory"):
        _sentiment_run(sentiment_config, "bad", sentiment_model="no-such-model")


# Hand-written reviews for the Vivekn candidate, interleaved oldest first so the newest quarter (its
# cut-tuning rows) holds every class. As in real 3-star reviews, the neutral ones mix praise and complaint.
VIVEKN_POSITIVE = ["great product, works perfectly", "love it, excellent quality", "fantastic, highly recommend",
                   "really impressive and solid", "excellent value, very happy", "works great, love the design",
                   "perfect fit and great quality", "happy with it, highly recommend it", "sturdy and reliable",
                   "best purchase this year, love it", "brilliant, exactly as described", "superb build, so happy",
                   "wonderful gift, my wife loves it", "solid value, works perfectly", "excellent, would buy again",
                   "great price and fast delivery"]
VIVEKN_NEGATIVE = ["terrible, broke after a week", "awful quality, do not buy", "disappointing and poor",
                   "waste of money, returning it", "cheap and flimsy, very bad", "broke quickly, awful design",
                   "poor fit and terrible quality", "very disappointing, waste of money", "useless junk",
                   "stopped working, total rubbish", "horrible, arrived damaged", "worst purchase, avoid it",
                   "faulty and noisy, sent it back", "flimsy plastic, cracked at once", "awful, never again",
                   "bad price and slow delivery"]
VIVEKN_NEUTRAL = ["okay, nice design but cheap plastic", "average, works but noisy", "good price, poor manual",
                  "fine, some good parts and some bad", "solid but disappointing battery", "okay for the price",
                  "love the colour, hate the size", "mixed feelings, decent but flimsy", "works, nothing special",
                  "average quality, fair price", "decent, though it broke once", "good enough, a bit loud",
                  "nice idea, mediocre build", "neither great nor terrible", "fine but slow delivery",
                  "acceptable, not impressive"]
VIVEKN_ROWS = [row for triple in zip(VIVEKN_POSITIVE, VIVEKN_NEGATIVE, VIVEKN_NEUTRAL, strict=True)
               for row in zip(triple, (core.POSITIVE, core.NEGATIVE, core.NEUTRAL), strict=True)]


def test_vivekn_separates_clearly_positive_from_clearly_negative(spark, tmp_path):
    texts, labels = zip(*VIVEKN_ROWS, strict=True)
    model = sentiment.ViveknModel.train(spark, list(texts), list(labels), tune_fraction=0.25)
    positive = ["excellent design, works perfectly, highly recommend", "great quality, very happy with it"]
    negative = ["awful, broke after a day, do not buy", "terrible and flimsy, a waste of money"]
    frame = core.predict_frame(model, positive + negative)
    assert list(frame["label"]) == ["positive", "positive", "negative", "negative"]
    assert frame["score"].iloc[:2].min() > 0 > frame["score"].iloc[2:].max()
    # Saved into the model store and loaded back (Spark ML's own format): the same predictions.
    store = ModelStore(tmp_path, "sentiment")
    loaded = sentiment.load_model(store.path(store.save(model, {"kind": "vivekn"})), spark)
    assert loaded.cuts == pytest.approx(model.cuts)
    assert np.allclose(loaded.predict_proba(positive + negative), model.predict_proba(positive + negative))


def test_vivekn_candidate_metrics_land_in_model_metrics(spark, sentiment_config, lake):
    result = _sentiment_run(sentiment_config, "viv")
    metrics = DeltaTable(str(sentiment_config.lake / "ops/model_metrics")).to_pandas()
    vivekn = metrics[metrics["model"] == "sentiment.vivekn"].set_index("metric")["value"]
    assert {"macro_f1", "balanced_accuracy", "cohen_kappa", "confusion.negative.negative", "train_seconds"} <= set(
        vivekn.index)
    # Scored on the same holdout sample as the others: as many rows (one confusion cell each), same data set.
    ngram = metrics[metrics["model"] == "sentiment.ngram"].set_index("metric")["value"]
    assert vivekn.filter(like="confusion.").sum() == ngram.filter(like="confusion.").sum() > 100
    assert set(metrics[metrics["model"] == "sentiment.vivekn"]["dataset"]) == set(
        metrics[metrics["model"] == "sentiment.ngram"]["dataset"])
    assert vivekn["macro_f1"] == pytest.approx(result.details["training"]["candidates"]["vivekn"]["macro_f1"],
                                               abs=1e-4)
    # Better than any model that always answers one class (macro-F1 at most 1/3: one class's F1, two zeros).
    assert vivekn["macro_f1"] > 1 / 3


def test_a_vivekn_model_scores_every_review_through_spark(spark, sentiment_config, lake):
    silver = lake.read("silver.reviews")
    labelled = sentiment.labelled_reviews(silver).toPandas()
    model = sentiment.ViveknModel.train(spark, labelled["input_text"].tolist(), labelled["label"].to_numpy(), 0.2)
    store = ModelStore(sentiment_config.lake, "sentiment")
    version = store.save(model, {"kind": "vivekn"})
    result = _sentiment_run(sentiment_config, "given", sentiment_model=version)
    gold = DeltaTable(str(sentiment_config.lake / "gold/review_sentiment")).to_pandas().set_index("review_id")
    assert result.details["scored"] == silver.count() == len(gold)
    assert (gold["model_version"] == version).all()
    # The Spark transform agrees with the plain core on the same texts.
    local = silver.select("review_id", sentiment.review_text(silver.title, silver.text).alias("t")).toPandas()
    expected = core.predict_frame(model, local["t"].tolist())
    scored = gold.loc[local["review_id"]]
    assert (scored["label"].to_numpy() == expected["label"].to_numpy()).all()
    assert np.allclose(scored["prob_positive"].to_numpy(), expected["prob_positive"].to_numpy())


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


def test_vivekn_competes_in_the_fast_tier():
    candidates = [_candidate("vader", 0.9, 1e6), _candidate("ngram", 0.80, 10_000),
                  _candidate("vivekn", 0.83, 2_000), _candidate("encoder_head", 0.85, 200)]
    assert sentiment.choose(candidates, "fast", 220_000, 600).kind == "vivekn"
    assert sentiment.choose(candidates, "transformer", 220_000, 600).kind == "encoder_head"
    candidates[2] = _candidate("vivekn", 0.79, 2_000)
    assert sentiment.choose(candidates, "fast", 220_000, 600).kind == "ngram"


@pytest.mark.slow
def test_transformer_tier_on_cpu(spark, sentiment_config, lake):
    settings = replace(sentiment_config.sentiment, tier="transformer", encoder_train_rows=300,
                       finetune_train_rows=300, finetune_train_rows_cpu=300, finetune_max_epochs=2, eval_rows=150)
    config = replace(sentiment_config, sentiment=settings)
    result = _sentiment_run(config, "tx")
    candidates = result.details["training"]["candidates"]
    assert {"vader", "encoder_head", "finetuned"} <= set(candidates)
    metrics = DeltaTable(str(config.lake / "ops/model_metrics")).to_pandas()
    assert "sentiment.finetuned" in set(metrics["model"])
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

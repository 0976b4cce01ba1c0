"""Sentiment: silver.reviews -> gold.review_sentiment, ops.model_metrics, models/sentiment/ in the lake.

Trains candidates on the data's own star ratings (time split: the newest reviews are held out), records
every candidate's metrics, promotes the best by macro-F1 only if it is not worse than the current model on
the same holdout, then scores the silver reviews that are new or changed (all of them when the scoring
model changed) with a pandas iterator UDF that loads the model once per Python worker; the Spark NLP Vivekn
candidate, which runs in the JVM, scores through its fitted PipelineModel instead.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.ml import Pipeline, PipelineModel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StringType, StructField, StructType

from reviewlake.config import SentimentSettings
from reviewlake.context import StageContext, StageResult
from reviewlake.errors import UserError
from reviewlake.model_store import ModelStore
from udfs import sentiment as core

REVIEWS, SENTIMENT = "silver.reviews", "gold.review_sentiment"
TIERS = ("fast", "transformer", "auto")
# Tiers are about scoring cost: Vivekn is naive Bayes over word 1-3-grams in the JVM, no encoder, so it costs
# what the n-gram model costs and competes with it in the fast tier.
TIER_OF_KIND = {"ngram": "fast", "vivekn": "fast", "distilled": "fast", "encoder_head": "transformer",
                "finetuned": "transformer",
                "vader": "lexicon", "base_ngram": "base"}
COLD_START = ("base", "vader")
LEXICON_VERSION = "vader-3.3.2"

_PREDICTION = StructType([StructField("label", StringType()), StructField("score", DoubleType()),
                          StructField("prob_negative", DoubleType()), StructField("prob_neutral", DoubleType()),
                          StructField("prob_positive", DoubleType())])


def review_text(title: Column, text: Column) -> Column:
    """What a model reads: title and text ("Five Stars. Works great")."""
    return F.concat_ws(". ", F.nullif(F.trim(title), F.lit("")), F.nullif(F.trim(text), F.lit("")))


def labelled_reviews(reviews: DataFrame) -> DataFrame:
    """Reviews with text and a rating -> (review_id, review_ts, input_text, label index)."""
    label = (F.when(F.col("rating") < 3, core.NEGATIVE).when(F.col("rating") == 3, core.NEUTRAL)
             .otherwise(core.POSITIVE))
    return reviews.where(F.col("rating").isNotNull() & (F.length(F.coalesce("text", F.lit(""))) > 0)).select(
        "review_id", "review_ts", review_text(F.col("title"), F.col("text")).alias("input_text"),
        label.alias("label"))


def time_split(labelled: pd.DataFrame, holdout_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Oldest (1 - f) for training, newest f held out; ties broken by review_id for determinism."""
    ordered = labelled.sort_values(["review_ts", "review_id"], kind="stable").reset_index(drop=True)
    cut = int(round(len(ordered) * (1 - holdout_fraction)))
    return ordered.iloc[:cut], ordered.iloc[cut:]


@dataclass
class Candidate:
    """One trained (or lexicon) model with its held-out metrics."""

    kind: str
    model: core.SentimentModel
    metrics: dict[str, float]
    train_seconds: float
    reviews_per_second: float
    notes: dict = field(default_factory=dict)

    @property
    def tier(self) -> str:
        return TIER_OF_KIND[self.kind]


def _sample(frame: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    return frame if len(frame) <= rows else frame.sample(rows, random_state=seed).sort_index()


def evaluate(model: core.SentimentModel, holdout: pd.DataFrame) -> tuple[dict[str, float], float]:
    """Held-out metrics and measured single-process throughput (reviews/s)."""
    started = time.perf_counter()
    probabilities = model.predict_proba(holdout["input_text"].tolist())
    seconds = max(time.perf_counter() - started, 1e-6)
    return core.classification_metrics(holdout["label"].to_numpy(), probabilities), len(holdout) / seconds


class ViveknModel(core.SentimentModel):
    """Spark NLP's Vivekn sentiment (naive Bayes over negation-marked word 1-3-grams) + learned 3-class cuts.

    Binary Vivekn is trained on the positive and negative reviews only; its confidence becomes three classes
    with cut points learned on the newest training rows (see udfs/sentiment.py: vivekn_cuts). It runs in the
    JVM, so it needs the Spark session, and scoring goes through `score` (a Spark transform), not the UDF.
    """

    kind = "vivekn"
    LABEL_COLUMN, OUTPUT_COLUMN = "vivekn_label", "vivekn"

    def __init__(self, pipeline: PipelineModel, cuts: tuple[float, float], spark: SparkSession) -> None:
        self.pipeline, self.cuts, self.spark = pipeline, cuts, spark

    @classmethod
    def unfitted(cls) -> Pipeline:
        """DocumentAssembler -> Tokenizer -> Normalizer -> ViveknSentimentApproach over a `text` column."""
        from sparknlp.annotator import Normalizer, Tokenizer, ViveknSentimentApproach
        from sparknlp.base import DocumentAssembler

        return Pipeline(stages=[
            DocumentAssembler().setInputCol("text").setOutputCol("document"),
            Tokenizer().setInputCols(["document"]).setOutputCol("token"),
            # Letters and apostrophes only: Vivekn negates the words after "not", "no" or a word ending in n't.
            Normalizer().setInputCols(["token"]).setOutputCol("normalized").setLowercase(True)
            .setCleanupPatterns([r"[^\p{L}']"]),
            ViveknSentimentApproach().setInputCols(["document", "normalized"]).setOutputCol(cls.OUTPUT_COLUMN)
            .setSentimentCol(cls.LABEL_COLUMN),
        ])

    @staticmethod
    def fit_rows(n_rows: int, tune_fraction: float) -> int:
        """How many of the oldest training rows Vivekn is fitted on; the newest rest tune its cut points."""
        return int(round(n_rows * (1 - tune_fraction)))

    @classmethod
    def trainable(cls, labels: Sequence[int], tune_fraction: float) -> bool:
        """Whether the rows it would be fitted on hold both positive and negative reviews."""
        fitted_on = set(np.asarray(labels)[:cls.fit_rows(len(labels), tune_fraction)].tolist())
        return {core.NEGATIVE, core.POSITIVE} <= fitted_on

    @classmethod
    def train(cls, spark: SparkSession, texts: Sequence[str], labels: Sequence[int],
              tune_fraction: float) -> ViveknModel:
        """Fit on the older (1 - tune_fraction) of `texts` (oldest first), learn the cuts on the newest rest."""
        if not cls.trainable(labels, tune_fraction):
            raise ValueError("Vivekn needs both positive and negative reviews among its training rows")
        texts, labels = core._texts(texts), np.asarray(labels)
        n_fit = cls.fit_rows(len(texts), tune_fraction)
        polar = pd.DataFrame({"text": texts[:n_fit], "label": labels[:n_fit]})
        polar = polar[polar["label"] != core.NEUTRAL]
        counts = polar["label"].value_counts()
        # Vivekn's counts and confidence follow the raw amount of text per side, so the minority side's rows
        # are repeated up to the majority's size (the n-gram model's class-balanced weights, by counting).
        repeats = np.where(polar["label"] == counts.idxmin(), int(round(counts.max() / counts.min())), 1)
        rows = spark.createDataFrame(pd.DataFrame({
            "text": polar["text"], "repeats": repeats,
            cls.LABEL_COLUMN: np.where(polar["label"] == core.POSITIVE, "positive", "negative")}))
        balanced = rows.withColumn("copy", F.explode(F.sequence(F.lit(1), F.col("repeats"))))
        pipeline = cls.unfitted().fit(balanced)
        # The cuts are learned for exactly this fitted model: refitting on all rows would move the
        # confidences they were tuned on, so the newest training rows are given up for tuning instead.
        model = cls(pipeline, core.VIVEKN_DEFAULT_CUTS, spark)
        if n_fit < len(texts):
            model.cuts = core.vivekn_cuts(labels[n_fit:], model.positive_share(texts[n_fit:]))
        return model

    def verdicts(self, frame: DataFrame) -> DataFrame:
        """`frame` (with a `text` column) plus Vivekn's verdict and confidence (null when it has none)."""
        first = F.col(self.OUTPUT_COLUMN).getItem(0)
        return (self.pipeline.transform(frame)
                .withColumn("vivekn_result", first["result"])
                .withColumn("vivekn_confidence", first["metadata"].getItem("confidence").cast("double")))

    def positive_share(self, texts: Sequence[str]) -> np.ndarray:
        """Vivekn's verdicts on `texts` (in their order) as positive shares (udfs/sentiment.py)."""
        frame = self.spark.createDataFrame(pd.DataFrame({"row": np.arange(len(texts)), "text": core._texts(texts)}))
        verdicts = (self.verdicts(frame).select("row", "vivekn_result", "vivekn_confidence").toPandas()
                    .sort_values("row"))
        return core.vivekn_positive_share(verdicts["vivekn_result"].tolist(), verdicts["vivekn_confidence"].tolist())

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return core.vivekn_probabilities(self.positive_share(texts), self.cuts) if len(texts) else np.zeros((0, 3))

    def score(self, frame: DataFrame) -> Column:
        """The prediction struct (as the UDF's) for `frame` transformed by `verdicts`; same core as predict_proba."""
        cuts = self.cuts

        @F.pandas_udf(_PREDICTION)
        def predict(results: pd.Series, confidences: pd.Series) -> pd.DataFrame:
            share = core.vivekn_positive_share(results.tolist(), confidences.tolist())
            return core.probability_frame(core.vivekn_probabilities(share, cuts))

        return predict(frame["vivekn_result"], frame["vivekn_confidence"])

    def save(self, directory: Path) -> None:
        self.pipeline.write().overwrite().save(str(Path(directory) / "pipeline"))
        (Path(directory) / "cuts.json").write_text(json.dumps({"cuts": list(self.cuts)}))

    @classmethod
    def load(cls, directory: Path, spark: SparkSession) -> ViveknModel:
        cuts = json.loads((Path(directory) / "cuts.json").read_text())["cuts"]
        return cls(PipelineModel.load(str(Path(directory) / "pipeline")), tuple(cuts), spark)


def load_model(model_dir: str | Path, spark: SparkSession) -> core.SentimentModel:
    """Any saved sentiment model (a Vivekn model runs in Spark and needs the session)."""
    if core.load_model_metadata(model_dir)["kind"] == ViveknModel.kind:
        return ViveknModel.load(Path(model_dir), spark)
    return core.load_model(model_dir)


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def train_candidates(train: pd.DataFrame, holdout: pd.DataFrame, settings: SentimentSettings, tier: str,
                     say: Callable[[str], None], spark: SparkSession,
                     unrated: Callable[[int], Sequence[str]] = lambda _n: ()) -> list[Candidate]:
    """Train the candidates `tier` allows and score them all on the same holdout sample. In the auto tier, a
    transformer candidate that beats every fast one also teaches a distilled fast one (its labels of training
    review texts and of up to n unrated ones, `unrated(n)`, read only then; never the holdout's)."""
    from udfs.encoder import cuda_available

    evaluation = _sample(holdout, settings.eval_rows)
    candidates: list[Candidate] = []

    def add(kind: str, build: Callable[[], core.SentimentModel], **notes) -> None:
        started = time.perf_counter()
        model = build()
        train_seconds = time.perf_counter() - started
        metrics, speed = evaluate(model, evaluation)
        notes.update(getattr(model, "training_summary", {}))
        candidates.append(Candidate(kind, model, metrics, train_seconds, speed, notes))
        say(f"  {kind:13s} macro-F1 {metrics['macro_f1']:.3f}  balanced-acc {metrics['balanced_accuracy']:.3f}  "
            f"kappa {metrics['cohen_kappa']:.3f}  ({train_seconds:.0f}s to train, {speed:,.0f} reviews/s)")

    add("vader", core.LexiconModel)
    if tier in ("fast", "auto"):
        rows = _sample(train, settings.max_train_rows)
        add("ngram", lambda: core.NgramModel.train(rows["input_text"].tolist(), rows["label"]),
            train_rows=len(rows))
        if ViveknModel.trainable(rows["label"].to_numpy(), settings.holdout_fraction):
            # The same rows, oldest first; the newest holdout_fraction of them tune the 3-class cut points.
            add("vivekn", lambda: ViveknModel.train(spark, rows["input_text"].tolist(), rows["label"].to_numpy(),
                                                    settings.holdout_fraction),
                train_rows=len(rows))
        else:
            say("  vivekn: skipped (needs both positive and negative training reviews)")
    if tier in ("transformer", "auto"):
        rows = _sample(train, settings.encoder_train_rows)
        add("encoder_head", lambda: core.EncoderHeadModel.train(rows["input_text"].tolist(), rows["label"]),
            train_rows=len(rows))
        if torch_available() and (cuda_available() or settings.finetune_on_cpu):
            from udfs.finetune import FineTunedModel

            rows = _sample(train, settings.finetune_train_rows if cuda_available() else
                           settings.finetune_train_rows_cpu)
            # Early stopping watches the newest of these rows; the holdout stays untouched for the choice.
            fit, validation = time_split(rows, settings.finetune_validation_fraction)
            def finetuned() -> FineTunedModel:
                model = FineTunedModel.train(
                    fit["input_text"].tolist(), fit["label"], settings.finetune_budget_s or None,
                    epochs=settings.finetune_max_epochs, patience=settings.finetune_patience, say=say,
                    validation=(validation["input_text"].tolist(), validation["label"].to_numpy()))
                # Judged as it will score: int8 on CPU (FineTunedModel.load quantises there too).
                return model if model.device == "cuda" else model.int8()

            add("finetuned", finetuned, train_rows=len(fit), validation_rows=len(validation))
        else:
            say("  finetuned: skipped (torch missing, or no GPU and finetune_on_cpu = false)")
    if tier == "auto":
        fast = [c for c in candidates if c.tier == "fast"]
        teachers = [c for c in candidates if c.tier == "transformer"]
        teacher = max(teachers, key=lambda c: c.metrics["macro_f1"], default=None)
        if teacher and fast and teacher.metrics["macro_f1"] > max(c.metrics["macro_f1"] for c in fast):
            n = settings.distil_rows if cuda_available() else settings.distil_rows_cpu
            texts = [*_sample(train, n)["input_text"], *unrated(n // 2)]
            add("distilled", lambda: core.DistilledModel.distil(teacher.model, texts), teacher=teacher.kind,
                taught_rows=len(texts))
    return candidates


def choose(candidates: list[Candidate], tier: str, rows_to_score: int, budget_s: float) -> Candidate:
    """Best macro-F1 among the tier's trained candidates; `auto` also requires scoring to fit the budget."""
    allowed = [c for c in candidates if c.kind != "vader" and (tier == "auto" or c.tier == tier)]
    if tier == "auto":
        # Measured speed already uses every core (BLAS/ONNX/torch threads); Spark adds overhead, not cores.
        fits = [c for c in allowed if rows_to_score / c.reviews_per_second <= budget_s]
        allowed = fits or [min(allowed, key=lambda c: rows_to_score / c.reviews_per_second)]
    return max(allowed, key=lambda c: c.metrics["macro_f1"])


_MODEL_CACHE: dict[str, core.SentimentModel] = {}


def _cached_model(model_dir: str) -> core.SentimentModel:
    if model_dir not in _MODEL_CACHE:
        _one_thread_per_worker()
        _MODEL_CACHE[model_dir] = core.load_model(model_dir)
        _one_thread_per_worker()
    return _MODEL_CACHE[model_dir]


def _one_thread_per_worker() -> None:
    """Spark already runs one Python worker per core; multi-threaded kernels inside each would fight."""
    import os
    import sys

    os.environ["REVIEWLAKE_ONNX_THREADS"] = "1"
    torch = sys.modules.get("torch")  # only models that use torch import it; don't pay for it otherwise
    if torch is not None and not torch.cuda.is_available():
        torch.set_num_threads(1)


def sentiment_udf(model_dir: str):
    """Pandas iterator UDF: the model is loaded once per Python worker and reused for every batch."""

    @F.pandas_udf(_PREDICTION)
    def predict(batches: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
        model = _cached_model(model_dir)
        for texts in batches:
            yield core.predict_frame(model, texts.tolist())

    return predict


def transform(reviews: DataFrame, model_dir: str, model_version: str, run_id: str) -> DataFrame:
    """silver.reviews rows -> gold.review_sentiment rows (pure apart from reading the model)."""
    text = review_text(F.col("title"), F.col("text"))
    if core.load_model_metadata(model_dir)["kind"] == ViveknModel.kind:
        model = ViveknModel.load(Path(model_dir), reviews.sparkSession)
        verdicts = model.verdicts(reviews.select("review_id", text.alias("text")))
        predicted = verdicts.select("review_id", model.score(verdicts).alias("p"))
    else:
        predicted = reviews.select("review_id", sentiment_udf(model_dir)(text).alias("p"))
    return predicted.select(
        "review_id", "p.label", "p.score", "p.prob_negative", "p.prob_neutral", "p.prob_positive",
        F.lit(model_version).alias("model_version"), F.current_timestamp().alias("scored_at"),
        F.lit(run_id).alias("run_id"))


def _candidate_metrics(candidate: Candidate) -> dict[str, float]:
    return {**candidate.metrics, "train_seconds": candidate.train_seconds,
            "reviews_per_second_1proc": candidate.reviews_per_second}


def _metadata(candidate: Candidate, silver_version: int | None, labelled: int, dataset: str) -> dict:
    return {"kind": candidate.kind, "tier": candidate.tier, "metrics": candidate.metrics,
            "training_table": REVIEWS, "training_table_version": silver_version, "labelled_reviews": labelled,
            "holdout": dataset, "notes": candidate.notes}


def _needs_training(store: ModelStore, labelled: int, settings: SentimentSettings, retrain: bool) -> bool:
    current = store.current()
    if retrain or current is None or core.saved_as_pickle(store.path(current)):
        return True
    trained_on = store.metadata(current).get("labelled_reviews") or 0
    return labelled >= trained_on * (1 + settings.retrain_growth)


def train_and_promote(ctx: StageContext, silver: DataFrame, store: ModelStore, tier: str,
                      n_labelled: int) -> dict:
    """Train candidates, record their metrics, save the chosen one, promote it if not worse than current."""
    settings = ctx.config.sentiment
    labelled = labelled_reviews(silver).toPandas()
    train, holdout = time_split(labelled, settings.holdout_fraction)
    silver_version = ctx.tables_read.get(REVIEWS)
    dataset = (f"{REVIEWS}@v{silver_version}:newest-{settings.holdout_fraction:.0%}-sample-"
               f"{min(settings.eval_rows, len(holdout))}")
    ctx.say(f"  training on {len(train):,} labelled reviews, holding out the newest {len(holdout):,}")
    def unrated(n: int) -> list[str]:
        """Texts of up to n reviews without stars (read only when a teacher is chosen)."""
        return (silver.where(F.col("rating").isNull() & (F.length(F.coalesce("text", F.lit(""))) > 0))
                .select(review_text(F.col("title"), F.col("text")).alias("input_text"))
                .limit(n).toPandas()["input_text"].tolist())

    candidates = train_candidates(train, holdout, settings, tier, ctx.say, ctx.spark, unrated)
    silver_rows = silver.count()
    chosen = choose(candidates, tier, silver_rows, settings.stage_budget_s)
    version = store.save(chosen.model, _metadata(chosen, silver_version, n_labelled, dataset))
    ctx.record_metrics(dataset, {
        (f"sentiment.{c.kind}", version if c is chosen else f"{c.kind}-candidate-{ctx.run_id}"): _candidate_metrics(c)
        for c in candidates})

    current = store.current()
    promoted, reason = True, "first model"
    if current is not None:
        current_metrics, _ = evaluate(load_model(store.path(current), ctx.spark),
                                      _sample(holdout, settings.eval_rows))
        promoted = chosen.metrics["macro_f1"] >= current_metrics["macro_f1"]
        reason = (f"macro-F1 {chosen.metrics['macro_f1']:.3f} vs current {current} "
                  f"{current_metrics['macro_f1']:.3f} on the same holdout")
    if promoted:
        store.promote(version, reason)
    ctx.say(f"  chose {chosen.kind} ({version}); {'promoted' if promoted else 'not promoted'}: {reason}")
    return {"trained": version, "promoted": promoted, "promotion_reason": reason, "holdout": dataset,
            "candidates": {c.kind: {k: round(v, 4) for k, v in c.metrics.items() if "." not in k}
                           for c in candidates}}


def _lexicon_model_dir(store: ModelStore) -> str:
    """The VADER model as a store version (it has no weights, only metadata), created once."""
    if LEXICON_VERSION not in store.versions():
        directory = store.path(LEXICON_VERSION)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "metadata.json").write_text(
            json.dumps({"kind": "vader", "tier": "lexicon", "version": LEXICON_VERSION}))
    return str(store.path(LEXICON_VERSION))


def cold_start_model(store: ModelStore, settings: SentimentSettings, cache_dir: Path) -> tuple[str, str]:
    """(model directory, why) for a lake with too few rated reviews: the base model built into the cache
    (installed into the lake's model store under its own version), else the VADER lexicon."""
    from reviewlake.base_sentiment import cached_model

    if settings.cold_start not in COLD_START:
        raise UserError(f"[sentiment] cold_start must be one of {', '.join(COLD_START)}, not {settings.cold_start!r}")
    built = cached_model(cache_dir) if settings.cold_start == "base" else None
    if built is None:
        why = ("VADER lexicon (asked for)" if settings.cold_start == "vader" else
               "VADER lexicon: no base model is built (`reviewlake base-model` builds it from the real data)")
        return _lexicon_model_dir(store), why
    if built.name not in store.versions():
        shutil.copytree(built, store.path(built.name))
    return str(store.path(built.name)), f"base model {built.name}"


def run(ctx: StageContext) -> StageResult:
    """Pick (train, or reuse) the scoring model, then score new/changed silver reviews into gold."""
    options = ctx.params.options
    settings = ctx.config.sentiment
    tier = options.get("sentiment_tier") or settings.tier
    if tier not in TIERS:
        raise UserError(f"--sentiment-tier must be one of {', '.join(TIERS)}, not {tier!r}")
    store = ModelStore(ctx.lake_root, "sentiment")
    store.discard_staging()
    silver = ctx.read(REVIEWS).cache()
    n_labelled = labelled_reviews(silver).count()
    details: dict = {"tier": tier, "labelled_reviews": n_labelled}

    if options.get("sentiment_model"):
        model_dir = str(store.resolve(options["sentiment_model"]))
        details["model_source"] = "given"
    elif n_labelled < settings.min_rated_reviews:
        model_dir, cold_start = cold_start_model(store, settings, ctx.config.cache_dir)
        details.update(model_source="cold_start", cold_start=cold_start)
        ctx.say(f"  cold start: {n_labelled:,} rated reviews < {settings.min_rated_reviews:,}; scoring with the "
                f"{cold_start}")
    else:
        if _needs_training(store, n_labelled, settings, bool(options.get("retrain"))):
            details["training"] = train_and_promote(ctx, silver, store, tier, n_labelled)
        model_dir = str(store.path(store.current()))
        details["model_source"] = "current"
    if core.saved_as_pickle(model_dir):
        raise UserError(f"the model {model_dir} was saved as a pickle by an earlier version and is no longer "
                        "loaded (a pickle can run code when loaded); pass a model saved by this version")
    model_version = core.load_model_metadata(model_dir)["version"]

    previous = ctx.last_success(ctx.stage)
    previous_version = None if previous is None else _json_field(previous.get("details"), "model_version")
    if previous_version == model_version:
        to_score = ctx.read_new(REVIEWS)
        details["scope"] = "new or changed reviews"
    else:
        to_score = silver
        details["scope"] = "all reviews (scoring model changed)"
    to_score = to_score.select("review_id", "title", "text")
    started = time.perf_counter()
    scored = transform(to_score, model_dir, model_version, ctx.run_id)
    write = ctx.merge(SENTIMENT, scored, mode="upsert")
    seconds = time.perf_counter() - started
    n_scored = write.inserted + write.updated
    rate = n_scored / seconds if seconds > 0 else 0.0
    silver.unpersist()
    details.update({"model_version": model_version, "scored": n_scored, "scoring_seconds": round(seconds, 1),
                    "reviews_per_second": round(rate)})
    ctx.say(f"  scored {n_scored:,} reviews with {model_version} in {seconds:.1f}s ({rate:,.0f} reviews/s)")
    message = f"model {model_version}" + (f" (cold start: {details['cold_start']})"
                                          if details["model_source"] == "cold_start" else "")
    return StageResult(rows_in=n_scored, rows_out=n_scored, message=message, details=details)


def _json_field(raw: str | None, key: str):
    try:
        return json.loads(raw or "{}").get(key)
    except ValueError:
        return None


if __name__ == "__main__":
    from reviewlake.cli import run_stage_main

    run_stage_main("sentiment")

"""Anomalies: silver.reviews (+ gold.review_sentiment, gold.product_tags, silver.review_sentences) ->
gold.metric_anomalies, gold.product_ts_clusters.

Builds daily and weekly series per category and per product (review_count, mean_rating, negative_share;
missing periods are explicit: 0 reviews, null rating) and weekly tag-mention series per product tag (usable
sentences mentioning the tag, counted by the tags stage's rule), scores each series with
udfs.anomaly.detect through `applyInPandas`, and writes only complete periods (a day or week that has ended
before the run date).
Nightly runs insert the periods not yet in the table; `--backfill-from/--backfill-to` recompute a range.
Products are also grouped by the shape of their weekly review counts (udfs.ts_clusters), rewritten each run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    DateType,
    DoubleType,
    StringType,
    StructField,
    StructType,
)

from reviewlake.context import StageContext, StageResult
from reviewlake.errors import UserError
from reviewlake.lake import REVISE_FLAG
from reviewlake.tables import table_spec
from udfs.anomaly import DetectorSettings, detect
from udfs.keyphrases import mention_mask
from udfs.sentences import usable
from udfs.ts_clusters import cluster_shapes

REVIEWS, SENTIMENT, ANOMALIES = "silver.reviews", "gold.review_sentiment", "gold.metric_anomalies"
CLUSTERS, TAGS, SENTENCES = "gold.product_ts_clusters", "gold.product_tags", "silver.review_sentences"
# metric -> (watched direction, is a count, sd of one review's contribution for averaged metrics)
METRICS = {"review_count": ("up", True, None), "mean_rating": ("down", False, 1.2),
           "negative_share": ("up", False, 0.5)}
# Weekly mentions of one product tag: metric "tag_mentions:<tag>" (the tag named in the metric, so a product's
# card lists them with its other series); a count, watched upwards like review_count.
TAG_METRIC = "tag_mentions"
TAG_MENTIONS = ("up", True, None)


CLUSTER_COLUMNS = table_spec("gold.product_ts_clusters").schema


@dataclass(frozen=True)
class SeriesPlan:
    """Which entities get which granularity."""

    min_reviews_weekly: int = 10     # products below this are too sparse to say anything
    min_reviews_daily: int = 100     # daily product series only for busy products
    tags_per_product: int = 5        # tag-mention series for a product's most mentioned tags only
    min_tag_mentions: int = 10       # a tag said fewer times in all has no weekly story to tell


_SCORED = StructType([
    StructField("entity_type", StringType()), StructField("entity_id", StringType()),
    StructField("metric", StringType()), StructField("period_start", DateType()),
    StructField("value", DoubleType()), StructField("expected", DoubleType()),
    StructField("score", DoubleType()), StructField("is_anomaly", BooleanType()),
])


def review_facts(reviews: DataFrame, sentiment: DataFrame | None) -> DataFrame:
    """One row per dated review: category, product, date, rating, is_negative (sentiment, else stars)."""
    facts = reviews.where(F.col("review_date").isNotNull()).select(
        "review_id", "product_id", F.coalesce("category", F.lit("unknown")).alias("category"), "review_date",
        "rating")
    if sentiment is not None:
        facts = facts.join(sentiment.select("review_id", "label"), "review_id", "left")
        negative = F.when(F.col("label").isNotNull(), F.col("label") == "negative").otherwise(F.col("rating") < 3)
    else:
        negative = F.col("rating") < 3
    return facts.withColumn("is_negative", negative.cast("double"))


def week_of(day: Column | str) -> Column:
    """The Monday of the week of a date column: the period_start of weekly series."""
    return F.date_trunc("week", day).cast("date")


def metric_series(facts: DataFrame, granularity: str, entity_type: str, last_complete: date,
                  min_reviews: int) -> DataFrame:
    """(entity_type, entity_id, granularity, period_start, review_count, mean_rating, negative_share) with every
    period from the entity's first review to `last_complete` present (0 reviews, null averages when empty)."""
    entity = "category" if entity_type == "category" else "product_id"
    unit = F.col("review_date") if granularity == "daily" else week_of("review_date")
    step = F.expr("INTERVAL 1 DAY") if granularity == "daily" else F.expr("INTERVAL 7 DAYS")
    per_period = facts.groupBy(F.col(entity).alias("entity_id"), unit.alias("period_start")).agg(
        F.count("*").cast("double").alias("review_count"), F.avg("rating").alias("mean_rating"),
        F.avg("is_negative").alias("negative_share"))
    last = F.lit(last_complete) if granularity == "daily" else week_of(F.lit(last_complete))
    entities = per_period.groupBy("entity_id").agg(
        F.min("period_start").alias("first"), F.sum("review_count").alias("total")).where(
        F.col("total") >= min_reviews)
    # An entity whose first review falls after the last complete period (a catch-up run with an older run date,
    # reviews dated a day ahead) has no period yet; sequence() would refuse start > stop.
    calendar = entities.where(F.col("first") <= last).select(
        "entity_id", F.explode(F.sequence("first", last, step)).alias("period_start"))
    return (
        calendar.join(per_period, ["entity_id", "period_start"], "left")
        .where(F.col("period_start") <= last)
        .select(F.lit(entity_type).alias("entity_type"), "entity_id", F.lit(granularity).alias("granularity"),
                "period_start", F.coalesce("review_count", F.lit(0.0)).alias("review_count"), "mean_rating",
                "negative_share")
    )


def _score_group(settings: DetectorSettings):
    def score(frame: pd.DataFrame) -> pd.DataFrame:
        metric, granularity = frame["metric"].iloc[0], frame["granularity"].iloc[0]
        direction, counts, unit_sd = METRICS.get(metric, TAG_MENTIONS)
        scored = detect(frame.rename(columns={"period_start": "timestamp"}),
                        replace(settings, direction=direction, counts=counts, unit_sd=unit_sd,
                                min_history=14 if granularity == "daily" else 8),
                        support_col="support")
        return pd.DataFrame({
            "entity_type": frame["entity_type"].iloc[0],
            "entity_id": frame["entity_id"].iloc[0],
            # Daily and weekly series of one entity share period starts (Mondays): the metric name tells them apart.
            "metric": f"{metric}_{granularity}",
            "period_start": scored["timestamp"].dt.date,
            "value": scored["value"], "expected": scored["expected"], "score": scored["score"],
            "is_anomaly": scored["is_anomaly"],
        })
    return score


def long_metrics(series: DataFrame) -> DataFrame:
    """metric_series rows -> one row per (entity, period, metric) with value and support (the review count)."""
    return series.select(
        "entity_type", "entity_id", "granularity", "period_start",
        F.explode(F.array(*[F.struct(F.lit(m).alias("metric"), F.col(m).cast("double").alias("value"))
                            for m in METRICS])).alias("m"),
        F.col("review_count").alias("support"),
    ).select("entity_type", "entity_id", "granularity", "period_start", "m.metric", "m.value", "support")


def tag_mention_series(sentences: DataFrame, reviews: DataFrame, tags: DataFrame,
                       last_complete_week: date) -> DataFrame:
    """Weekly mentions of each product tag in long form (entity 'product', metric 'tag_mentions:<tag>'), every
    week from the product's first dated review to `last_complete_week` present (0 when none).

    A mention is a usable sentence (PII-free, 4-40 words) that matches the tag by the tags stage's own rule
    (udfs.keyphrases.mention_mask), so these counts add up to gold.product_tags.n_mentions over time.
    """
    dated = reviews.where(F.col("review_date").isNotNull()).select("review_id", week_of("review_date").alias(
        "period_start"))
    tag_lists = tags.groupBy("product_id").agg(F.collect_list("tag").alias("tags"))
    rows = (sentences.select("review_id", "product_id", "sentence").join(dated, "review_id")
            .join(tag_lists, "product_id"))

    def count_mentions(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[np.fromiter((usable(s) for s in frame["sentence"]), bool, len(frame))]
        lowered = frame["sentence"].str.lower().to_numpy()
        parts = []
        for tag in frame["tags"].iloc[0] if len(frame) else ():
            weeks = frame.loc[mention_mask(tag, lowered), "period_start"]
            counted = weeks.value_counts()
            parts.append(pd.DataFrame({"product_id": frame["product_id"].iloc[0], "tag": tag,
                                       "period_start": counted.index, "mentions": counted.to_numpy(dtype=float)}))
        return pd.concat(parts) if parts else pd.DataFrame(columns=["product_id", "tag", "period_start", "mentions"])

    mentions = rows.groupBy("product_id").applyInPandas(
        count_mentions, "product_id string, tag string, period_start date, mentions double")
    first_week = dated.join(reviews.select("review_id", "product_id"), "review_id").groupBy("product_id").agg(
        F.min("period_start").alias("first"))
    calendar = (tags.select("product_id", "tag").join(first_week, "product_id")
                .where(F.col("first") <= F.lit(last_complete_week))      # sequence() refuses start > stop
                .select("product_id", "tag", F.explode(F.sequence(
                    "first", F.lit(last_complete_week), F.expr("INTERVAL 7 DAYS"))).alias("period_start")))
    value = F.coalesce("mentions", F.lit(0.0))
    return (calendar.join(mentions, ["product_id", "tag", "period_start"], "left")
            .select(F.lit("product").alias("entity_type"), F.col("product_id").alias("entity_id"),
                    F.lit("weekly").alias("granularity"), "period_start",
                    F.concat(F.lit(TAG_METRIC + ":"), "tag").alias("metric"), value.alias("value"),
                    value.alias("support")))


def transform(long: DataFrame, run_id: str, settings: DetectorSettings) -> DataFrame:
    """Score every (entity, granularity, metric) series of `long` (long_metrics / tag_mention_series rows);
    no look-ahead, so history never changes."""
    scored = long.groupBy("entity_type", "entity_id", "granularity", "metric").applyInPandas(
        _score_group(settings), _SCORED)
    return scored.withColumn("detector", F.lit(settings.name)).withColumn("run_id", F.lit(run_id))


def product_clusters(series: DataFrame, run_id: str) -> pd.DataFrame:
    """gold.product_ts_clusters rows from the weekly product review-count series (zeros before launch)."""
    weekly = (series.where((F.col("entity_type") == "product") & (F.col("granularity") == "weekly"))
              .select("entity_id", "period_start", "review_count").toPandas())
    if weekly.empty:
        return pd.DataFrame(columns=[f.name for f in CLUSTER_COLUMNS])
    profiles = weekly.pivot(index="entity_id", columns="period_start", values="review_count").fillna(0.0)
    result = cluster_shapes(profiles)
    return pd.DataFrame({
        "product_id": profiles.index, "cluster": result.labels.to_numpy().astype("int32"),
        "description": result.labels.map(result.descriptions).to_numpy(), "k": result.k,
        "silhouette": result.silhouette, "n_weeks": profiles.shape[1], "run_id": run_id,
    })


def run(ctx: StageContext) -> StageResult:
    """Score complete periods up to the day before the run date; insert new ones (or upsert a backfill)."""
    options = ctx.params.options
    plan = SeriesPlan(**{k: options[k] for k in asdict(SeriesPlan()) if k in options})
    last_complete = ctx.params.run_date - timedelta(days=1)
    reviews = ctx.read(REVIEWS)
    sentiment = ctx.read(SENTIMENT) if ctx.lake.exists(SENTIMENT) else None
    facts = review_facts(reviews, sentiment).cache()
    parts = [
        metric_series(facts, "daily", "category", last_complete, 1),
        metric_series(facts, "weekly", "category", last_complete - timedelta(days=6), 1),
        metric_series(facts, "daily", "product", last_complete, plan.min_reviews_daily),
        metric_series(facts, "weekly", "product", last_complete - timedelta(days=6), plan.min_reviews_weekly),
    ]
    series = parts[0]
    for part in parts[1:]:
        series = series.unionByName(part)
    series = series.cache()
    settings = DetectorSettings(detector=ctx.config.anomalies.detector,
                                false_alarm_rate=ctx.config.anomalies.false_alarm_rate)
    long = long_metrics(series)
    with_tags = ctx.lake.exists(TAGS) and ctx.lake.exists(SENTENCES)
    if with_tags:
        week_end = last_complete - timedelta(days=6)      # the Monday of the last week that has ended
        last_complete_week = week_end - timedelta(days=week_end.weekday())
        most_mentioned = Window.partitionBy("product_id").orderBy(F.desc("n_mentions"), "tag")
        tags = (ctx.read(TAGS).where(F.col("n_mentions") >= plan.min_tag_mentions)
                .withColumn("_rank", F.row_number().over(most_mentioned))
                .where(F.col("_rank") <= plan.tags_per_product).select("product_id", "tag"))
        long = long.unionByName(tag_mention_series(ctx.read(SENTENCES), reviews, tags, last_complete_week))
    scored = transform(long, ctx.run_id, settings)
    backfill = _backfill_range(options)
    revised_entities = 0
    if backfill:
        scored = scored.where(F.col("period_start").between(*backfill))
        write = ctx.merge(ANOMALIES, scored, mode="upsert")
    elif ctx.last_success(ctx.stage) is None or not ctx.lake.exists(ANOMALIES):
        write = ctx.merge(ANOMALIES, scored, mode="insert_only")
    elif _written_by_other_detectors(ctx, settings):
        # Another detector (or version) wrote the table: its scores are on another scale, so every period is
        # rewritten once rather than mixing the two.
        ctx.say(f"  detector changed to {settings.name}: every period is rescored")
        write = ctx.merge(ANOMALIES, scored, mode="upsert")
    else:
        # Reviews that arrived (or were re-scored) since the last run may fall in periods already written: those
        # entities' series are rewritten from the week of their earliest such review on (later periods too,
        # since each period's baseline looks back); every other period written before stays as it was.
        revise = revision_starts(_changed_review_ids(ctx), reviews).cache()
        revised_entities = revise.count()
        flagged_for_revision = scored.join(F.broadcast(revise), ["entity_type", "entity_id"], "left").withColumn(
            REVISE_FLAG, F.coalesce(F.col("period_start") >= F.col("revise_from"), F.lit(False))).drop("revise_from")
        write = ctx.merge(ANOMALIES, flagged_for_revision, mode="revise")
        revise.unpersist()
    written = write.inserted + write.updated
    flagged = ctx.read(ANOMALIES).where("is_anomaly").count()
    clusters = product_clusters(series, ctx.run_id)
    if len(clusters):
        ctx.overwrite(CLUSTERS, ctx.spark.createDataFrame(clusters, schema=CLUSTER_COLUMNS))
        shapes = clusters.groupby("description").size().to_dict()
        ctx.say(f"  {len(clusters):,} products in {clusters['k'].iloc[0]} shape clusters: {shapes}")
    series.unpersist()
    facts.unpersist()
    how = ("backfill " + str(backfill) if backfill else "new periods"
           + (f", {revised_entities:,} series owners revised for late reviews" if revised_entities else ""))
    ctx.say(f"  {written:,} periods written ({how}); "
            f"{flagged:,} anomalies in the table; sentiment {'used' if sentiment is not None else 'absent: stars'}; "
            f"tag-mention series {'scored' if with_tags else 'absent (no tags yet)'}")
    return StageResult(rows_in=written, rows_out=written, message=f"{flagged:,} anomalies in table",
                       details={"written": written,
                                "clusters": clusters.groupby("description").size().to_dict(),
                                "backfill": [str(d) for d in backfill] if backfill else None,
                                "revised_entities": revised_entities,
                                "detector": settings.name, "false_alarm_rate": settings.false_alarm_rate,
                                "plan": asdict(plan)})


def _written_by_other_detectors(ctx: StageContext, settings: DetectorSettings) -> bool:
    return ctx.read(ANOMALIES).where(F.col("detector") != settings.name).limit(1).count() > 0


def _changed_review_ids(ctx: StageContext) -> DataFrame:
    """Reviews written to silver or re-scored in gold.review_sentiment since the last anomalies run."""
    changed = ctx.read_new(REVIEWS).select("review_id")
    if ctx.lake.exists(SENTIMENT):
        changed = changed.unionByName(ctx.read_new(SENTIMENT).select("review_id"))
    return changed.distinct()


def revision_starts(changed_ids: DataFrame, reviews: DataFrame) -> DataFrame:
    """(entity_type, entity_id, revise_from): per product and per category with changed reviews, the Monday of
    the week of the earliest one (daily and weekly series are both rewritten from there)."""
    week = week_of("review_date")
    dated = reviews.join(changed_ids, "review_id").where(F.col("review_date").isNotNull())
    by_product = dated.groupBy(F.lit("product").alias("entity_type"), F.col("product_id").alias("entity_id")) \
        .agg(F.min(week).alias("revise_from"))
    by_category = dated.groupBy(F.lit("category").alias("entity_type"),
                                F.coalesce("category", F.lit("unknown")).alias("entity_id")) \
        .agg(F.min(week).alias("revise_from"))
    return by_product.unionByName(by_category)


def _backfill_range(options: dict) -> tuple[date, date] | None:
    start, end = options.get("backfill_from"), options.get("backfill_to")
    if not start and not end:
        return None
    try:
        first = date.fromisoformat(start) if start else date(1995, 1, 1)
        last = date.fromisoformat(end) if end else date.today()
    except ValueError:
        raise UserError("--backfill-from/--backfill-to must be YYYY-MM-DD") from None
    if first > last:
        raise UserError(f"--backfill-from {first} is after --backfill-to {last}")
    return first, last


if __name__ == "__main__":
    from reviewlake.cli import run_stage_main

    run_stage_main("anomalies")

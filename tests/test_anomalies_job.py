"""Anomalies stage on Spark + Delta: a planted spike is flagged on its day and week; nightly runs add only
new periods; a backfill recomputes just its range; tag-mention series count and flag a burst."""

from datetime import date, datetime, timedelta

import numpy as np
from deltalake import DeltaTable

from reviewlake.context import RunParams
from reviewlake.pipeline import run_pipeline

START = date(2024, 1, 1)
REVIEW_COLUMNS = ("review_id string, product_id string, user_id string, rating double, title string, text string, "
                  "review_ts timestamp, review_date date, category string, language string, text_hash string, "
                  "source string, source_file string, source_line_no long, ingest_batch_id string, "
                  "clean_batch_id string, updated_at timestamp")
SPIKE_DAY = 100


def _silver(spark, lake, days=130):
    rng = np.random.default_rng(0)
    rows = []
    for day in range(days):
        n = rng.poisson(3) + (40 if day == SPIKE_DAY else 0)
        for i in range(n):
            ts = datetime.combine(START + timedelta(days=day), datetime.min.time()) + timedelta(minutes=i)
            rows.append((f"r{day}-{i}", "P1", f"u_{i:016x}", float(rng.integers(4, 6)), "t", "fine", ts, ts.date(),
                         "Toys", "en", f"h{day}-{i}", "csv", "f", 1, "b", "c", ts))
    lake.merge("silver.reviews", spark.createDataFrame(rows, REVIEW_COLUMNS))


def _run(config, run_date, run_id, **options):
    options = {"min_reviews_daily": 50, **options}
    return run_pipeline(config, RunParams(stages=("anomalies",), run_date=run_date, options=options),
                        say=lambda _m: None, run_id=run_id)[0].result


def test_spike_found_then_nightly_and_backfill(spark, config, lake):
    _silver(spark, lake)
    first = _run(config, START + timedelta(days=120), "a1")
    table = DeltaTable(str(config.lake / "gold/metric_anomalies")).to_pandas()
    flagged = table[table["is_anomaly"]]
    daily = flagged[(flagged["metric"] == "review_count_daily") & (flagged["entity_type"] == "product")]
    assert daily["period_start"].tolist() == [START + timedelta(days=SPIKE_DAY)]
    weekly = flagged[(flagged["metric"] == "review_count_weekly") & (flagged["entity_type"] == "product")]
    spike_week = START + timedelta(days=SPIKE_DAY - (START + timedelta(days=SPIKE_DAY)).weekday())
    assert weekly["period_start"].tolist() == [spike_week]
    assert not flagged["metric"].str.startswith("mean_rating").any()
    # Only complete periods: the run date's own day is not scored.
    assert table["period_start"].max() == START + timedelta(days=119)
    # Missing days are explicit zeros.
    p1 = table[(table["metric"] == "review_count_daily") & (table["entity_id"] == "P1")]
    assert len(p1) == 120 and p1["value"].notna().all()

    clusters = DeltaTable(str(config.lake / "gold/product_ts_clusters")).to_pandas()
    assert clusters["product_id"].tolist() == ["P1"] and clusters["n_weeks"].iloc[0] == 17

    second = _run(config, START + timedelta(days=125), "a2")
    # Five new days for 2 entities x 3 metrics (daily); no new complete week yet.
    assert second.details["written"] == 5 * 2 * 3
    after = DeltaTable(str(config.lake / "gold/metric_anomalies")).to_pandas()
    old = after[after["run_id"] == "a1"]
    assert len(old) == first.details["written"]

    backfill = _run(config, START + timedelta(days=125), "a3", backfill_from=str(START + timedelta(days=10)),
                    backfill_to=str(START + timedelta(days=11)))
    assert backfill.details["written"] == 2 * 2 * 3  # 2 days x 2 entities x 3 daily metrics
    again = DeltaTable(str(config.lake / "gold/metric_anomalies")).to_pandas()
    assert len(again) == len(after)
    # No look-ahead: recomputing old periods with more data after them gives the same scores.
    merged = again.merge(after, on=["entity_type", "entity_id", "metric", "period_start"], suffixes=("", "_before"))
    assert np.allclose(merged["score"], merged["score_before"])

    # A late review (written today, dated day 50) revises the periods already written from its week on, for its
    # product and its category; nothing before that week moves, and no period is duplicated.
    late_ts = datetime.combine(START + timedelta(days=50), datetime.min.time()) + timedelta(hours=12)
    late = spark.createDataFrame([("late-1", "P1", "u_late", 5.0, "t", "fine", late_ts, late_ts.date(), "Toys", "en",
                                   "h-late", "csv", "f", 1, "b", "c", late_ts)], REVIEW_COLUMNS)
    lake.merge("silver.reviews", late)
    revised = _run(config, START + timedelta(days=125), "a4")
    assert revised.details["revised_entities"] == 2
    final = DeltaTable(str(config.lake / "gold/metric_anomalies")).to_pandas()
    assert len(final) == len(again)
    key = ["entity_type", "entity_id", "metric", "period_start"]
    both = final.merge(again, on=key, suffixes=("", "_before"))
    day_50 = both[(both["metric"] == "review_count_daily") & (both["period_start"] == START + timedelta(days=50))]
    assert (day_50["value"] - day_50["value_before"]).tolist() == [1.0, 1.0]
    week_of_50 = START + timedelta(days=50 - (START + timedelta(days=50)).weekday())
    assert set(both.loc[both["run_id"] == "a4", "period_start"]) == {
        d for d in both["period_start"] if d >= week_of_50}
    assert (both.loc[both["period_start"] < week_of_50, "run_id"] != "a4").all()

    # Switching the detector rescores every period once: no table mixes two detectors' scales.
    from dataclasses import replace

    from reviewlake.config import AnomalySettings

    switched = replace(config, anomalies=AnomalySettings(detector="windowed-gaussian"))
    _run(switched, START + timedelta(days=125), "a5")
    detectors = DeltaTable(str(config.lake / "gold/metric_anomalies")).to_pandas(columns=["detector"])["detector"]
    assert set(detectors) == {"windowed-gaussian-2"} and len(detectors) == len(final)


def test_tag_mention_series_flags_a_burst_of_complaints(spark, config, lake):
    """A product's tag gets weekly mention counts (the tags stage's rule: usable sentences naming the tag,
    plural included); a week where many reviews suddenly talk about the hinge is flagged on that series."""
    from reviewlake.tables import table_spec

    _silver(spark, lake)
    reviews = DeltaTable(str(config.lake / "silver/reviews")).to_pandas()
    rows = []
    for review_id, review_date in zip(reviews["review_id"], reviews["review_date"], strict=True):
        day = (review_date - START).days
        burst = SPIKE_DAY - 30 <= day < SPIKE_DAY - 23          # the week before the volume spike's month
        text = ("The hinges cracked after a single week of use." if burst or day % 9 == 0
                else "Works as described and arrived on time.")
        rows.append((review_id, 0, "P1", text, f"h-{review_id}", len(text.split()), None, None, None, None, 0.0,
                     "v1", "s1"))
    schema = table_spec("silver.review_sentences").schema
    lake.merge("silver.review_sentences", spark.createDataFrame(rows, schema))
    tags = spark.createDataFrame([("P1", "hinge", 0.1, 60, -0.5, START, 0.0, "t1"),
                                  ("P1", "box", 0.01, 3, 0.0, START, 0.0, "t1")],   # too rarely said: no series
                                 table_spec("gold.product_tags").schema)
    lake.merge("gold.product_tags", tags)

    result = _run(config, START + timedelta(days=120), "t1")
    table = DeltaTable(str(config.lake / "gold/metric_anomalies")).to_pandas()
    assert not table["metric"].str.startswith("tag_mentions:box").any()
    hinge = table[table["metric"] == "tag_mentions:hinge_weekly"].sort_values("period_start")
    assert len(hinge) == 17 and (hinge["entity_id"] == "P1").all()
    # Every review of a burst day mentions the hinge, outside it one day in nine does.
    expected = reviews.assign(week=[d - timedelta(days=d.weekday()) for d in reviews["review_date"]],
                              day=[(d - START).days for d in reviews["review_date"]])
    expected["mentions"] = ((expected["day"] >= SPIKE_DAY - 30) & (expected["day"] < SPIKE_DAY - 23)
                            | (expected["day"] % 9 == 0))
    counts = expected[expected["week"] <= hinge["period_start"].max()].groupby("week")["mentions"].sum()
    assert hinge.set_index("period_start")["value"].to_dict() == {w: float(c) for w, c in counts.items()}
    flagged = hinge[hinge["is_anomaly"]]["period_start"].tolist()
    burst_weeks = {START + timedelta(days=d) - timedelta(days=(START + timedelta(days=d)).weekday())
                   for d in range(SPIKE_DAY - 30, SPIKE_DAY - 23)}
    assert flagged and set(flagged) <= burst_weeks
    assert result.details["detector"] == "seasonal-mad-2"

"""CPU benchmark of the sentiment UDF inside Spark, per tier, against a row-at-a-time UDF baseline.

    python bench/sentiment_cpu.py --lake lake [--transformer-sample 2000] [--baseline-sample 20000]

Needs a lake whose silver.reviews is filled (e.g. after `reviewlake demo`). For each tier it trains a model
on a labelled sample, then scores with the pipeline's pandas iterator UDF (model loaded once per worker,
Arrow batches) and, on a sample in the same Spark session, with a plain row-at-a-time Python UDF that calls
the same model once per review (the obvious implementation). Scoring is forced with the `noop` sink, so
only inference is timed. The n-gram tier scores every silver review; the transformer tiers score a sample
(a full CPU pass takes tens of minutes) and the extrapolation to all reviews is printed as such.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from jobs import sentiment
from reviewlake.config import load_config
from reviewlake.lake import Lake
from reviewlake.model_store import ModelStore
from reviewlake.spark import get_spark
from udfs import sentiment as core


def _train(kind: str, labelled: pd.DataFrame, directory: Path, finetune_budget: float) -> str:
    texts, labels = labelled["input_text"].tolist(), labelled["label"].to_numpy()
    if kind == "ngram":
        model = core.NgramModel.train(texts, labels)
    elif kind == "encoder_head":
        model = core.EncoderHeadModel.train(texts, labels)
    else:
        from udfs.finetune import FineTunedModel

        model = FineTunedModel.train(texts, labels, time_budget_s=finetune_budget)
    store = ModelStore(directory, "sentiment")
    return str(store.path(store.save(model, {"kind": kind})))


def _timed(frame) -> float:
    started = time.perf_counter()
    frame.write.format("noop").mode("overwrite").save()
    return time.perf_counter() - started


def _row_udf(model_dir: str):
    @F.udf(StringType())
    def label_one(text):
        model = sentiment._cached_model(model_dir)
        return core.predict_frame(model, [text])["label"].iloc[0]

    return label_one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", default="lake")
    parser.add_argument("--train-rows", type=int, default=50_000)
    parser.add_argument("--transformer-train-rows", type=int, default=3_000)
    parser.add_argument("--transformer-sample", type=int, default=2_000)
    parser.add_argument("--baseline-sample", type=int, default=20_000)
    parser.add_argument("--finetune-budget", type=float, default=120.0)
    parser.add_argument("--tiers", default="ngram,encoder_head,finetuned")
    args = parser.parse_args()

    config = load_config().with_lake(args.lake)
    spark = get_spark(config, "bench-sentiment-cpu")
    cores = spark.sparkContext.defaultParallelism
    silver = Lake(spark, config.lake).read("silver.reviews").select("review_id", "title", "text").cache()
    total = silver.count()
    texts = silver.select(sentiment.review_text(F.col("title"), F.col("text")).alias("t")).cache()
    texts.count()
    labelled = sentiment.labelled_reviews(Lake(spark, config.lake).read("silver.reviews")).toPandas()
    print(f"silver.reviews: {total:,} rows; Spark {spark.version}, {cores} cores, master {spark.sparkContext.master}")
    print("| tier | model | rows scored | seconds | reviews/s (iterator UDF) | row-at-a-time UDF reviews/s "
          "(sample) | ratio | est. all rows |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.tiers.split(","):
            rows = args.train_rows if kind == "ngram" else args.transformer_train_rows
            model_dir = _train(kind, labelled.sample(min(rows, len(labelled)), random_state=0), Path(tmp),
                               args.finetune_budget)
            scope = texts if kind == "ngram" else texts.limit(args.transformer_sample).cache()
            n = scope.count()
            udf = sentiment.sentiment_udf(model_dir)
            _timed(scope.limit(cores * 50).select(udf("t").alias("p")))  # warm the workers: model load
            seconds = _timed(scope.select(udf("t").alias("p")))
            baseline_scope = scope.limit(args.baseline_sample if kind == "ngram" else args.transformer_sample // 4)
            baseline_n = baseline_scope.count()
            baseline_seconds = _timed(baseline_scope.select(_row_udf(model_dir)("t").alias("label")))
            rate, baseline_rate = n / seconds, baseline_n / baseline_seconds
            print(f"| {sentiment.TIER_OF_KIND[kind]} | {kind} | {n:,} | {seconds:.1f} | {rate:,.0f} | "
                  f"{baseline_rate:,.0f} | {rate / baseline_rate:.1f}x | {total / rate / 60:.1f} min |", flush=True)


if __name__ == "__main__":
    main()

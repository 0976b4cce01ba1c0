"""Sentences: silver.reviews -> silver.review_sentences, silver.sentence_vectors, silver.sentence_aspects,
models/sentences/ and models/aspects/ in the lake.

The text layer on Spark NLP: a fitted pipeline (DocumentAssembler, SentenceDetector, Tokenizer, Normalizer,
StopWordsCleaner, a Lemmatizer trained here from lemminflect's lemma table, NGramGenerator,
YakeKeywordExtraction) turns each new or changed review into one row per sentence: the sentence (silver text
is already PII-redacted), its tokens, the lemmas of its content words and their bigrams, and YAKE's candidate
keyphrases (scored
over the whole review, kept on the sentence they occur in). The fitted pipeline is saved and versioned in the
lake's model store and reused until its settings change.

Then every distinct usable sentence (by SHA-256 of its text) without a vector from the current encoder is
embedded once with MiniLM in a pandas UDF; summarize, tags and similarity read those vectors instead of
embedding the same sentences again. Likewise every distinct usable sentence without aspect terms from the
current aspect models goes through udfs.aspects (a token classifier trained once per lake on the shipped labelled
review sentences, kept in the model store) and udfs.aspect_sentiment (how the sentence judges each term found,
trained on the same sentences' term polarities): the tags count those terms and take their sentiment from them.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pandas as pd
from pyspark import StorageLevel
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import StopWordsRemover
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, FloatType, StringType, StructField, StructType

from reviewlake.config import SentenceSettings
from reviewlake.context import StageContext, StageResult
from reviewlake.model_store import ModelStore
from reviewlake.spark import load_spark_nlp_pipeline
from udfs.aspect_sentiment import AspectModels, models_fingerprint, train_default_models
from udfs.lemma_dictionary import KEY_DELIMITER, VALUE_DELIMITER, write_lemma_dictionary

REVIEWS, SENTENCES, VECTORS = "silver.reviews", "silver.review_sentences", "silver.sentence_vectors"
ASPECTS = "silver.sentence_aspects"
PIPELINE_NAME = "sentences"
PIPELINE_SETTINGS = ("max_sentence_chars", "keyphrase_max_words", "keyphrases_per_review")
_VECTOR_ROWS = StructType([StructField("sentence_hash", StringType(), False),
                           StructField("vector", ArrayType(FloatType(), False), False)])
_ASPECT_ROWS = StructType([StructField("sentence_hash", StringType(), False),
                           StructField("aspect_terms", ArrayType(StringType(), False), False),
                           StructField("aspect_polarity", ArrayType(FloatType(), False), False)])


def build_pipeline(settings: SentenceSettings, lemma_dictionary: Path) -> Pipeline:
    """The unfitted Spark NLP pipeline over a `text` column."""
    from sparknlp.annotator import (
        Lemmatizer,
        NGramGenerator,
        Normalizer,
        SentenceDetector,
        StopWordsCleaner,
        Tokenizer,
        YakeKeywordExtraction,
    )
    from sparknlp.base import DocumentAssembler

    stop_words = StopWordsRemover.loadDefaultStopWords("english")
    return Pipeline(stages=[
        DocumentAssembler().setInputCol("text").setOutputCol("document").setCleanupMode("shrink"),
        SentenceDetector().setInputCols(["document"]).setOutputCol("sentence")
        .setMaxLength(settings.max_sentence_chars),
        Tokenizer().setInputCols(["sentence"]).setOutputCol("token"),
        Normalizer().setInputCols(["token"]).setOutputCol("normalized").setLowercase(True)
        .setCleanupPatterns([r"[^\p{L}'-]", r"^['-]+|['-]+$"]).setMinLength(2),
        StopWordsCleaner().setInputCols(["normalized"]).setOutputCol("content").setStopWords(stop_words)
        .setCaseSensitive(False),
        Lemmatizer().setInputCols(["content"]).setOutputCol("lemma")
        .setDictionary(str(lemma_dictionary), KEY_DELIMITER, VALUE_DELIMITER),
        NGramGenerator().setInputCols(["lemma"]).setOutputCol("ngram").setN(2).setEnableCumulative(False)
        .setDelimiter(" "),
        YakeKeywordExtraction().setInputCols(["token"]).setOutputCol("keyword")
        .setMinNGrams(1).setMaxNGrams(settings.keyphrase_max_words).setNKeywords(settings.keyphrases_per_review)
        .setStopWords(YakeKeywordExtraction.loadDefaultStopWords("english")),
    ])


def settings_fingerprint(settings: SentenceSettings) -> str:
    """Changes exactly when a setting that shapes the fitted pipeline changes (not the encoder's device)."""
    shaping = {k: v for k, v in asdict(settings).items() if k in PIPELINE_SETTINGS}
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:12]


def fitted_pipeline(ctx: StageContext, settings: SentenceSettings) -> tuple[PipelineModel, str]:
    """The lake's current fitted pipeline if its settings match, else a newly fitted, saved and promoted one."""
    store = ModelStore(ctx.lake_root, PIPELINE_NAME)
    fingerprint = settings_fingerprint(settings)
    current = store.current()
    if current and store.metadata(current).get("settings_fingerprint") == fingerprint:
        return load_spark_nlp_pipeline(store.path(current)), current
    store.discard_staging()
    with tempfile.TemporaryDirectory() as scratch:
        dictionary = Path(scratch) / "lemmas.txt"
        lemmas = write_lemma_dictionary(dictionary)
        # Every stage here learns from its parameters and the dictionary, none from data: one empty row fits it.
        seed = ctx.spark.createDataFrame([("",)], "text string")
        model = build_pipeline(settings, dictionary).fit(seed)
        version = store.save(_SparkMLWriter(model), {"kind": "spark-nlp-pipeline", "settings": asdict(settings),
                                     "settings_fingerprint": fingerprint, "lemmas": lemmas,
                                     "spark_nlp": _spark_nlp_version()})
    store.promote(version, "sentence pipeline fitted")
    ctx.say(f"  fitted the Spark NLP sentence pipeline ({lemmas:,} lemmas) as {version}")
    return load_spark_nlp_pipeline(store.path(version)), version


class _SparkMLWriter:
    """ModelStore saves anything with save(directory); Spark ML writes into an existing directory only with
    overwrite."""

    def __init__(self, model: PipelineModel) -> None:
        self.model = model

    def save(self, directory: Path) -> None:
        self.model.write().overwrite().save(str(directory))


def _spark_nlp_version() -> str:
    from importlib.metadata import version

    return version("spark-nlp")


def _of_sentence(annotations: str) -> str:
    """SQL: the `result`s of `annotations` that belong to the current sentence (`s.idx`)."""
    return f"transform(filter({annotations}, a -> int(a.metadata['sentence']) = s.idx), a -> a.result)"


def transform(reviews: DataFrame, model: PipelineModel, pipeline_version: str, run_id: str) -> DataFrame:
    """silver.review_sentences rows (without lexicon_polarity) of `reviews` (review_id, product_id, text)."""
    annotated = model.transform(reviews.select("review_id", "product_id", F.coalesce("text", F.lit("")).alias("text")))
    per_sentence = annotated.select(
        "review_id", "product_id", "token", "lemma", "ngram", "keyword",
        F.posexplode("sentence").alias("pos", "s_annotation"),
    ).withColumn("s", F.struct(F.coalesce(F.col("s_annotation.metadata")["sentence"].cast("int"), F.col("pos"))
                               .alias("idx"), F.col("s_annotation.result").alias("text")))
    sentence = F.trim(F.regexp_replace("s.text", r"\s+", " "))
    return (per_sentence
            .select(
                "review_id", "product_id",
                F.col("s.idx").alias("sentence_idx"),
                sentence.alias("sentence"),
                F.sha2(sentence, 256).alias("sentence_hash"),
                F.size(F.split(sentence, " ")).alias("n_words"),
                F.expr(_of_sentence("token")).alias("_raw_tokens"),
                F.expr(_of_sentence("lemma")).alias("lemmas"),
                F.expr(_of_sentence("ngram")).alias("lemma_bigrams"),
                F.expr(f"array_distinct(transform({_of_sentence('keyword')}, k -> lower(k)))").alias("keyphrases"))
            .withColumn("tokens", F.expr("filter(transform(_raw_tokens, t -> lower(t)), t -> t rlike '\\\\p{L}')"))
            .drop("_raw_tokens")
            .where(F.length("sentence") > 0)
            .withColumn("pipeline_version", F.lit(pipeline_version))
            .withColumn("run_id", F.lit(run_id)))


def lexicon_polarity(sentences: pd.Series) -> pd.Series:
    """VADER compound score of each sentence (the lexicon ships inside vaderSentiment)."""
    from udfs.sentences import polarity

    return sentences.map(polarity).astype(float)


def embed_partitions(batches: Iterator[pd.DataFrame], device: str) -> Iterator[pd.DataFrame]:
    """mapInPandas body: (sentence_hash, sentence) -> (sentence_hash, vector), the encoder loaded once per worker."""
    from udfs.encoder import SentenceEncoder

    encoder = None
    for batch in batches:
        if batch.empty:
            continue
        encoder = encoder or SentenceEncoder(device=device, threads=1)
        vectors = encoder.encode(batch["sentence"].tolist())
        yield pd.DataFrame({"sentence_hash": batch["sentence_hash"].to_numpy(), "vector": list(vectors)})


def encoder_version(device: str) -> str:
    """What a stored vector was computed with: int8 ONNX on CPU and fp16 on CUDA differ slightly."""
    from udfs.encoder import choose_device

    return "all-MiniLM-L6-v2/" + ("torch-cuda-fp16" if choose_device(device) == "cuda" else "onnx-int8-cpu")


def not_yet_done(sentences: DataFrame, done: DataFrame | None, version_column: str, version: str,
                 settings: SentenceSettings) -> DataFrame:
    """Distinct usable sentences (hash, text) without a row of `version` in `done` (vectors or aspects)."""
    usable = (sentences.where(F.col("n_words").between(settings.embed_min_words, settings.embed_max_words))
              .groupBy("sentence_hash").agg(F.min("sentence").alias("sentence")))
    if done is None:
        return usable
    current = done.where(F.col(version_column) == version).select("sentence_hash")
    return usable.join(current, "sentence_hash", "left_anti")


def fitted_aspect_models(ctx: StageContext) -> tuple[AspectModels, str]:
    """The lake's aspect models if trained on the current training data and features, else new ones."""
    store = ModelStore(ctx.lake_root, "aspects")
    fingerprint = models_fingerprint()
    current = store.current()
    if current and store.metadata(current).get("training_fingerprint") == fingerprint:
        return AspectModels.load(store.path(current)), current
    store.discard_staging()
    started = time.perf_counter()
    models = train_default_models()
    version = store.save(models, {"kind": "aspect-term-extractor+aspect-sentiment",
                                  "training_fingerprint": fingerprint})
    store.promote(version, "aspect extractor and aspect sentiment trained")
    ctx.say(f"  trained the aspect-term extractor and aspect sentiment in {time.perf_counter() - started:.1f}s "
            f"as {version}")
    return models, version


def extract_partitions(batches: Iterator[pd.DataFrame], models) -> Iterator[pd.DataFrame]:
    """mapInPandas body: (sentence_hash, sentence) -> (sentence_hash, aspect_terms, aspect_polarity); `models`
    a broadcast AspectModels."""
    for batch in batches:
        if not batch.empty:
            terms, polarity = models.value.analyse(batch["sentence"].tolist())
            yield pd.DataFrame({"sentence_hash": batch["sentence_hash"].to_numpy(), "aspect_terms": terms,
                                "aspect_polarity": polarity})


def complete_per_sentence(ctx: StageContext, table: str, version_column: str, version: str, compute,
                          schema: StructType, what: str) -> int:
    """Adds to `table` the rows of every distinct usable sentence it lacks for `version`, computed once by the
    mapInPandas body `compute`; returns how many."""
    settings = ctx.config.sentences
    done = ctx.read(table) if ctx.lake.exists(table) else None
    missing = not_yet_done(ctx.read(SENTENCES), done, version_column, version, settings).cache()
    n_missing = missing.count()
    if n_missing:
        started = time.perf_counter()
        rows = (missing.repartition(max(1, min(ctx.spark.sparkContext.defaultParallelism, n_missing // 2_000)))
                .mapInPandas(compute, schema)
                .withColumn(version_column, F.lit(version)).withColumn("run_id", F.lit(ctx.run_id))
                .persist(StorageLevel.MEMORY_AND_DISK))
        rows.count()   # compute once, before the MERGE reads its source (twice)
        ctx.merge(table, rows, mode="upsert")
        rows.unpersist()
        seconds = time.perf_counter() - started
        ctx.say(f"  {n_missing:,} distinct sentences {what} ({version}) in {seconds:.1f}s "
                f"({n_missing / max(seconds, 1e-9):,.0f} sentences/s)")
    missing.unpersist()
    return n_missing


def run(ctx: StageContext) -> StageResult:
    """Split new or changed reviews into sentences; embed and search for aspect terms the sentences that have
    no vector or terms yet."""
    settings = ctx.config.sentences
    model, pipeline_version = fitted_pipeline(ctx, settings)
    reviews = ctx.read(REVIEWS)
    split_by_other_pipeline = ctx.lake.exists(SENTENCES) and ctx.read(SENTENCES).where(
        F.col("pipeline_version") != pipeline_version).limit(1).count() > 0
    if ctx.lake.exists(SENTENCES) and not split_by_other_pipeline:
        changed = ctx.read_new(REVIEWS).select("review_id").distinct()
    else:
        changed = reviews.select("review_id")   # first run, or a new pipeline: every review again
    todo = reviews.join(changed, "review_id", "left_semi").select("review_id", "product_id", "text").cache()
    n_reviews = todo.count()
    written = None
    if n_reviews:
        polarity = F.pandas_udf(lexicon_polarity, "double")
        started = time.perf_counter()
        # Materialised once: the MERGE reads its source more than once, and the Spark NLP pipeline and the
        # VADER UDF would otherwise run again for each read.
        rows = transform(todo, model, pipeline_version, ctx.run_id).withColumn(
            "lexicon_polarity", polarity("sentence")).persist(StorageLevel.MEMORY_AND_DISK)
        n_sentences = rows.count()
        annotated = time.perf_counter() - started
        ctx.say(f"  {n_reviews:,} reviews -> {n_sentences:,} sentences annotated by Spark NLP in {annotated:.1f}s "
                f"({n_reviews / max(annotated, 1e-9):,.0f} reviews/s, {n_sentences / max(annotated, 1e-9):,.0f} "
                f"sentences/s)")
        written = ctx.replace_groups(SENTENCES, rows, todo.select("review_id"))
        rows.unpersist()
        ctx.say(f"  silver.review_sentences: {written.inserted:,} inserted, {written.updated:,} updated "
                f"in {time.perf_counter() - started - annotated:.1f}s")
    else:
        ctx.say("  no new or changed reviews")
    todo.unpersist()

    encoder, device = encoder_version(settings.device), settings.device
    n_embedded = complete_per_sentence(ctx, VECTORS, "encoder", encoder,
                                       lambda batches: embed_partitions(batches, device), _VECTOR_ROWS, "embedded")
    models, extractor_version = fitted_aspect_models(ctx)
    shipped = ctx.spark.sparkContext.broadcast(models)
    n_extracted = complete_per_sentence(ctx, ASPECTS, "extractor", extractor_version,
                                        lambda batches: extract_partitions(batches, shipped), _ASPECT_ROWS,
                                        "searched for aspect terms")
    shipped.unpersist()
    inserted = written.inserted if written else 0
    return StageResult(rows_in=n_reviews, rows_out=inserted + (written.updated if written else 0),
                       message=f"{n_reviews:,} reviews, {n_embedded:,} sentences embedded",
                       details={"reviews": n_reviews, "sentences_inserted": inserted,
                                "sentences_updated": written.updated if written else 0,
                                "sentences_embedded": n_embedded, "encoder": encoder,
                                "sentences_aspect_searched": n_extracted, "aspect_extractor": extractor_version,
                                "pipeline_version": pipeline_version})


if __name__ == "__main__":
    from reviewlake.cli import run_stage_main

    run_stage_main("sentences")

"""QA: silver.review_sentences (+ silver.sentence_aspects), silver.reviews, gold.review_sentiment,
gold.tag_vocabulary (+ silver.products) -> gold.product_faq.

The stage asks every product with at least `faq_min_reviews` reviews its category's most discussed aspect
questions ("is the <tag> good?", the top `faq_aspects` tags of gold.tag_vocabulary) and stores the leaning,
review counts per side, confidence and evidence (udfs.qa.yes_no_answer in `applyInPandas`). Incremental:
only products with new or changed reviews or sentences, or whose category's questions changed, are answered
again; their rows are replaced in one MERGE.

`reviewlake ask` (any question, on demand, without Spark) is queries.ask over the same core.
"""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from reviewlake.context import StageContext, StageResult
from reviewlake.tables import table_spec
from reviewlake.views import product_sentences, with_product_names, with_sentiment_score
from udfs.qa import QA_VERSION, ProductReviews, QaSettings, analyse, product_from_rows, yes_no_answer

REVIEWS, PRODUCTS, SENTIMENT = "silver.reviews", "silver.products", "gold.review_sentiment"
SENTENCES, ASPECTS = "silver.review_sentences", "silver.sentence_aspects"
VOCABULARY, FAQ = "gold.tag_vocabulary", "gold.product_faq"
_FAQ_ROWS = ("product_id string, question string, aspect string, question_type string, answer string, n_yes long, "
             "n_no long, n_neutral long, n_reviews long, confidence double, evidence_review_ids array<string>, "
             "evidence_sentences array<string>")


def faq_question(aspect: str) -> str:
    return f"is the {aspect} good?"


def faq_rows(product: ProductReviews, aspects: list[str], settings: QaSettings) -> list[dict]:
    """The FAQ answers of one product: one yes/no question per aspect."""
    rows = []
    for aspect in aspects:
        question = analyse(faq_question(aspect), "yes_no", None, product.product_words)
        answer = yes_no_answer(product, question, None, aspect, settings.evidence)
        rows.append({
            "product_id": product.product_id, "question": question.text, "aspect": aspect,
            "question_type": answer.question_type, "answer": answer.answer, "n_yes": answer.support["yes"],
            "n_no": answer.support["no"], "n_neutral": answer.support["neutral"],
            "n_reviews": answer.support["reviews"], "confidence": answer.confidence,
            "evidence_review_ids": [e["review_id"] for e in answer.evidence],
            "evidence_sentences": [e["sentence"] for e in answer.evidence]})
    return rows


def faq_aspects(vocabulary: DataFrame, n: int) -> DataFrame:
    """category, aspect: the n most discussed tags of each category."""
    return vocabulary.where(F.col("rank_discussed") <= n).select("category", F.col("tag").alias("aspect"))


def answer_faq(reviews: DataFrame, sentences: DataFrame, aspects: DataFrame | None, questions: DataFrame,
               settings: QaSettings) -> DataFrame:
    """gold.product_faq rows (without model_version, run_id) for every product of `reviews` (silver.reviews
    + sentiment_score + product names) with at least faq_min_reviews reviews and a category with questions."""
    asked = {r["category"]: [] for r in questions.select("category").distinct().collect()}
    for row in questions.orderBy("category", "aspect").collect():
        asked[row["category"]].append(row["aspect"])

    def per_product(frame: pd.DataFrame) -> pd.DataFrame:
        wanted = asked.get(frame["product_category"].iloc[0], [])
        product = product_from_rows(frame, wanted, int(frame["product_reviews"].iloc[0]))
        return pd.DataFrame(faq_rows(product, wanted, settings), columns=[c.split()[0] for c in _FAQ_ROWS.split(", ")])

    counts = reviews.groupBy("product_id").agg(F.count("*").alias("product_reviews")) \
        .where(F.col("product_reviews") >= settings.faq_min_reviews)
    eligible = reviews.join(counts, "product_id").join(
        questions.select(F.col("category").alias("product_category")).distinct(), "product_category")
    rows = product_sentences(sentences, eligible, aspects).join(counts, "product_id")
    return rows.groupBy("product_id").applyInPandas(per_product, _FAQ_ROWS)


def run(ctx: StageContext) -> StageResult:
    """Answer the FAQ of products with new or changed reviews, or whose category's questions changed."""
    settings = ctx.config.qa
    if not ctx.lake.exists(VOCABULARY):
        ctx.say("  no tag vocabulary yet (run the tags stage): no questions to ask")
        return StageResult(message="no tag vocabulary")
    products = ctx.read(PRODUCTS) if ctx.lake.exists(PRODUCTS) else None
    reviews = with_product_names(ctx.read(REVIEWS), products)
    questions = faq_aspects(ctx.read(VOCABULARY), settings.faq_aspects) \
        .withColumn("question", F.concat(F.lit("is the "), "aspect", F.lit(" good?"))).cache()
    changed = ctx.read_new(REVIEWS).select("product_id").unionByName(
        ctx.read_new(SENTENCES).select("product_id")).distinct()
    expected = reviews.select("product_id", F.col("product_category").alias("category")).distinct() \
        .join(questions, "category").select("product_id", "question")
    if ctx.lake.exists(FAQ):
        existing = ctx.read(FAQ).select("product_id", "question")
        # A category's questions change with its tags: products missing a question or holding a dropped one.
        drifted = expected.join(existing, ["product_id", "question"], "left_anti").select("product_id") \
            .unionByName(existing.join(expected, ["product_id", "question"], "left_anti").select("product_id"))
        changed = changed.unionByName(drifted)
    else:   # the first run, or the table was removed to rebuild it: every product
        changed = reviews.select("product_id")
    changed = changed.distinct().cache()
    n_changed = changed.count()
    if not n_changed:
        ctx.say("  no product has new reviews or changed questions")
        changed.unpersist()
        questions.unpersist()
        return StageResult(message="no changes")
    sentiment = ctx.read(SENTIMENT) if ctx.lake.exists(SENTIMENT) else None
    scored = with_sentiment_score(reviews.join(changed, "product_id"), sentiment)
    aspects = ctx.read(ASPECTS) if ctx.lake.exists(ASPECTS) else None
    rows = (answer_faq(scored, ctx.read(SENTENCES), aspects, questions, settings)
            .withColumn("model_version", F.lit(QA_VERSION)).withColumn("run_id", F.lit(ctx.run_id))
            .select(*table_spec(FAQ).schema.fieldNames()))
    # Materialised first: the MERGE reads the table these answers replace.
    rows = ctx.spark.createDataFrame(rows.toPandas(), schema=table_spec(FAQ).schema)
    write = ctx.replace_groups(FAQ, rows, changed)
    answers = rows.groupBy("answer").count().toPandas().set_index("answer")["count"].to_dict()
    n_products = rows.select("product_id").distinct().count()
    skipped = n_changed - n_products
    changed.unpersist()
    questions.unpersist()
    mix = ", ".join(f"{n:,} {a}" for a, n in sorted(answers.items()))
    ctx.say(f"  {n_products:,} products answered ({sum(answers.values()):,} questions: {mix}); {skipped:,} changed "
            f"products have fewer than {settings.faq_min_reviews} reviews, no quotable sentence or no category "
            "questions")
    return StageResult(rows_in=n_changed, rows_out=sum(answers.values()),
                       message=f"{sum(answers.values()):,} answers for {n_products:,} products",
                       details={"products_answered": n_products, "products_without_faq": skipped,
                                "answers": answers, "inserted": write.inserted, "updated": write.updated,
                                "qa_version": QA_VERSION, "settings": asdict(settings)})


if __name__ == "__main__":
    from reviewlake.cli import run_stage_main

    run_stage_main("qa")

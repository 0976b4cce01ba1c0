"""QA: silver.review_sentences (+ silver.sentence_aspects), silver.reviews, gold.review_sentiment,
gold.tag_vocabulary (+ silver.products) -> gold.product_faq; and `reviewlake ask` over the lake (no Spark).

The stage asks every product with at least `faq_min_reviews` reviews its category's most discussed aspect
questions ("is the <tag> good?", the top `faq_aspects` tags of gold.tag_vocabulary) and stores the leaning,
review counts per side, confidence and evidence (udfs.qa.yes_no_answer in `applyInPandas`). Incremental:
only products with new or changed reviews or sentences, or whose category's questions changed, are answered
again; their rows are replaced in one MERGE.

`open_answerer` loads what `reviewlake ask` needs once (encoder, question templates, the gold tables the
knowledge answers read); each product's sentences are read through DuckDB over delta-rs on its first question
and kept, so later questions about it take milliseconds.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from reviewlake.context import StageContext, StageResult
from reviewlake.errors import UserError
from reviewlake.tables import REGISTRY, table_spec
from reviewlake.views import product_sentences, with_product_names, with_sentiment_score
from udfs.keyphrases import nouns_of_product_frame
from udfs.qa import QA_VERSION, Answer, ProductReviews, QaSettings, analyse, yes_no_answer
from udfs.sentences import review_tone, usable_sentences

REVIEWS, PRODUCTS, SENTIMENT = "silver.reviews", "silver.products", "gold.review_sentiment"
SENTENCES, ASPECTS, VECTORS = "silver.review_sentences", "silver.sentence_aspects", "silver.sentence_vectors"
TAGS, VOCABULARY, SUMMARIES, SIMILARITY = ("gold.product_tags", "gold.tag_vocabulary", "gold.product_summaries",
                                           "gold.product_similarity")
FAQ = "gold.product_faq"
CATEGORY_ASPECTS = 30          # category tags `ask` also recognises, beyond the product's own
_FAQ_ROWS = ("product_id string, question string, aspect string, question_type string, answer string, n_yes long, "
             "n_no long, n_neutral long, n_reviews long, confidence double, evidence_review_ids array<string>, "
             "evidence_sentences array<string>")


def faq_question(aspect: str) -> str:
    return f"is the {aspect} good?"


def product_reviews(frame: pd.DataFrame, aspects: list[str], n_reviews: int, facts: dict | None = None
                    ) -> ProductReviews:
    """A udfs.qa.ProductReviews from one product's product_sentences rows (+ vector where loaded): the
    quotable sentences, newest review first (ties in ranking go to the newest evidence)."""
    frame = frame.sort_values(["review_ts", "review_id", "sentence_idx"], ascending=[False, True, True])
    frame = frame.assign(tone=review_tone(frame["rating"], frame["sentiment_score"]))
    first = frame.iloc[0] if len(frame) else {}
    return ProductReviews(
        product_id=str(first.get("product_id", "")), title=first.get("product_title"),
        category=first.get("product_category"), sentences=usable_sentences(frame).reset_index(drop=True),
        aspects=list(dict.fromkeys(aspects)), n_reviews=int(n_reviews), product_words=nouns_of_product_frame(frame),
        facts=facts or {})


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
        product = product_reviews(frame, wanted, int(frame["product_reviews"].iloc[0]))
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


# ------------------------------------------------------------------------------------- reviewlake ask (no Spark)

SESSION_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class LakeAnswerer:
    """What `reviewlake ask` and Python callers use: open once, then `ask` (milliseconds after a product's
    first question)."""

    def __init__(self, lake: str | Path, device: str = "auto") -> None:
        import duckdb

        from reviewlake.sql import open_table, product_titles
        from udfs.encoder import SentenceEncoder
        from udfs.qa import Answerer, QuestionClassifier

        self.lake = Path(lake)
        for required in (REVIEWS, SENTENCES):
            open_table(self.lake, required)   # a clear error when the lake has not been built
        self.connection = duckdb.connect()
        self.available = set()
        for name in (REVIEWS, SENTENCES, ASPECTS, VECTORS, SENTIMENT, TAGS, VOCABULARY, SUMMARIES, SIMILARITY):
            if (REGISTRY[name].path(self.lake) / "_delta_log").is_dir():
                layer, table = name.split(".")
                self.connection.register(f"{layer}_{table}", open_table(self.lake, name).to_pyarrow_dataset())
                self.available.add(name)
        self.titles = product_titles(self.lake).set_index("product_id")
        counts = self.connection.sql("select product_id, count(*) as n from silver_reviews group by product_id").df()
        self.review_counts = dict(zip(counts["product_id"], counts["n"].astype(int), strict=True))
        self.encoder = SentenceEncoder(device=device)
        self.answerer = Answerer(QuestionClassifier.load(self.encoder.encode), self.encoder.encode)
        self._products: dict[str, ProductReviews] = {}

    def resolve(self, product: str) -> str | list[str]:
        """A product id, or the candidates a title fragment matches; UserError when nothing does."""
        if product in self.review_counts:
            return product
        wanted = [w for w in re.findall(r"\w+", product.lower()) if w]
        titles = self.titles["title"].fillna("").str.lower()
        hits = [pid for pid, title in titles.items() if wanted and all(re.search(rf"\b{re.escape(w)}\b", title)
                                                                        for w in wanted)]
        hits = [pid for pid in hits if pid in self.review_counts]
        if len(hits) == 1:
            return hits[0]
        if hits:
            return hits
        raise UserError(f"unknown product {product!r}: no product with that id or title has reviews in {self.lake}")

    def product(self, product_id: str) -> ProductReviews:
        if product_id not in self._products:
            self._products[product_id] = self._load(product_id)
        return self._products[product_id]

    def _load(self, product_id: str) -> ProductReviews:
        optional = {
            SENTIMENT: ("g.score", "left join gold_review_sentiment g using (review_id)"),
            ASPECTS: ("a.aspect_terms, a.aspect_polarity", "left join silver_sentence_aspects a using (sentence_hash)"),
            VECTORS: ("v.vector", "left join silver_sentence_vectors v using (sentence_hash)"),
        }
        columns = {SENTIMENT: "null::double as score", ASPECTS: "null as aspect_terms, null as aspect_polarity",
                   VECTORS: "null as vector"}
        selects = [optional[n][0] if n in self.available else columns[n] for n in optional]
        joins = [optional[n][1] for n in optional if n in self.available]
        frame = self.connection.execute(
            f"select s.review_id, s.sentence_idx, s.product_id, s.sentence, s.sentence_hash, s.n_words, "
            f"s.lexicon_polarity, r.review_ts, r.review_date, r.rating, {', '.join(selects)} "
            f"from silver_review_sentences s join silver_reviews r using (review_id) {' '.join(joins)} "
            f"where s.product_id = ? and r.product_id = ?", [product_id, product_id]).df()
        frame = frame.rename(columns={"score": "sentiment_score"})
        for column in ("aspect_terms", "aspect_polarity", "vector"):
            frame[column] = [list(v) if isinstance(v, list | tuple | np.ndarray) else None for v in frame[column]]
        title = self.titles["title"].get(product_id) if product_id in self.titles.index else None
        category = self.titles["category"].get(product_id) if product_id in self.titles.index else None
        frame = frame.assign(product_title=title, product_category=category)
        facts = self._facts(product_id)
        aspects = [t["tag"] for t in facts.get("tags", [])] + self._category_aspects(category)
        loaded = product_reviews(frame, aspects, self.review_counts.get(product_id, 0), facts)
        loaded.product_id, loaded.title, loaded.category = product_id, title, category
        return loaded

    def _category_aspects(self, category: str | None) -> list[str]:
        if VOCABULARY not in self.available or category is None:
            return []
        found = self.connection.execute("select tag from gold_tag_vocabulary where category = ? "
                                        "order by rank_discussed limit ?", [category, CATEGORY_ASPECTS]).df()
        return found["tag"].tolist()

    def _facts(self, product_id: str) -> dict:
        facts: dict = {}
        if SUMMARIES in self.available:
            found = self.connection.execute("select * from gold_product_summaries where product_id = ?",
                                            [product_id]).df()
            if len(found):
                row = found.iloc[0]
                facts.update({k: (None if pd.isna(row[k]) else float(row[k])) for k in
                              ("avg_rating", "share_positive", "share_neutral", "share_negative")})
                facts.update(n_reviews=int(row["n_reviews"]), summary=row["summary"],
                             pros=list(row["pros"] if row["pros"] is not None else []),
                             cons=list(row["cons"] if row["cons"] is not None else []))
        if TAGS in self.available:
            tags = self.connection.execute("select tag, weight, tag_sentiment, n_mentions from gold_product_tags "
                                           "where product_id = ? order by weight desc, tag", [product_id]).df()
            facts["tags"] = tags.to_dict("records")
        if SIMILARITY in self.available:
            similar = self.connection.execute("select similar_product_id as product_id, score from "
                                              "gold_product_similarity where product_id = ? order by rank",
                                              [product_id]).df()
            similar["title"] = [self.titles["title"].get(p) if p in self.titles.index else None
                                for p in similar["product_id"]]
            facts["similar"] = similar.to_dict("records")
        return facts

    def ask(self, product: str | None, question: str, k: int = 5, session: str | None = None) -> dict:
        """The answer as a dict (README, "Product questions"); `session` keeps the turn for follow-ups."""
        previous = self._session(session)
        if product is None:
            if not previous:
                raise UserError("name a product (PRODUCT_ID QUESTION), or continue a --session that has one")
            product = previous["product_id"]
        resolved = self.resolve(product)
        if isinstance(resolved, list):
            answer = Answer(product, question, "clarification", "Which product do you mean?", 0.0, {}, [],
                            candidates=[f"{p}: {self.titles['title'].get(p)}" for p in resolved[:10]])
            return answer.to_dict()
        answer = self.answerer.answer(self.product(resolved), question, k, previous)
        result = answer.to_dict()
        result["product_title"] = self._products[resolved].title
        if session is not None and answer.question_type != "clarification":
            self._save_session(session, {"product_id": resolved, "question": question,
                                         "question_type": answer.question_type, "intent": answer.intent,
                                         "aspect": answer.aspect, "options": answer.options})
        return result

    def _session_path(self, name: str) -> Path:
        if not SESSION_NAME.fullmatch(name):
            raise UserError(f"--session must be 1-64 letters, digits, '.', '_' or '-', not {name!r}")
        return self.lake / "sessions" / f"{name}.json"

    def _session(self, name: str | None) -> dict | None:
        if name is None:
            return None
        path = self._session_path(name)
        return json.loads(path.read_text()) if path.exists() else None

    def _save_session(self, name: str, turn: dict) -> None:
        path = self._session_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(turn, default=str))


def open_answerer(lake: str | Path, device: str = "auto") -> LakeAnswerer:
    return LakeAnswerer(lake, device)


def ask(lake: str | Path, product: str | None, question: str, k: int = 5, session: str | None = None) -> dict:
    """One question, answered as `reviewlake ask` answers it (opens the lake each call: keep a LakeAnswerer
    for many)."""
    return open_answerer(lake).ask(product, question, k, session)


if __name__ == "__main__":
    from reviewlake.cli import run_stage_main

    run_stage_main("qa")

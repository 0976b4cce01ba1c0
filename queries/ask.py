"""`reviewlake ask`: product questions answered from the lake without Spark (udfs.qa over DuckDB and delta-rs).

`LakeAnswerer` loads what asking needs once (encoder, question templates, handles on the tables the answers
read); each product's sentences are read on its first question and kept, so later questions about it take
milliseconds.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from queries.sql import open_table, product_titles
from reviewlake.errors import UserError
from reviewlake.tables import REGISTRY
from udfs.qa import Answer, ProductReviews, product_from_rows

REVIEWS, SENTENCES, ASPECTS = "silver.reviews", "silver.review_sentences", "silver.sentence_aspects"
VECTORS, SENTIMENT = "silver.sentence_vectors", "gold.review_sentiment"
TAGS, VOCABULARY, SUMMARIES, SIMILARITY = ("gold.product_tags", "gold.tag_vocabulary", "gold.product_summaries",
                                           "gold.product_similarity")
ASK_TABLES = (REVIEWS, SENTENCES, ASPECTS, VECTORS, SENTIMENT, TAGS, VOCABULARY, SUMMARIES, SIMILARITY)
CATEGORY_ASPECTS = 30          # category tags a question can name, beyond the product's own
SESSION_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class LakeAnswerer:
    """What `reviewlake ask` and Python callers use: open once, then `ask` (milliseconds after a product's
    first question)."""

    def __init__(self, lake: str | Path, device: str = "auto", versions: dict[str, int | str] | None = None,
                 encoder=None) -> None:
        """`versions` pins tables (the API's snapshot); `encoder` shares a loaded SentenceEncoder."""
        import duckdb

        from udfs.encoder import SentenceEncoder
        from udfs.qa import Answerer, QuestionClassifier

        self.lake = Path(lake)
        pinned = versions or {}
        for required in (REVIEWS, SENTENCES):
            open_table(self.lake, required)   # a clear error when the lake has not been built
        self.connection = duckdb.connect()
        self.available = set()
        for name in ASK_TABLES:
            if (REGISTRY[name].path(self.lake) / "_delta_log").is_dir():
                layer, table = name.split(".")
                handle = open_table(self.lake, name, pinned.get(name))
                self.connection.register(f"{layer}_{table}", handle.to_pyarrow_dataset())
                self.available.add(name)
        self.titles = product_titles(self.lake).set_index("product_id")
        counts = self.connection.sql("select product_id, count(*) as n from silver_reviews group by product_id").df()
        self.review_counts = dict(zip(counts["product_id"], counts["n"].astype(int), strict=True))
        self.encoder = encoder or SentenceEncoder(device=device)
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
        loaded = product_from_rows(frame, aspects, self.review_counts.get(product_id, 0), facts)
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

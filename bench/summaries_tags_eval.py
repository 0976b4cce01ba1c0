"""Tags and summaries against the synthetic generator's planted aspects (no Spark).

    python bench/summaries_tags_eval.py --lake lake --truth data/synthetic-220000-s42/ground_truth.json

Tags: precision and recall of gold.product_tags against each product's planted aspects, and how often the
sign of tag_sentiment matches the planted aspect quality (all matched tags, and those planted at |q| >= 0.5).

Summaries: a reference per product written from the ground truth ("The battery life is good. The sound quality
is bad." for its planted aspects, good when quality > 0), and ROUGE-1/2/L F1 (rouge-score, stemmed) of
  - the pipeline's summaries (gold.product_summaries),
  - lead: the first sentences of the product's newest reviews, cut to the same number of words,
  - random: random sentences of the product's reviews (seed 0), same number of words,
plus aspect coverage (planted aspects named in the summary) and tone agreement (statements about an aspect
whose VADER sign matches the planted sign).
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

import numpy as np
import pandas as pd
from deltalake import DeltaTable

from udfs.sentences import polarity, usable

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_summary(text: str) -> list[str]:
    """A summary paragraph back into its statements (the summarizer ends each with . ! or ?)."""
    return [s for s in SENTENCE_END.split(text.strip()) if s]


def tag_scores(tags: pd.DataFrame, planted: pd.DataFrame) -> dict:
    planted = planted[planted["product_id"].isin(tags["product_id"])]
    hits = tags.merge(planted, on=["product_id", "tag"])
    strong = hits[hits["quality"].abs() >= 0.5]
    return {"products": tags["product_id"].nunique(), "tags": len(tags), "planted": len(planted),
            "precision": len(hits) / len(tags), "recall": len(hits) / len(planted),
            "sign_agreement": float((np.sign(hits["tag_sentiment"]) == np.sign(hits["quality"])).mean()),
            "sign_agreement_strong": float((np.sign(strong["tag_sentiment"]) == np.sign(strong["quality"])).mean())}


def _cut(sentences: list[str], n_words: int) -> str:
    out, count = [], 0
    for sentence in sentences:
        if count >= n_words:
            break
        out.append(sentence)
        count += len(sentence.split())
    return " ".join(out)


def summary_scores(summaries: pd.DataFrame, sentences: pd.DataFrame, planted: pd.DataFrame, sample: int
                   ) -> pd.DataFrame:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    by_product = {p: g.sort_values(["review_ts", "sentence_idx"], ascending=[False, True])
                  for p, g in sentences.groupby("product_id")}
    aspects = planted.groupby("product_id").apply(lambda g: dict(zip(g["tag"], g["quality"], strict=True)),
                                                  include_groups=False)
    rng = random.Random(0)
    rows = []
    for product_id, row in summaries.sample(min(sample, len(summaries)), random_state=0).iterrows():
        planted_here = aspects.get(product_id, {})
        reference = " ".join(f"The {a} is {'good' if q > 0 else 'bad'}." for a, q in planted_here.items())
        sentences = [s for s in by_product[product_id]["sentence"] if usable(s)]
        n_words = len(row["summary"].split())
        candidates = {"pipeline": row["summary"], "lead": _cut(sentences, n_words),
                      "random": _cut(rng.sample(sentences, len(sentences)), n_words)}
        for system, text in candidates.items():
            scores = scorer.score(reference, text)
            said = split_summary(text)
            named = [a for a in planted_here if a in text.lower()]
            tones = [np.sign(polarity(s)) == np.sign(planted_here[a]) for a in named for s in said
                     if a in s.lower() and abs(polarity(s)) >= 0.05]
            rows.append({"system": system, **{k: v.fmeasure for k, v in scores.items()},
                         "aspect_coverage": len(named) / max(len(planted_here), 1),
                         "tone_agreement": float(np.mean(tones)) if tones else np.nan, "words": n_words})
    return pd.DataFrame(rows).groupby("system").mean().loc[["pipeline", "lead", "random"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", default="lake")
    parser.add_argument("--truth", required=True)
    parser.add_argument("--sample", type=int, default=500, help="products scored for ROUGE")
    args = parser.parse_args()
    truth = json.loads(Path(args.truth).read_text())
    planted = pd.DataFrame([{"product_id": p, "tag": a, "quality": q}
                            for p, found in truth["product_aspects"].items() for a, q in found.items()])
    tags = DeltaTable(f"{args.lake}/gold/product_tags").to_pandas()
    print("tags:", json.dumps({k: round(v, 3) if isinstance(v, float) else v
                               for k, v in tag_scores(tags, planted).items()}))
    summaries = DeltaTable(f"{args.lake}/gold/product_summaries").to_pandas().set_index("product_id")
    reviews = DeltaTable(f"{args.lake}/silver/reviews").to_pandas(columns=["review_id", "review_ts"])
    sentences = DeltaTable(f"{args.lake}/silver/review_sentences").to_pandas(
        columns=["review_id", "product_id", "sentence_idx", "sentence"]).merge(reviews, on="review_id")
    table = summary_scores(summaries, sentences, planted, args.sample)
    print("| system | ROUGE-1 F1 | ROUGE-2 F1 | ROUGE-L F1 | planted aspects named | statements with the planted "
          "tone |")
    print("|---|---|---|---|---|---|")
    for system, r in table.iterrows():
        print(f"| {system} | {r['rouge1']:.3f} | {r['rouge2']:.3f} | {r['rougeL']:.3f} | {r['aspect_coverage']:.2f} "
              f"| {r['tone_agreement']:.2f} |")
    print(f"summaries scored: {min(args.sample, len(summaries))}; mean words {table.loc['pipeline', 'words']:.0f}")


if __name__ == "__main__":
    main()

"""Text layer quality on the real gold sets: tags against SemEval aspect terms, summaries against OPOSUM.

    python bench/text_quality_real.py [--data ../shared/data/real] [--group 50] [--group-sizes 25 50 100 200]

The aspect extractor is trained in-process on the shipped training sentences (udfs.aspects.train_default:
SemEval train and dev splits, never the test splits), then one Spark NLP pass (the sentences stage's
pipeline fitted in-process: jobs.sentences.build_pipeline and transform; VADER per sentence by
jobs.sentences.lexicon_polarity; the extractor's terms per sentence, as silver.sentence_aspects holds them)
over both sets, then the stages' own cores in plain Python. Nothing is sampled: every test sentence and every
OPOSUM product is used (about 2-4 minutes on 2 cores, most of it the Spark session, the Spark NLP pass and the
training).

0. Aspect-term extraction per sentence (SemEval TEST splits): the extractor's exact spans on the gold
   tokenisation (the shared task's protocol: a predicted span counts when its start and end tokens equal a
   gold term's), then, on the Spark NLP sentences, exact match keys per SemEval sentence (see the match rule
   below) for the extractor as the pipeline runs it and for two baselines: YAKE's raw keyphrases, and those
   left by the tag miner's aspect filter.

1. Tags (absa_semeval/, TEST splits only: laptop14, and restaurant_union, the SemEval 2014-16 restaurant test
   sets). Each test sentence is a one-sentence review (its tokens joined and lightly detokenised), so YAKE
   scores every sentence on its own. Every --group consecutive sentences of a set are one pseudo-product; a
   short remainder joins the last one. Consecutive, so that sentences a set keeps in review order stay
   together; many are independent sentences, so a pseudo-product mixes several laptops or restaurants. Per
   pseudo-product, udfs.keyphrases.product_tags on its usable sentences (udfs.sentences.usable_sentences;
   MiniLM merging as in the tags job) is scored against the gold aspect terms of all its sentences (a term is
   a run of T-* labels of one polarity). Match rule, the same for every system: both sides lower-cased,
   whitespace-collapsed, last word singularised by udfs.keyphrases.lemma, then equal; "containment" also
   accepts one side's words as a contiguous run of the other's ("battery" ~ "battery life"). Micro-averaged
   over pseudo-products: precision = matching predictions / predictions, recall = matched distinct gold terms
   / distinct gold terms; "R of terms in >= 2 sentences" counts only gold terms written in at least two of
   the pseudo-product's sentences (a tag needs min_mentions = 2). Systems on the same sentences: the tags
   (from the extractor's terms); the tags product_tags makes from YAKE's keyphrases instead (the previous
   design); the extractor's raw terms; YAKE's raw candidates (the keyphrases column) and the candidates left
   by the tag miner's aspect filter (candidate_phrases), to show where recall goes; baseline "frequent
   content lemmas": the pseudo-product's most frequent lemmas of the pipeline's lemmas column (Spark's
   English stop words removed; counted in sentences, ties alphabetical), as many as it got tags; baseline
   "random tokens": as many of its distinct tokens drawn uniformly (random.Random(0)).
   Then, for every gold term written in >= 2 sentences, the first step of product_tags that loses it (the
   steps replayed with udfs.keyphrases' own functions), the most frequent tags that are no gold term, and the
   tag scores at several pseudo-product sizes (--group-sizes).
2. Tag sentiment (SemEval, the --group pseudo-products): for tags equal to a gold term with a majority
   polarity (positive vs negative mentions, neutral ones ignored, ties skipped), the share whose tag_sentiment
   sign equals it. There is no review level here (no rating, no review tone), so tag_sentiment is the mean of
   the aspect sentiment classifier's score of the tag in each mentioning sentence (the sentence's VADER
   compound where the extractor did not find the tag there). Baselines on the same tags: the same tags with
   every mention's polarity the sentence's VADER compound (the previous design), the majority class (always
   positive), and the VADER sign of the sentence for each positive or negative gold mention of those terms. A
   score of exactly 0 counts as wrong. Then every gold term mention of the full test splits in three classes
   (POS / NEG / NEU): the classifier on the gold term against the mentioning sentence's VADER class (> 0.05,
   < -0.05, else neutral) and the majority class, accuracy and macro-F1 (print_mention_polarity); and OPOSUM's
   2,018 polarity-labelled segments (print_segment_polarity).
3. OPOSUM tags (oposum/aspect_segments.json: every segment of every review labelled with aspect names of its
   domain, or None): per product, the share of its gold aspects labelled on >= 2 of its segments that some tag
   names, and the share of its tags that name an aspect other than None. Mapping rule (fixed, oposum_aspect_of):
   a tag names the gold aspect most often labelled on the product's segments that mention it; None when that
   is None or no segment mentions it. The product's name is its domain ("bags and cases"); no titles. The
   same for the YAKE-candidate tags and the frequent-lemmas baseline.
4. Summaries (oposum/: 60 products x 10 reviews, 3 gold extractive summaries of kind "all" per product). A
   review's text is its segments (aspect_segments.json) joined with spaces, in order; reviews in id order (no
   dates). The pipeline summary is jobs.summarize.summarize_product on the product's sentence rows (no
   ratings: the polarity is VADER alone). ROUGE-1/2/L F1 (rouge-score, use_stemmer=True) of each system
   against each gold summary, averaged over the 3 annotators, then over products. Baselines on the same usable
   sentences, cut to exactly the pipeline summary's word count: LexRank (lexrank_order: TF-IDF cosine graph,
   threshold 0.1, damping 0.85, near-repeats skipped), lead (each review's first sentence in turn, then the
   second sentences, ...) and random sentences (random.Random(0)). "gold vs other annotators" scores
   each gold summary against the other two: the agreement a system can hope for.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from reviewlake.base_sentiment import real_data_dir
from udfs.keyphrases import (
    CANDIDATES,
    candidate_phrases,
    determiner_share,
    extend_phrase,
    is_aspect_like,
    lemma,
    mention_pattern,
)
from udfs.sentences import polarity, usable_sentences, words

SEMEVAL_SETS = {"laptop14": "laptops (SemEval-14)", "restaurant_union": "restaurants (SemEval-14/15/16)"}
# No dates in either set: every review is written the day before the run, so trends are null, never wrong.
REVIEW_DATE, RUN_DATE = date(2020, 1, 1), date(2020, 1, 2)


def normalised(term: str) -> str:
    """The match key of a tag, keyphrase or gold term: lower-cased, one space, last word singular."""
    collapsed = " ".join(term.lower().split())
    return lemma(collapsed) if collapsed else ""


def matches(a: str, b: str, rule: str) -> bool:
    if rule == "exact":
        return a == b
    short, long = sorted((a.split(), b.split()), key=len)
    return any(long[i:i + len(short)] == short for i in range(len(long) - len(short) + 1))


def detokenize(tokens: list[str]) -> str:
    text = " ".join(tokens)
    text = re.sub(r" ([.,!?;:%)])", r"\1", text)
    text = re.sub(r"([($]) ", r"\1", text)
    return re.sub(r" (n't|'s|'re|'ve|'m|'ll|'d)\b", r"\1", text, flags=re.IGNORECASE)


def gold_terms(tokens: list[str], labels: list[str]) -> list[tuple[str, str]]:
    """(term, POS|NEG|NEU) for each run of T-* labels of one polarity."""
    terms, run, run_polarity = [], [], None
    for token, label in zip(tokens, labels, strict=True):
        label_polarity = label[2:] if label.startswith("T-") else None
        if run and label_polarity != run_polarity:
            terms.append((" ".join(run), run_polarity))
            run = []
        if label_polarity:
            run.append(token)
        run_polarity = label_polarity
    if run:
        terms.append((" ".join(run), run_polarity))
    return terms


def semeval_reviews(data: Path) -> pd.DataFrame:
    """One row per test sentence: review_id, dataset, position, text, gold [(match key, POS|NEG|NEU)]."""
    rows = []
    for name in SEMEVAL_SETS:
        split = json.loads((data / "absa_semeval" / name / "test.json").read_text())["data"]
        for position, record in enumerate(sorted(split.values(), key=lambda r: int(r["id"]))):
            rows.append({"review_id": f"{name}-{int(record['id']):05d}", "dataset": name, "position": position,
                         "text": detokenize(record["tokens"]),
                         "gold": [(normalised(t), p) for t, p in gold_terms(record["tokens"], record["labels"])]})
    return pd.DataFrame(rows)


def pseudo_products(reviews: pd.DataFrame, group: int) -> pd.Series:
    """Every `group` consecutive sentences of a set are one product; a short remainder joins the last one."""
    n_groups = reviews.groupby("dataset")["position"].transform(lambda p: max(1, len(p) // group))
    index = np.minimum(reviews["position"] // group, n_groups - 1)
    return reviews["dataset"] + "-p" + index.map("{:03d}".format)


def oposum_reviews(data: Path) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Reviews (review_id, product_id, domain, text) and each product's gold summaries of kind 'all'."""
    reviews = [{"review_id": r["review_id"], "product_id": r["review_id"].rsplit("-", 1)[0], "domain": r["domain"],
                "text": " ".join(s["text"].strip() for s in r["segments"])}
               for r in json.loads((data / "oposum" / "aspect_segments.json").read_text())]
    gold: dict[str, list[str]] = {}
    for summary in json.loads((data / "oposum" / "summaries.json").read_text()):
        if summary["kind"] == "all":
            gold.setdefault(summary["product"], []).append(" ".join(summary["summary_sentences"]))
    return pd.DataFrame(reviews).sort_values("review_id", ignore_index=True), gold


def split_sentences(reviews: pd.DataFrame, config, models) -> pd.DataFrame:
    """silver.review_sentences-like rows of `reviews` from the fitted Spark NLP pipeline, with VADER and the
    aspect models' terms and term polarities (as silver.sentence_aspects would hold them)."""
    from jobs.sentences import build_pipeline, lexicon_polarity, transform
    from reviewlake.spark import get_spark
    from udfs.lemma_dictionary import write_lemma_dictionary

    spark = get_spark(config, "reviewlake-bench-text-quality")
    with tempfile.TemporaryDirectory() as scratch:
        dictionary = Path(scratch) / "lemmas.txt"
        write_lemma_dictionary(dictionary)
        model = build_pipeline(config.sentences, dictionary).fit(spark.createDataFrame([("",)], "text string"))
        frame = spark.createDataFrame(reviews[["review_id", "product_id", "text"]])
        rows = transform(frame, model, "bench", "bench").drop("pipeline_version", "run_id").toPandas()
    spark.stop()
    rows = rows.sort_values(["review_id", "sentence_idx"], ignore_index=True)
    for column in ("tokens", "lemmas", "keyphrases"):
        rows[column] = rows[column].map(lambda v: list(v) if v is not None else [])
    terms, term_polarity = models.analyse(rows["sentence"].tolist())
    return rows.assign(lexicon_polarity=lexicon_polarity(rows["sentence"]), review_date=REVIEW_DATE, review_ts=0,
                       rating=np.nan, sentiment_score=np.nan, vector=None, aspect_terms=terms,
                       aspect_polarity=term_polarity)


def span_scores(predicted: list[set], gold: list[set]) -> dict[str, float]:
    true = sum(len(p & g) for p, g in zip(predicted, gold, strict=True))
    precision = true / max(1, sum(map(len, predicted)))
    recall = true / max(1, sum(map(len, gold)))
    return {"P": precision, "R": recall, "F1": 2 * precision * recall / max(precision + recall, 1e-12),
            "per sentence": sum(map(len, predicted)) / max(1, len(predicted))}


def print_extraction(data: Path, sentences: pd.DataFrame, extractor, settings) -> None:
    """Sentence-level aspect-term extraction on the SemEval test splits: exact spans on the gold tokens (the
    shared task's protocol) for the extractor; exact match keys per sentence for everything that reads Spark
    NLP's sentences (the extractor as the pipeline runs it, YAKE's keyphrases raw and after the aspect filter)."""
    from udfs.aspects import bio_labels, spans

    print("| set | system | unit | terms per sentence | P | R | F1 |")
    print("|---|---|---|---|---|---|---|")
    for name, label in SEMEVAL_SETS.items():
        split = sorted(json.loads((data / "absa_semeval" / name / "test.json").read_text())["data"].values(),
                       key=lambda r: int(r["id"]))
        tokens = [r["tokens"] for r in split]
        gold_spans = [set(spans(bio_labels(r["labels"]))) for r in split]
        e = span_scores([set(spans(tags)) for tags in extractor.tag(tokens)], gold_spans)
        print(f"| {label} | aspect extractor (udfs.aspects) | token spans on the gold tokenisation | "
              f"{e['per sentence']:.2f} | {e['P']:.3f} | {e['R']:.3f} | {e['F1']:.3f} |")
        keys = {f"{name}-{int(r['id']):05d}": {normalised(t) for t, _ in gold_terms(r["tokens"], r["labels"])}
                for r in split}
        mine = sentences[sentences["review_id"].isin(keys)]
        gold = [keys[review_id] for review_id in sorted(keys)]
        systems = {
            "aspect extractor, as the pipeline runs it": "aspect_terms",
            "baseline: YAKE keyphrases, raw": "keyphrases",
            "baseline: YAKE keyphrases after the aspect filter": "filtered",
        }
        for system, column in systems.items():
            per_review: dict[str, set[str]] = {review_id: set() for review_id in keys}
            for review_id, phrases in zip(mine["review_id"], mine[column if column != "filtered" else "keyphrases"],
                                          strict=True):
                if column == "filtered":
                    phrases = [p for p in phrases if is_aspect_like(" ".join(words(p)), settings.max_words)]
                per_review[review_id] |= {normalised(p) for p in phrases} - {""}
            e = span_scores([per_review[review_id] for review_id in sorted(keys)], gold)
            print(f"| {label} | {system} | match keys per sentence (Spark NLP sentences) | {e['per sentence']:.2f} | "
                  f"{e['P']:.3f} | {e['R']:.3f} | {e['F1']:.3f} |")
    print()


def frequent_lemmas(sentences: pd.DataFrame, k: int) -> list[str]:
    counts = Counter(x for lemmas in sentences["lemmas"] for x in set(lemmas) if x.isalpha())
    return [word for word, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:k]]


def where_lost(term: str, usable: pd.DataFrame, tagged: set[str], settings) -> str:
    """The first step of product_tags that loses gold term `term` (its match key), replayed with its parts."""
    if term in tagged:
        return "tagged"
    if any(not re.fullmatch(r"[a-z][a-z'-]*", w) for w in term.split()):
        return "digits or symbols (no tag can have them)"
    forms = {f for f in (" ".join(words(p)) for ps in usable[CANDIDATES] for p in ps) if normalised(f) == term}
    if not forms:
        return f"never proposed ({CANDIDATES})"
    if not any(is_aspect_like(f, settings.max_words) for f in forms):
        return "not aspect-like (stop, judging or generic word)"
    ranked = [c for c in candidate_phrases(usable[CANDIDATES], settings) if normalised(c) == term]
    if not ranked:
        return f"not among the {settings.max_candidates} most-proposed candidates"
    lowered = usable["sentence"].str.lower().to_numpy()
    if normalised(extend_phrase(ranked[0], lowered, settings)) != term:
        return "extended to a longer phrase"
    pattern = mention_pattern(ranked[0])
    if sum(bool(pattern.search(s)) for s in lowered) < settings.min_mentions:
        return f"fewer than {settings.min_mentions} usable sentences mention it"
    if determiner_share(ranked[0], lowered) < settings.min_determiner_share:
        return f"after a determiner in < {settings.min_determiner_share:.0%} of mentions"
    return "later: inside a longer tag, merged by MiniLM, or past max_tags"


def tag_pseudo_products(reviews: pd.DataFrame, sentences: pd.DataFrame, settings, group: int) -> list[dict]:
    """Per pseudo-product of `group` sentences: its gold terms, every system's match keys, its tags, and where
    product_tags lost each gold term written in >= 2 sentences."""
    from udfs.encoder import embed_on_worker
    from udfs.keyphrases import product_tags

    rng = random.Random(0)
    reviews = reviews.assign(product_id=pseudo_products(reviews, group))
    sentences = sentences.drop(columns="product_id").merge(reviews[["review_id", "product_id"]], on="review_id")
    by_product = dict(tuple(sentences.groupby("product_id", sort=True)))
    out = []
    for product_id, in_product in reviews.groupby("product_id", sort=True):
        usable = usable_sentences(by_product[product_id])
        tags = product_tags(usable, settings, RUN_DATE, embed_on_worker)
        yake_tags = product_tags(usable, settings, RUN_DATE, embed_on_worker, candidates="keyphrases")
        k = len(tags)
        vocabulary = sorted({t for tokens in usable["tokens"] for t in tokens if t.isalpha()})
        systems = {"tags (product_tags)": tags["tag"].tolist(),
                   "tags from YAKE candidates instead (the previous design)": yake_tags["tag"].tolist(),
                   "extractor's aspect terms, raw": [p for terms in usable["aspect_terms"] for p in terms],
                   "YAKE candidates, raw": [p for phrases in usable["keyphrases"] for p in phrases],
                   "YAKE candidates after the aspect filter": candidate_phrases(usable["keyphrases"], settings),
                   "baseline: frequent content lemmas (k = tags)": frequent_lemmas(usable, k),
                   "baseline: random tokens (k = tags, seed 0)": rng.sample(vocabulary, min(k, len(vocabulary)))}
        mentions = Counter(t for terms in in_product["gold"] for t in {key for key, _ in terms} if t)
        repeated = {t for t, n in mentions.items() if n >= 2}
        tagged = {normalised(t) for t in tags["tag"]}
        out.append({"dataset": in_product["dataset"].iloc[0], "n_sentences": len(by_product[product_id]),
                    "n_usable": len(usable), "gold": set(mentions), "repeated": repeated, "tags": tags,
                    # The same tags with the sentence's VADER as each mention's polarity (the previous design).
                    "sentence_tone_tags": product_tags(usable.drop(columns="aspect_polarity"), settings, RUN_DATE,
                                                       embed_on_worker),
                    "reviews": in_product,
                    "systems": {name: {normalised(p) for p in phrases} - {""} for name, phrases in systems.items()},
                    "lost": {t: where_lost(t, usable, tagged, settings) for t in repeated}})
    return out


def covered(found: list[set[str]], wanted: list[set[str]], rule: str) -> int:
    """How many phrases of `found` match some phrase of `wanted`, summed over pseudo-products."""
    return sum(sum(any(matches(f, w, rule) for w in ws) for f in fs) for fs, ws in zip(found, wanted, strict=True))


def tag_scores(products: list[dict], system: str, rule: str) -> dict[str, float]:
    """Micro-averaged precision, recall, F1 and recall of repeated gold terms of one system."""
    predicted = [p["systems"][system] for p in products]
    gold, repeated = [p["gold"] for p in products], [p["repeated"] for p in products]
    precision = covered(predicted, gold, rule) / max(1, sum(len(p) for p in predicted))
    recall = covered(gold, predicted, rule) / max(1, sum(len(g) for g in gold))
    return {"P": precision, "R": recall, "F1": 2 * precision * recall / max(precision + recall, 1e-12),
            "R>=2": covered(repeated, predicted, rule) / max(1, sum(len(r) for r in repeated)),
            "per product": float(np.mean([len(p) for p in predicted]))}


def print_tag_table(by_set: dict[str, list[dict]], group: int) -> None:
    print(f"| set | pseudo-products of {group} sentences | usable / Spark NLP sentences | distinct gold terms per "
          "product (in >= 2 sentences) | system | phrases per product | P | R | F1 | R of terms in >= 2 sentences "
          "| P containment | R containment |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, products in by_set.items():
        sizes = Counter(len(p["reviews"]) for p in products)
        shape = ", ".join(f"{n} x {size}" for size, n in sorted(sizes.items()))
        usable = f"{sum(p['n_usable'] for p in products):,} / {sum(p['n_sentences'] for p in products):,}"
        gold = (f"{np.mean([len(p['gold']) for p in products]):.1f} "
                f"({np.mean([len(p['repeated']) for p in products]):.1f})")
        for system in products[0]["systems"]:
            e, c = tag_scores(products, system, "exact"), tag_scores(products, system, "containment")
            print(f"| {SEMEVAL_SETS[name]} | {len(products)} ({shape} sentences) | {usable} | {gold} | {system} | "
                  f"{e['per product']:.1f} | {e['P']:.3f} | {e['R']:.3f} | {e['F1']:.3f} | {e['R>=2']:.3f} | "
                  f"{c['P']:.3f} | {c['R']:.3f} |")
    print()


def print_losses(by_set: dict[str, list[dict]]) -> None:
    steps = Counter(step for products in by_set.values() for p in products for step in p["lost"].values())
    order = [step for step, _ in steps.most_common()]
    print("| where product_tags loses gold terms written in >= 2 sentences of a pseudo-product | "
          + " | ".join(SEMEVAL_SETS[name] for name in by_set) + " |")
    print("|---|" + "---|" * len(by_set))
    for step in order:
        cells = []
        for products in by_set.values():
            lost = [t for p in products for t, s in p["lost"].items() if s == step]
            total = sum(len(p["lost"]) for p in products)
            common = ", ".join(f"{t} {n}" for t, n in Counter(lost).most_common(4))
            cells.append(f"{len(lost)} of {total}" + (f" ({common})" if common and step != "tagged" else ""))
        print(f"| {step} | " + " | ".join(cells) + " |")
    print()
    for name, products in by_set.items():
        wrong = Counter(t for p in products for t in p["systems"]["tags (product_tags)"] if t not in p["gold"])
        print(f"{SEMEVAL_SETS[name]}: tags that are no gold term of their pseudo-product, most often: "
              + ", ".join(f"{t} ({n})" for t, n in wrong.most_common(12)))
    print()


def print_group_sizes(reviews: pd.DataFrame, sentences: pd.DataFrame, settings, groups: tuple[int, ...]) -> None:
    print("| set | sentences per pseudo-product | pseudo-products | gold terms in >= 2 sentences per product | "
          "tags per product | tags P | tags R | tags F1 | tags R of terms in >= 2 sentences | "
          "frequent-lemmas baseline F1 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for group in groups:
        products = tag_pseudo_products(reviews, sentences, settings, group)
        for name in SEMEVAL_SETS:
            here = [p for p in products if p["dataset"] == name]
            tags = tag_scores(here, "tags (product_tags)", "exact")
            frequent = tag_scores(here, "baseline: frequent content lemmas (k = tags)", "exact")
            print(f"| {SEMEVAL_SETS[name]} | {group} | {len(here)} | "
                  f"{np.mean([len(p['repeated']) for p in here]):.1f} | {tags['per product']:.1f} | {tags['P']:.3f} | "
                  f"{tags['R']:.3f} | {tags['F1']:.3f} | {tags['R>=2']:.3f} | {frequent['F1']:.3f} |", flush=True)
    print()


def vader_class(text: str) -> str:
    compound = polarity(text)
    return "POS" if compound > 0.05 else "NEG" if compound < -0.05 else "NEU"


def print_mention_polarity(data: Path, models) -> None:
    """Aspect polarity per gold term mention of the SemEval test splits (POS / NEG / NEU): the aspect sentiment
    classifier (udfs.aspect_sentiment, trained on the train splits) on the gold term, against the mentioning
    sentence's VADER class (> 0.05 positive, < -0.05 negative, else neutral: what tag_sentiment averaged
    before) and the majority class; accuracy and macro-F1 over the three classes."""
    from sklearn.metrics import accuracy_score, f1_score

    from udfs.aspect_sentiment import training_terms

    print("| set | system | gold term mentions | accuracy | macro-F1 (POS/NEG/NEU) |")
    print("|---|---|---|---|---|")
    for name, label in SEMEVAL_SETS.items():
        records = list(json.loads((data / "absa_semeval" / name / "test.json").read_text())["data"].values())
        features, gold = training_terms(records)
        vader = [vader_class(detokenize(r["tokens"])) for r in records
                 for _ in gold_terms(r["tokens"], r["labels"])]
        majority = Counter(gold).most_common(1)[0][0]
        for system, predicted in {"aspect sentiment classifier on the gold term (udfs.aspect_sentiment)":
                                  models.sentiment.predict(features),
                                  "baseline: VADER class of the mentioning sentence": vader,
                                  f"baseline: majority class ({majority})": [majority] * len(gold)}.items():
            print(f"| {label} | {system} | {len(gold):,} | {accuracy_score(gold, predicted):.3f} | "
                  f"{f1_score(gold, predicted, average='macro', labels=['POS', 'NEG', 'NEU']):.3f} |")
    print()


def print_segment_polarity(data: Path, models) -> None:
    """OPOSUM segment polarity (segment_polarity_discrete.json: 2,018 review segments labelled + / - / 0):
    per segment, the aspect models' mean class probabilities over the terms the extractor finds in it (VADER's
    class where it finds none), against VADER's class of the segment and the majority class; macro-F1."""
    from sklearn.metrics import accuracy_score, f1_score

    from udfs.aspect_sentiment import CLASSES, term_features
    from udfs.aspects import spans, tokenize

    labels = {"+": "POS", "-": "NEG", "0": "NEU"}
    segments = [(seg["text"], labels[seg["polarity"]])
                for review in json.loads((data / "oposum" / "segment_polarity_discrete.json").read_text())
                for seg in review["segments"]]
    texts, gold = [t for t, _ in segments], [g for _, g in segments]
    tokenised = [tokenize(t) for t in texts]
    found = [spans(tags) for tags in models.extractor.tag(tokenised)]
    vader = [vader_class(t) for t in texts]
    targeted = []
    for tokens, ranges, fallback in zip(tokenised, found, vader, strict=True):
        if ranges:
            mean = models.sentiment.probabilities([term_features(tokens, a, b) for a, b in ranges]).mean(axis=0)
            targeted.append(CLASSES[int(mean.argmax())])
        else:
            targeted.append(fallback)
    majority = Counter(gold).most_common(1)[0][0]
    with_terms = np.array([bool(r) for r in found])
    print(f"| OPOSUM segments ({len(gold):,}; {with_terms.mean():.0%} with an extracted term) | accuracy | "
          "macro-F1 (POS/NEG/NEU) | macro-F1 on segments with a term |")
    print("|---|---|---|---|")
    for system, predicted in {"aspect sentiment (mean over the segment's terms; VADER where none)": targeted,
                              "baseline: VADER class of the segment": vader,
                              f"baseline: majority class ({majority})": [majority] * len(gold)}.items():
        termed = [p for p, t in zip(predicted, with_terms, strict=True) if t]
        print(f"| {system} | {accuracy_score(gold, predicted):.3f} | "
              f"{f1_score(gold, predicted, average='macro', labels=['POS', 'NEG', 'NEU']):.3f} | "
              f"{f1_score(np.array(gold)[with_terms], termed, average='macro', labels=['POS', 'NEG', 'NEU']):.3f} |")
    print()


def print_tag_sentiment(by_set: dict[str, list[dict]]) -> None:
    print("| set | system | unit | n | sign = gold polarity |")
    print("|---|---|---|---|---|")
    for name, products in by_set.items():
        tag_rows, mention_rows = [], []
        for p in products:
            votes: dict[str, Counter] = {}
            for terms in p["reviews"]["gold"]:
                for key, label in terms:
                    votes.setdefault(key, Counter())[label] += 1
            sentence_tone = dict(zip(p["sentence_tone_tags"]["tag"], p["sentence_tone_tags"]["tag_sentiment"],
                                     strict=True))
            for tag, tag_sentiment in zip(p["tags"]["tag"], p["tags"]["tag_sentiment"], strict=True):
                key, vote = normalised(tag), votes.get(normalised(tag), Counter())
                if vote["POS"] == vote["NEG"]:
                    continue
                majority = 1 if vote["POS"] > vote["NEG"] else -1
                tag_rows.append((np.sign(tag_sentiment) == majority, majority == 1,
                                 np.sign(sentence_tone.get(tag, 0.0)) == majority))
                for text, terms in p["reviews"][["text", "gold"]].itertuples(index=False):
                    mention_rows += [np.sign(polarity(text)) == (1 if label == "POS" else -1)
                                     for term, label in terms if term == key and label in ("POS", "NEG")]
        tag_rows = np.array(tag_rows, dtype=bool).reshape(-1, 3)
        label = SEMEVAL_SETS[name]
        print(f"| {label} | tag_sentiment sign | tag = a gold term with a majority polarity | {len(tag_rows)} | "
              f"{tag_rows[:, 0].mean():.3f} |")
        print(f"| {label} | tag_sentiment sign from the sentences' VADER instead (the previous design) | same tags | "
              f"{len(tag_rows)} | {tag_rows[:, 2].mean():.3f} |")
        print(f"| {label} | majority class (always positive) | same tags | {len(tag_rows)} | "
              f"{tag_rows[:, 1].mean():.3f} |")
        print(f"| {label} | VADER sign of the whole sentence | each positive/negative gold mention of those terms | "
              f"{len(mention_rows)} | {np.mean(mention_rows):.3f} |")
    print()


def oposum_aspect_of(tag: str, segments: pd.DataFrame) -> str:
    """The mapping rule: a tag names the gold aspect most often labelled on the product's segments that mention
    it (mention_pattern, lower-cased text; a segment counts once per label; ties alphabetical); "None" when
    that label is None or no segment mentions it."""
    pattern = mention_pattern(tag)
    labels = Counter(label for text, aspects in segments[["text", "aspects"]].itertuples(index=False)
                     if pattern.search(text.lower()) for label in set(aspects))
    if not labels:
        return "None"
    return sorted(labels.items(), key=lambda item: (-item[1], item[0]))[0][0]


def print_oposum_tags(data: Path, sentences: pd.DataFrame, settings) -> None:
    """OPOSUM per product: share of its gold aspects (other than None, labelled on >= 2 of its segments) that a
    tag maps to, and share of its tags that map to a gold aspect other than None."""
    from udfs.encoder import embed_on_worker
    from udfs.keyphrases import product_nouns, product_tags

    segments = pd.DataFrame([{"product_id": r["review_id"].rsplit("-", 1)[0], "domain": r["domain"],
                              "text": seg["text"], "aspects": seg["aspects"]}
                             for r in json.loads((data / "oposum" / "aspect_segments.json").read_text())
                             for seg in r["segments"]])
    results: dict[str, list[tuple[int, int, int, int, float]]] = {}
    for product_id, frame in sentences.groupby("product_id", sort=True):
        mine = segments[segments["product_id"] == product_id]
        usable = usable_sentences(frame.sort_values(["review_id", "sentence_idx"]))
        # The category is the product's only name here (no titles): "bags_and_cases" -> bag, case.
        product = product_nouns(None, mine["domain"].iloc[0].replace("_", " "))
        counts = Counter(label for aspects in mine["aspects"] for label in set(aspects) if label != "None")
        wanted = {label for label, n in counts.items() if n >= 2}
        systems = {
            "tags (product_tags)": product_tags(usable, settings, RUN_DATE, embed_on_worker, product)["tag"],
            "tags from YAKE candidates instead (the previous design)":
                product_tags(usable, settings, RUN_DATE, embed_on_worker, product, candidates="keyphrases")["tag"],
        }
        k = len(systems["tags (product_tags)"])
        systems["baseline: frequent content lemmas (k = tags)"] = frequent_lemmas(usable, k)
        for system, tags in systems.items():
            mapped = [oposum_aspect_of(t, mine) for t in tags]
            named = wanted & set(mapped)
            results.setdefault(system, []).append(
                (len(named), len(wanted), sum(m != "None" for m in mapped), len(mapped), float(k)))
    print(f"| OPOSUM, {sentences['product_id'].nunique()} products: tags vs gold aspects (labelled on >= 2 "
          "segments) | tags per product | share of gold aspects named by a tag | share of tags naming an aspect |")
    print("|---|---|---|---|")
    for system, rows in results.items():
        named, wanted, real, total, _k = (sum(r[i] for r in rows) for i in range(5))
        print(f"| {system} | {total / len(rows):.1f} | {named / max(wanted, 1):.3f} ({named} of {wanted}) | "
              f"{real / max(total, 1):.3f} ({real} of {total}) |")
    print("mapping rule: a tag names the gold aspect most often labelled on the product's segments that mention it "
          "(whole word, last word singular or plural); None when that is None or no segment mentions it")
    print()


def first_words(sentences: list[str], n_words: int) -> str:
    return " ".join(" ".join(sentences).split()[:n_words])


def lexrank_order(sentences: list[str], threshold: float = 0.1, damping: float = 0.85) -> list[str]:
    """LexRank (Erkan & Radev 2004): TF-IDF cosine graph of the product's sentences (edges above `threshold`),
    PageRank scores by power iteration; sentences by score, a near-repeat (cosine >= 0.5 to one already taken)
    skipped. Ties: text order."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    distinct = list(dict.fromkeys(sentences))
    if len(distinct) < 2:
        return distinct
    vectors = TfidfVectorizer().fit_transform(distinct)
    similarity = (vectors @ vectors.T).toarray()
    graph = (similarity >= threshold).astype(float)
    graph /= graph.sum(axis=1, keepdims=True)
    score = np.full(len(distinct), 1 / len(distinct))
    for _ in range(100):
        updated = (1 - damping) / len(distinct) + damping * graph.T @ score
        if np.abs(updated - score).sum() < 1e-8:
            break
        score = updated
    taken: list[int] = []
    for i in sorted(range(len(distinct)), key=lambda i: (-score[i], i)):
        if all(similarity[i, j] < 0.5 for j in taken):
            taken.append(i)
    return [distinct[i] for i in taken]


def lead_order(sentences: pd.DataFrame) -> list[str]:
    """Each review's first usable sentence in turn, then the second ones, ..."""
    ranked = sentences.assign(rank=sentences.groupby("review_id").cumcount())
    return ranked.sort_values(["rank", "review_id"], kind="stable")["sentence"].tolist()


def print_summaries(reviews: pd.DataFrame, gold: dict[str, list[str]], sentences: pd.DataFrame, config) -> None:
    from rouge_score import rouge_scorer

    from jobs.summarize import summarize_product

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    rng = random.Random(0)
    rows, lengths = [], {}
    for product_id, frame in sentences.groupby("product_id", sort=True):
        if product_id not in gold:
            continue
        summary = summarize_product(frame, config.summarize, config.tags, RUN_DATE)["summary"]
        pool = usable_sentences(frame.sort_values(["review_id", "sentence_idx"]))
        n_words = len(summary.split())
        systems = {"pipeline (summarize_product)": summary,
                   "LexRank (TF-IDF graph, same words)": first_words(lexrank_order(pool["sentence"].tolist()),
                                                                      n_words),
                   "lead (first sentences, same words)": first_words(lead_order(pool), n_words),
                   "random sentences (seed 0, same words)":
                   first_words(rng.sample(pool["sentence"].tolist(), len(pool)), n_words)}
        for system, text in systems.items():
            lengths.setdefault(system, []).append(len(text.split()))
            for reference in gold[product_id]:
                scores = scorer.score(reference, text)
                rows.append({"product": product_id, "system": system,
                             **{m: scores[m].fmeasure for m in ("rouge1", "rouge2", "rougeL")}})
        for i, own in enumerate(gold[product_id]):
            lengths.setdefault("gold vs other annotators", []).append(len(own.split()))
            for j, reference in enumerate(gold[product_id]):
                if i != j:
                    scores = scorer.score(reference, own)
                    rows.append({"product": product_id, "system": "gold vs other annotators",
                                 **{m: scores[m].fmeasure for m in ("rouge1", "rouge2", "rougeL")}})
    table = pd.DataFrame(rows).groupby(["system", "product"]).mean().groupby("system").mean()
    n_products = pd.DataFrame(rows)["product"].nunique()
    print(f"| OPOSUM, {n_products} products, {len(reviews)} reviews, 3 gold summaries each | words (mean) | "
          "ROUGE-1 F1 | ROUGE-2 F1 | ROUGE-L F1 |")
    print("|---|---|---|---|---|")
    for system in [*lengths][:4] + ["gold vs other annotators"]:
        scores = table.loc[system]
        print(f"| {system} | {np.mean(lengths[system]):.0f} | {scores['rouge1']:.3f} | {scores['rouge2']:.3f} | "
              f"{scores['rougeL']:.3f} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=real_data_dir(), help="the real data directory")
    parser.add_argument("--group", type=int, default=50, help="SemEval sentences per pseudo-product")
    parser.add_argument("--group-sizes", type=int, nargs="*", default=[25, 50, 100, 200],
                        help="pseudo-product sizes of the sensitivity table (none: skip it)")
    args = parser.parse_args()
    if args.data is None or not (args.data / "absa_semeval").is_dir():
        parser.error("real data not found: pass --data or set REVIEWLAKE_REAL_DATA")
    from importlib.metadata import version

    from reviewlake.config import load_config
    from udfs.encoder import choose_device

    config = load_config()
    started = time.perf_counter()
    semeval = semeval_reviews(args.data)
    oposum, gold_summaries = oposum_reviews(args.data)
    # The SemEval product_id is a placeholder: pseudo-products are assigned afterwards, once per group size.
    both = pd.concat([semeval[["review_id", "dataset", "text"]].rename(columns={"dataset": "product_id"}),
                      oposum[["review_id", "product_id", "text"]]])
    from udfs.aspect_sentiment import train_default_models

    trained = time.perf_counter()
    models = train_default_models()
    train_seconds = time.perf_counter() - trained
    sentences = split_sentences(both, config, models)
    split_seconds = time.perf_counter() - started - train_seconds

    print(f"machine: {os.cpu_count()} cores (os.cpu_count()); spark-nlp {version('spark-nlp')}, pyspark "
          f"{version('pyspark')}; sentence encoder on {choose_device('auto')}")
    print(f"command: python bench/text_quality_real.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"data: SemEval test splits {', '.join(SEMEVAL_SETS)} ({len(semeval):,} sentences, none sampled); "
          f"OPOSUM {oposum['product_id'].nunique()} products, {len(oposum)} reviews (none sampled); "
          f"Spark NLP split them into {len(sentences):,} sentences in {split_seconds:.0f} s (incl. session start)")
    print()
    print(f"aspect extractor and aspect sentiment: trained on the shipped SemEval TRAIN splits in "
          f"{train_seconds:.0f} s")
    print()
    print_extraction(args.data, sentences, models.extractor, config.tags)
    is_semeval = sentences["review_id"].isin(semeval["review_id"])
    products = tag_pseudo_products(semeval, sentences[is_semeval], config.tags, args.group)
    by_set = {name: [p for p in products if p["dataset"] == name] for name in SEMEVAL_SETS}
    print_tag_table(by_set, args.group)
    print_losses(by_set)
    print_tag_sentiment(by_set)
    print_mention_polarity(args.data, models)
    print_segment_polarity(args.data, models)
    if args.group_sizes:
        print_group_sizes(semeval, sentences[is_semeval], config.tags, tuple(args.group_sizes))
    print_oposum_tags(args.data, sentences[~is_semeval], config.tags)
    print_summaries(oposum, gold_summaries, sentences[~is_semeval], config)
    print(f"<!-- total {time.perf_counter() - started:.0f}s -->")


if __name__ == "__main__":
    main()

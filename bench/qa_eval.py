"""Product questions (udfs/qa.py, `reviewlake ask`, gold.product_faq) against known answers (no Spark).

    python bench/qa_eval.py [--lake lake --truth data/synthetic-220000-s42/ground_truth.json] [--products 200]
                            [--data ../shared/data/real] [--skip-oposum] [--aspect-models DIR]

Question types (always): udfs.qa.QuestionClassifier (MiniLM nearest template + rules) on the hand-labelled
bench/data/qa_questions.tsv (none of them is a template of udfs/training_data/qa_templates.tsv; the overlap is
printed): type accuracy, knowledge-intent accuracy over the knowledge questions (right type and intent), the
options question_options finds for the choice questions (equal to the labelled ones, lower-cased; leniently: as
many, each sharing a word with the labelled one in its place), a type confusion table and the misclassified
questions (wrong type, or a knowledge question with the wrong intent).

Part A (only with --lake and --truth): a lake built by `reviewlake demo` / `reviewlake run` from synthetic data;
ground_truth.json's aspect_answers say what reviews of each product say about every aspect of its category
(yes / no / mixed / not discussed).
 A1. gold.product_faq against the truth, over the (product, aspect) rows that have one: accuracy (answer equal
     to the truth), the confusion counts per truth value, and calibration: accuracy per confidence bin
     [0, 0.5), [0.5, 0.7), [0.7, 0.9), [0.9, 1] (with how many of them say "not discussed", whose confidence
     is a different posterior).
 A2. One queries.ask.LakeAnswerer (what `reviewlake ask` uses), on --products products drawn with
     random.Random(--seed) from those with a truth and >= 5 reviews:
     - yes/no: every aspect of the product's category asked in three phrasings written here (PHRASINGS),
       accuracy per phrasing against the truth (every answer counts; a clarification is wrong), the share
       answered as a yes/no question about the asked aspect, and the answer types;
     - choice: for each product with an aspect whose truth is "yes" and another whose truth is "no" (one of each
       drawn with the same generator, and the order), "is the <x> or the <y> better?"; right when the chosen
       option is the "yes" aspect (exact), or contains it and not the "no" aspect (lenient: question_options may
       keep a neighbouring word, "is the price" / "battery life better"); and how often the options parsed are
       exactly the two aspects;
     - evidence precision@3: over the yes/no answers about aspects the truth says are discussed, the share of
       their (up to 3) evidence sentences containing the aspect or its last word as a plain lower-cased
       substring: an independent check, not udfs.keyphrases.mention_mask;
     - latency: wall time of each `ask`; a product's first question loads its sentences (load), the others are
       warm; p50 / p95 in ms;
     - the qa stage's own time: the latest succeeded ops.pipeline_runs row with job "qa".

Part B (unless --skip-oposum): OPOSUM, real Amazon reviews (real_data_dir()/oposum): aspect_segments.json, 600
reviews of 60 products (product = review id less its last "-" part) in 6 domains, every segment labelled with
aspect names of its domain (or None), and segment_polarity_discrete.json, 150 of those reviews with every
segment labelled + / - / 0 and the review's rating field (0-4: + share rises with it, so stars = field + 1).
 - Join: polarity segments to aspect segments by review id and text (html-unescaped, lower-cased, everything
   but letters and digits removed: the polarity file is tokenised, "it 's"); the join rate is printed.
 - Units: segments are clauses ("The bottom has no way" / "of staying on."), so answering over segments would
   make evidence precision nearly a lookup of labelled units. Instead a review's text is its segments joined
   with spaces, split into sentences after . ! or ? (regex), and only the quotable ones kept
   (udfs.sentences.usable_sentences: 4-40 words, no PII), as the lake's sentences are; a sentence can hold
   several segments with different aspects, and a segment several sentences.
 - Per sentence, as the lake holds it: VADER (usable_sentences), the aspect terms and their targeted polarity
   from udfs.aspect_sentiment.train_default_models() (trained on the shipped SemEval train splits; or loaded
   from --aspect-models), the MiniLM vector (SentenceEncoder, CPU), and the review's tone ((stars - 3) / 2)
   where a rating exists (the 150 polarity-labelled reviews only; NaN elsewhere). No dates, no titles: the
   product's words are its domain's (udfs.keyphrases.product_nouns of e.g. "bags and cases"), its aspects the
   domain's aspect names less None, lower-cased, "_" -> " " ("Size_Fit" -> "size fit").
 - For every product and aspect labelled on >= 2 of its segments, through udfs.qa.Answerer:
   (i) "what do reviewers say about the <aspect>?": evidence precision@3: a top-3 evidence sentence is right
       when it overlaps a segment of the same review labelled with that aspect (one text contained in the other,
       lower-cased, whitespace collapsed); micro-averaged over evidence sentences, with top-1 precision and the
       questions left without evidence. Systems: Answerer.answer end to end (a question it classifies as
       knowledge or resolves to another aspect keeps whatever evidence that answer has, often none), and
       udfs.qa.open_answer called directly (type open, the aspect as asked: retrieval alone). Baselines on the
       same products: BM25 alone (udfs.qa.rank_sentences with open_answer's query terms, no vector, no
       must_mention; distinct sentences) and the base rate (share of all the product's usable sentences that
       would count: the precision of random picks). Also the questions left without evidence and those with at
       least one right sentence in their top 3. Per domain, and the aspects with the lowest precision.
   (ii) "is the <aspect> good?": leaning against the gold leaning of that product and aspect: its segments
       labelled with the aspect that have a polarity label, "+" more often than "-" -> yes, "-" more -> no,
       equal (> 0) -> mixed; aspects with only "0" segments are skipped (counted). Gold comes from the <= 5
       polarity-labelled reviews of a product, the answer from all its 10. Systems: Answerer.answer end to end,
       udfs.qa.yes_no_answer directly (the aspect as asked) with the rating tone where known (as the lake blends
       it) and text only (no tone anywhere), and the majority gold class; accuracy over all pairs ("not
       discussed" is wrong) and over the answered ones.
 - Answer latency (Answerer.answer, product in memory), and ten example questions (Answerer.answer) with their
   answer and top evidence sentence, drawn with random.Random(--seed).
Part B takes about 2-3 minutes on 2 cores (about 1 minute of it trains the aspect models).
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import os
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from reviewlake.base_sentiment import real_data_dir

QUESTIONS = Path(__file__).parent / "data" / "qa_questions.tsv"
PHRASINGS = ("is the {a} good?", "how about the {a}, is it any good?", "are reviewers happy with the {a}?")
CHOICE = "is the {x} or the {y} better?"
OPEN = "what do reviewers say about the {a}?"
YES_NO = "is the {a} good?"
CONFIDENCE_BINS = (0.5, 0.7, 0.9)
TRUTH_VALUES = ("yes", "no", "mixed", "not discussed")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
MIN_SEGMENTS = 2


def percentile_ms(seconds: list[float], q: float) -> str:
    return f"{np.percentile(np.asarray(seconds) * 1000, q):.1f}" if seconds else "-"


def share(values: list[bool]) -> str:
    return f"{np.mean(values):.3f}" if len(values) else "-"


def cell(text: object, limit: int = 140) -> str:
    """A markdown table cell: one line, pipes escaped, cut to `limit` characters."""
    value = " ".join(str(text).split()).replace("|", "\\|")
    return value if len(value) <= limit else value[:limit - 1] + "…"


# ------------------------------------------------------------------------------------------------ question types

def print_question_types(classifier) -> None:
    from udfs.qa import TEMPLATES, normalise, question_options

    with open(QUESTIONS, encoding="utf-8", newline="") as handle:
        labelled = pd.DataFrame(list(csv.DictReader(handle, delimiter="\t"))).fillna("")
    with open(TEMPLATES, encoding="utf-8", newline="") as handle:
        templates = {r["question"].strip().lower() for r in csv.DictReader(handle, delimiter="\t")}
    vectors = classifier.embed(labelled["question"].tolist())
    predicted = [classifier.classify(q, v) for q, v in zip(labelled["question"], normalise(vectors), strict=True)]
    labelled["predicted_type"] = [t for t, _ in predicted]
    labelled["predicted_intent"] = [i or "" for _, i in predicted]
    right_type = labelled["predicted_type"] == labelled["type"]
    knowledge = labelled["type"] == "knowledge"
    right_intent = right_type & (labelled["predicted_intent"] == labelled["intent"])
    choice = labelled[labelled["type"] == "choice"]
    found = [[o.lower() for o in question_options(q)] for q in choice["question"]]
    wanted = [[o.lower() for o in options.split("|")] for options in choice["options"]]
    options_right = [f == w for f, w in zip(found, wanted, strict=True)]
    # Lenient: as many options, each sharing a word with the labelled one in its place ("use pods" ~ "pods").
    options_close = [len(f) == len(w) and all(set(a.split()) & set(b.split()) for a, b in zip(f, w, strict=True))
                     for f, w in zip(found, wanted, strict=True)]
    overlap = int(labelled["question"].str.strip().str.lower().isin(templates).sum())
    print(f"### Question types: {QUESTIONS.relative_to(Path(__file__).parents[1])} ({len(labelled)} labelled "
          f"questions; {overlap} of them verbatim among the {len(templates)} classifier templates)")
    print()
    print("| measure | n | accuracy |")
    print("|---|---|---|")
    print(f"| question type | {len(labelled)} | {right_type.mean():.3f} |")
    print(f"| knowledge intent (type and intent right) | {int(knowledge.sum())} | "
          f"{right_intent[knowledge].mean():.3f} |")
    print(f"| choice options: question_options equal to the labelled options | {len(choice)} | "
          f"{share(options_right)} |")
    print(f"| choice options, lenient: as many, each sharing a word with the labelled one | {len(choice)} | "
          f"{share(options_close)} |")
    print()
    types = ["yes_no", "choice", "open", "knowledge"]
    confusion = pd.crosstab(labelled["type"], labelled["predicted_type"]).reindex(index=types, fill_value=0)
    columns = [t for t in types if t in confusion.columns] + [c for c in confusion.columns if c not in types]
    print("| labelled \\ predicted | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for kind, row in confusion.iterrows():
        print(f"| {kind} | " + " | ".join(str(int(row.get(c, 0))) for c in columns) + " |")
    print()
    wrong = labelled[~right_type | (knowledge & ~right_intent)]
    if len(wrong):
        print("| misclassified question | labelled | predicted |")
        print("|---|---|---|")
        for r in wrong.itertuples():
            said = f"{r.type} {r.intent}".strip()
            got = f"{r.predicted_type} {r.predicted_intent}".strip()
            print(f"| {cell(r.question)} | {said} | {got} |")
        print()


# ------------------------------------------------------------------------------------------ part A: synthetic lake

def print_faq(faq: pd.DataFrame, truth: dict[str, dict[str, str]]) -> None:
    planted = pd.DataFrame([{"product_id": p, "aspect": a, "truth": t}
                            for p, answers in truth.items() for a, t in answers.items()])
    judged = faq.merge(planted, on=["product_id", "aspect"])
    right = judged["answer"] == judged["truth"]
    print(f"### A1. gold.product_faq against the truth ({len(faq):,} rows of {faq['product_id'].nunique():,} "
          f"products; {len(judged):,} (product, aspect) rows with a truth)")
    print()
    print(f"accuracy (answer = truth): **{right.mean():.3f}** (n = {len(judged):,})")
    print()
    answers = list(TRUTH_VALUES) + sorted(set(judged["answer"]) - set(TRUTH_VALUES))
    print("| truth \\ answer | " + " | ".join(answers) + " | n | accuracy |")
    print("|---" * (len(answers) + 3) + "|")
    for value in TRUTH_VALUES:
        rows = judged[judged["truth"] == value]
        counts = rows["answer"].value_counts()
        accuracy = f"{(rows['answer'] == value).mean():.3f}" if len(rows) else "-"
        print(f"| {value} | " + " | ".join(str(int(counts.get(a, 0))) for a in answers) +
              f" | {len(rows):,} | {accuracy} |")
    print()
    bins = np.digitize(judged["confidence"].to_numpy(dtype=float), CONFIDENCE_BINS)
    edges = (0.0, *CONFIDENCE_BINS, 1.0)
    print("| confidence | n | mean confidence | accuracy | of them \"not discussed\" |")
    print("|---|---|---|---|---|")
    for b in range(len(edges) - 1):
        chosen = bins == b
        label = f"[{edges[b]}, {edges[b + 1]}{']' if b == len(edges) - 2 else ')'}"
        if chosen.any():
            print(f"| {label} | {int(chosen.sum()):,} | {judged['confidence'][chosen].mean():.3f} | "
                  f"{right[chosen].mean():.3f} | {int((judged['answer'][chosen] == 'not discussed').sum()):,} |")
        else:
            print(f"| {label} | 0 | - | - | - |")
    print()


def mentions_aspect(sentence: str, aspect: str) -> bool:
    """The independent evidence check: the aspect or its last word as a plain lower-cased substring."""
    lowered, aspect = sentence.lower(), aspect.lower()
    return aspect in lowered or aspect.split()[-1] in lowered


def ask_lake(answerer, truth: dict[str, dict[str, str]], n_products: int, seed: int
             ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, list[float]]]:
    """(yes/no answers, choice answers, latencies) of A2."""
    rng = random.Random(seed)
    eligible = sorted(p for p in truth if answerer.review_counts.get(p, 0) >= 5)
    products = sorted(rng.sample(eligible, min(n_products, len(eligible))))
    yes_no, choices, latency = [], [], {"load": [], "warm": []}

    def timed(product_id: str, question: str, first: bool) -> dict:
        started = time.perf_counter()
        answer = answerer.ask(product_id, question, k=3)
        latency["load" if first else "warm"].append(time.perf_counter() - started)
        return answer

    for product_id in products:
        first = True
        for aspect, said in truth[product_id].items():
            for phrasing in PHRASINGS:
                answer = timed(product_id, phrasing.format(a=aspect), first)
                first = False
                yes_no.append({"product_id": product_id, "aspect": aspect, "truth": said, "phrasing": phrasing,
                               "question_type": answer["question_type"], "resolved": answer.get("aspect"),
                               "answer": answer["answer"], "confidence": answer["confidence"],
                               "evidence": [e["sentence"] for e in answer["evidence"]]})
        good = sorted(a for a, t in truth[product_id].items() if t == "yes")
        bad = sorted(a for a, t in truth[product_id].items() if t == "no")
        if good and bad:
            x, y = rng.choice(good), rng.choice(bad)
            if rng.random() < 0.5:
                x, y = y, x
            answer = timed(product_id, CHOICE.format(x=x, y=y), first)
            choices.append({"product_id": product_id, "yes": x if x in good else y, "no": y if x in good else x,
                            "question_type": answer["question_type"], "answer": answer["answer"],
                            "options": answer.get("options") or []})
    return pd.DataFrame(yes_no), pd.DataFrame(choices), latency


def print_lake_questions(yes_no: pd.DataFrame, choices: pd.DataFrame, latency: dict[str, list[float]]) -> None:
    n_products = yes_no["product_id"].nunique() if len(yes_no) else 0
    print(f"### A2. `reviewlake ask` (queries.ask.LakeAnswerer) on {n_products} sampled products with >= 5 reviews")
    print()
    if yes_no.empty:
        print("no product to ask about")
        print()
        return
    print("| question | n | accuracy vs truth | answered as yes/no about the asked aspect | not discussed | "
          "answer types |")
    print("|---|---|---|---|---|---|")
    for phrasing in [*PHRASINGS, None]:
        rows = yes_no if phrasing is None else yes_no[yes_no["phrasing"] == phrasing]
        as_asked = (rows["question_type"] == "yes_no") & (rows["resolved"] == rows["aspect"])
        label = "all three phrasings" if phrasing is None else f'"{phrasing.format(a="<aspect>")}"'
        print(f"| {label} | {len(rows):,} | {(rows['answer'] == rows['truth']).mean():.3f} | "
              f"{as_asked.mean():.3f} | {(rows['answer'] == 'not discussed').mean():.3f} | "
              f"{', '.join(f'{n} {t}' for t, n in rows['question_type'].value_counts().items())} |")
    print()
    print("| truth \\ answer (all phrasings) | " + " | ".join(TRUTH_VALUES) + " | other | n |")
    print("|---" * (len(TRUTH_VALUES) + 3) + "|")
    for value in TRUTH_VALUES:
        rows = yes_no[yes_no["truth"] == value]
        counts = rows["answer"].value_counts()
        other = len(rows) - sum(int(counts.get(a, 0)) for a in TRUTH_VALUES)
        print(f"| {value} | " + " | ".join(str(int(counts.get(a, 0))) for a in TRUTH_VALUES) +
              f" | {other} | {len(rows):,} |")
    print()
    discussed = yes_no[(yes_no["truth"] != "not discussed") & (yes_no["question_type"] == "yes_no")]
    hits = [mentions_aspect(s, a) for a, evidence in zip(discussed["aspect"], discussed["evidence"], strict=True)
            for s in evidence[:3]]
    if len(choices):
        said = choices["answer"].astype(str).str.strip().str.lower()
        exact = said == choices["yes"].str.lower()
        # question_options may keep a neighbouring word ("is the price", "battery life better"): the lenient
        # reading accepts an option that contains the "yes" aspect and not the "no" one.
        lenient = [y.lower() in a and n.lower() not in a for a, y, n in zip(said, choices["yes"], choices["no"],
                                                                            strict=True)]
        parsed = [sorted(o.lower() for o in options) == sorted([y.lower(), n.lower()])
                  for options, y, n in zip(choices["options"], choices["yes"], choices["no"], strict=True)]
        choice_line = (f"{exact.mean():.3f} exact, {np.mean(lenient):.3f} lenient (n = {len(choices)}; answered as "
                       f"a choice: {(choices['question_type'] == 'choice').mean():.3f}; options parsed as the two "
                       f"aspects: {np.mean(parsed):.3f}; tie or not discussed: "
                       f"{choices['answer'].isin(['tie', 'not discussed']).mean():.3f})")
    else:
        choice_line = "- (no product with a yes and a no aspect)"
    print("| measure | value |")
    print("|---|---|")
    print(f'| choice "{CHOICE.format(x="<x>", y="<y>")}": the "yes" aspect chosen | {choice_line} |')
    print(f"| evidence precision@3 (aspect or its last word in the sentence; yes/no answers, discussed aspects) | "
          f"{np.mean(hits) if hits else float('nan'):.3f} ({len(hits):,} sentences of {len(discussed):,} answers) |")
    print(f"| latency, warm (a product's later questions): p50 / p95 ms | {percentile_ms(latency['warm'], 50)} / "
          f"{percentile_ms(latency['warm'], 95)} (n = {len(latency['warm']):,}) |")
    print(f"| latency, a product's first question (loads its sentences): p50 / p95 ms | "
          f"{percentile_ms(latency['load'], 50)} / {percentile_ms(latency['load'], 95)} "
          f"(n = {len(latency['load']):,}) |")
    print()


def print_qa_stage(lake: Path) -> None:
    from queries.sql import open_table
    from reviewlake.errors import UserError

    try:
        runs = open_table(lake, "ops.pipeline_runs").to_pandas()
    except UserError as error:
        print(f"qa stage time: {error}")
        print()
        return
    runs = runs[(runs["job"] == "qa") & (runs["status"] == "succeeded")].sort_values("started_at")
    if runs.empty:
        print("qa stage time: no succeeded qa run in ops.pipeline_runs")
        print()
        return
    last = runs.iloc[-1]
    print(f"qa stage (latest of {len(runs)} succeeded runs in ops.pipeline_runs, started {last['started_at']}): "
          f"**{last['duration_s']:.1f} s**; rows_in {last['rows_in']}, rows_out {last['rows_out']}; "
          f"{last['message']} (every succeeded run, oldest first: "
          f"{', '.join(f'{d:.1f}' for d in runs['duration_s'])} s)")
    print()


def part_a(args: argparse.Namespace):
    """Runs A1 and A2; returns the LakeAnswerer's question classifier (for the question-type table)."""
    from queries.ask import LakeAnswerer
    from queries.sql import open_table

    truth = json.loads(Path(args.truth).read_text())["aspect_answers"]
    print(f"## Part A: synthetic lake {args.lake} against {args.truth}")
    print()
    print_faq(open_table(args.lake, "gold.product_faq").to_pandas(), truth)
    started = time.perf_counter()
    answerer = LakeAnswerer(args.lake, device=args.device)
    opened = time.perf_counter() - started
    yes_no, choices, latency = ask_lake(answerer, truth, args.products, args.seed)
    print_lake_questions(yes_no, choices, latency)
    print(f"LakeAnswerer opened in {opened:.1f} s (encoder {answerer.encoder.backend}); "
          f"{len(yes_no) + len(choices):,} questions asked in {sum(map(sum, latency.values())):.1f} s")
    print()
    print_qa_stage(Path(args.lake))
    return answerer.answerer.classifier


# ------------------------------------------------------------------------------------------------- part B: OPOSUM

def segment_key(text: str) -> str:
    """Join key of a segment across the two OPOSUM files (the polarity file is tokenised: "it 's", "&#34;")."""
    return re.sub(r"[^a-z0-9]", "", html.unescape(text).lower())


def collapsed(text: str) -> str:
    return " ".join(html.unescape(text).lower().split())


def oposum_segments(data: Path) -> tuple[pd.DataFrame, dict[str, float], dict]:
    """(segments: review_id, product_id, domain, aspect_names, position, text, aspects, polarity (None where the
    review is not polarity-labelled or the segment did not join); each review's stars where known; join counts)."""
    reviews = json.loads((data / "oposum" / "aspect_segments.json").read_text())
    labelled = {r["review_id"]: r for r in json.loads((data / "oposum" / "segment_polarity_discrete.json").read_text())}
    rows, stars, n_labelled, n_joined = [], {}, 0, 0
    for review in reviews:
        polarity_of: dict[int, str] = {}
        if review["review_id"] in labelled:
            other = labelled[review["review_id"]]
            stars[review["review_id"]] = float(other["review_rating_field"]) + 1
            free: dict[str, list[int]] = {}
            for i, segment in enumerate(review["segments"]):
                free.setdefault(segment_key(segment["text"]), []).append(i)
            for segment in other["segments"]:
                n_labelled += 1
                slots = free.get(segment_key(segment["text"]))
                if slots:
                    polarity_of[slots.pop(0)] = segment["polarity"]
                    n_joined += 1
        for i, segment in enumerate(review["segments"]):
            rows.append({"review_id": review["review_id"], "product_id": review["review_id"].rsplit("-", 1)[0],
                         "domain": review["domain"], "aspect_names": review["aspect_names"], "position": i,
                         "text": segment["text"].strip(), "aspects": [a for a in segment["aspects"] if a != "None"],
                         "polarity": polarity_of.get(i)})
    joins = {"labelled reviews": len(labelled), "joined reviews": len(stars), "labelled segments": n_labelled,
             "joined segments": n_joined}
    return pd.DataFrame(rows), stars, joins


def aspect_name(label: str) -> str:
    return label.lower().replace("_", " ")


def oposum_sentences(segments: pd.DataFrame, stars: dict[str, float]) -> pd.DataFrame:
    """silver.review_sentences-like rows: each review's segments joined with spaces, split after . ! or ?."""
    rows = []
    for review_id, frame in segments.groupby("review_id", sort=True):
        text = " ".join(t for t in frame.sort_values("position")["text"] if t)
        stars_here = stars.get(review_id)
        tone = (stars_here - 3) / 2 if stars_here is not None else np.nan
        for i, sentence in enumerate(s.strip() for s in SENTENCE_END.split(text) if s.strip()):
            rows.append({"review_id": review_id, "product_id": frame["product_id"].iloc[0], "sentence_idx": i,
                         "sentence": sentence, "lexicon_polarity": None, "tone": tone, "review_date": None})
    return pd.DataFrame(rows)


def gold_segments(segments: pd.DataFrame) -> dict[tuple[str, str], dict[str, list[str]]]:
    """(product, aspect) -> review id -> collapsed texts of that review's segments labelled with the aspect."""
    out: dict[tuple[str, str], dict[str, list[str]]] = {}
    for r in segments.itertuples():
        for label in r.aspects:
            out.setdefault((r.product_id, aspect_name(label)), {}).setdefault(r.review_id, []).append(
                collapsed(r.text))
    return out


def on_aspect(sentence: str, review_id: str, gold: dict[str, list[str]]) -> bool:
    """The overlap rule: a labelled segment of the same review inside the sentence, or the sentence inside it."""
    text = collapsed(sentence)
    return any(g and (g in text or text in g) for g in gold.get(review_id, []))


def gold_leaning(segments: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(product, aspect) -> yes / no / mixed from its polarity-labelled segments ("+" vs "-"; only "0": absent)."""
    votes: dict[tuple[str, str], Counter] = {}
    for r in segments[segments["polarity"].notna()].itertuples():
        for label in r.aspects:
            votes.setdefault((r.product_id, aspect_name(label)), Counter())[r.polarity] += 1
    return {key: "yes" if v["+"] > v["-"] else "no" if v["-"] > v["+"] else "mixed"
            for key, v in votes.items() if v["+"] + v["-"] > 0}


def build_products(segments: pd.DataFrame, sentences: pd.DataFrame, with_tone: bool) -> dict[str, object]:
    from udfs.keyphrases import product_nouns
    from udfs.qa import ProductReviews

    products = {}
    for product_id, frame in sentences.groupby("product_id", sort=True):
        frame = frame.reset_index(drop=True)
        if not with_tone:
            frame = frame.assign(tone=np.nan, polarity=frame["lexical_polarity"])
        mine = segments[segments["product_id"] == product_id]
        domain = mine["domain"].iloc[0].replace("_", " ")
        aspects = [aspect_name(a) for a in mine["aspect_names"].iloc[0] if a != "None"]
        products[product_id] = ProductReviews(
            product_id=product_id, title=None, category=domain, sentences=frame, aspects=aspects,
            n_reviews=int(mine["review_id"].nunique()), product_words=product_nouns(None, domain))
    return products


def bm25_evidence(product, aspect: str, focus: list[str], k: int) -> list[tuple[str, str]]:
    """(review id, sentence) of the top k distinct sentences of BM25 alone, on the answer's own query terms."""
    from udfs.qa import _terms, rank_sentences

    ranked = rank_sentences(product, _terms(" ".join([aspect, *focus])), None)
    seen, out = set(), []
    for row in ranked:
        sentence = product.sentences["sentence"].iloc[row]
        if sentence.strip().lower() in seen:
            continue
        seen.add(sentence.strip().lower())
        out.append((product.sentences["review_id"].iloc[row], sentence))
        if len(out) == k:
            break
    return out


def part_b(args: argparse.Namespace):
    """Runs part B; returns its question classifier (for the question-type table)."""
    from udfs.aspect_sentiment import AspectModels, train_default_models
    from udfs.encoder import SentenceEncoder
    from udfs.qa import Answerer, QuestionClassifier, analyse, normalise, open_answer, yes_no_answer
    from udfs.sentences import usable_sentences

    segments, stars, joins = oposum_segments(args.data)
    sentences = oposum_sentences(segments, stars)
    usable = usable_sentences(sentences).reset_index(drop=True)
    clock = time.perf_counter()
    if args.aspect_models:
        models, how = AspectModels.load(args.aspect_models), f"loaded from {args.aspect_models}"
    else:
        models, how = train_default_models(), "trained on the shipped SemEval train splits"
    model_seconds = time.perf_counter() - clock
    clock = time.perf_counter()
    terms, term_polarity = models.analyse(usable["sentence"].tolist())
    tag_seconds = time.perf_counter() - clock
    clock = time.perf_counter()
    encoder = SentenceEncoder(device="cpu")
    vectors = encoder.encode(usable["sentence"].tolist())
    encode_seconds = time.perf_counter() - clock
    usable = usable.assign(aspect_terms=terms, aspect_polarity=term_polarity, vector=list(vectors))
    products = build_products(segments, usable, with_tone=True)
    text_only = build_products(segments, usable, with_tone=False)
    answerer = Answerer(QuestionClassifier.load(encoder.encode), encoder.encode)

    gold = gold_segments(segments)
    leaning_gold = gold_leaning(segments)
    counts = Counter((r.product_id, aspect_name(a)) for r in segments.itertuples() for a in set(r.aspects))
    asked = sorted(key for key, n in counts.items() if n >= MIN_SEGMENTS)
    print(f"## Part B: OPOSUM ({args.data / 'oposum'})")
    print()
    print(f"data: {segments['review_id'].nunique()} reviews of {segments['product_id'].nunique()} products, "
          f"{len(segments):,} segments ({int((segments['aspects'].str.len() > 0).sum()):,} with an aspect other than "
          f"None) -> {len(sentences):,} regex sentences, {len(usable):,} usable (4-40 words), "
          f"{usable['aspect_terms'].str.len().gt(0).mean():.0%} with an extracted aspect term; "
          f"{len(usable) / len(products):.0f} usable sentences per product")
    print(f"polarity join: {joins['joined reviews']} of {joins['labelled reviews']} labelled reviews found; "
          f"{joins['joined segments']:,} of {joins['labelled segments']:,} labelled segments joined by text "
          f"(**{joins['joined segments'] / max(joins['labelled segments'], 1):.1%}**)")
    print(f"aspect models {how} in {model_seconds:.0f} s, {len(usable):,} sentences tagged in {tag_seconds:.0f} s; "
          f"MiniLM ({encoder.backend}) embedded them in {encode_seconds:.0f} s")
    print(f"questions: {len(asked)} (product, aspect) pairs with >= {MIN_SEGMENTS} labelled segments, over "
          f"{len({p for p, _ in asked})} products")
    print()

    open_rows, yes_no_rows, examples, latency = [], [], [], []
    for product_id, aspect in asked:
        product, labelled = products[product_id], gold[(product_id, aspect)]
        question = OPEN.format(a=aspect)
        clock = time.perf_counter()
        answer = answerer.answer(product, question, k=3)
        latency.append(time.perf_counter() - clock)
        examples.append((product_id, question, answer))
        analysed = analyse(question, "open", None, product.product_words)
        direct = open_answer(product, analysed, normalise(encoder.encode([question]))[0], aspect, 3)
        base = [on_aspect(s, r, labelled) for s, r in zip(product.sentences["sentence"],
                                                         product.sentences["review_id"], strict=True)]
        open_rows.append({
            "product_id": product_id, "domain": product.category, "aspect": aspect,
            "question_type": answer.question_type, "resolved": answer.aspect,
            "answerer": [on_aspect(e["sentence"], e["review_id"], labelled) for e in answer.evidence[:3]],
            "open_answer": [on_aspect(e["sentence"], e["review_id"], labelled) for e in direct.evidence[:3]],
            "bm25": [on_aspect(s, r, labelled) for r, s in bm25_evidence(product, aspect, analysed.focus, 3)],
            "base_rate": float(np.mean(base)) if base else np.nan})
        question = YES_NO.format(a=aspect)
        clock = time.perf_counter()
        answer = answerer.answer(product, question, k=3)
        latency.append(time.perf_counter() - clock)
        examples.append((product_id, question, answer))
        wanted = leaning_gold.get((product_id, aspect))
        if wanted is not None:
            analysed = analyse(question, "yes_no", None, product.product_words)
            yes_no_rows.append({
                "product_id": product_id, "aspect": aspect, "gold": wanted, "answerer": answer.answer,
                "yes_no_answer": yes_no_answer(product, analysed, None, aspect, 3).answer,
                "text_only": yes_no_answer(text_only[product_id], analysed, None, aspect, 3).answer})
    print_open(pd.DataFrame(open_rows))
    labelled_products = {r.rsplit("-", 1)[0] for r in stars}
    print_leaning(pd.DataFrame(yes_no_rows),
                  sum(1 for key in asked if key not in leaning_gold and key[0] in labelled_products))
    print(f"answer latency (Answerer.answer, product in memory): p50 {percentile_ms(latency, 50)} ms, "
          f"p95 {percentile_ms(latency, 95)} ms (n = {len(latency)})")
    print()
    print_examples(examples, args.seed)
    return answerer.classifier


def print_open(rows: pd.DataFrame) -> None:
    print(f'### B(i). "{OPEN.format(a="<aspect>")}": evidence precision@3 (target 0.7)')
    print()
    as_asked = (rows["question_type"] == "open") & (rows["resolved"] == rows["aspect"])
    print(f"Answerer.answer took {as_asked.mean():.3f} of them for an open question about the asked aspect "
          f"(question types: {', '.join(f'{n} {t}' for t, n in rows['question_type'].value_counts().items())}); "
          "open_answer skips that step: type open, the aspect as asked.")
    print()
    systems = {"answerer": "udfs.qa.Answerer.answer (end to end: classify, resolve, answer)",
               "open_answer": "udfs.qa.open_answer (BM25 + MiniLM, aspect mentions first; aspect as asked)",
               "bm25": "baseline: BM25 alone (rank_sentences, no vector, no must_mention)"}
    print("| system | questions | evidence sentences | precision@3 | top-1 precision | questions without evidence | "
          "questions with an on-aspect sentence in the top 3 |")
    print("|---|---|---|---|---|---|---|")
    for system, label in systems.items():
        flat = [hit for hits in rows[system] for hit in hits]
        top = [hits[0] for hits in rows[system] if hits]
        empty = int(sum(1 for hits in rows[system] if not hits))
        found = share([any(hits) for hits in rows[system]])
        print(f"| {label} | {len(rows)} | {len(flat):,} | **{share(flat)}** | {share(top)} | {empty} | {found} |")
    print(f"| baseline: random sentences of the product (base rate) | {len(rows)} | - | "
          f"{rows['base_rate'].mean():.3f} | {rows['base_rate'].mean():.3f} | 0 | - |")
    print()
    print("| domain | questions | Answerer.answer P@3 | open_answer P@3 | BM25 P@3 | base rate |")
    print("|---|---|---|---|---|---|")
    for domain, group in rows.groupby("domain", sort=True):
        cells = [share([h for hits in group[s] for h in hits]) for s in systems]
        print(f"| {domain} | {len(group)} | " + " | ".join(cells) + f" | {group['base_rate'].mean():.3f} |")
    print()
    by_aspect = rows.assign(precision=[np.mean(h) if h else np.nan for h in rows["open_answer"]]) \
        .groupby("aspect")["precision"].agg(["mean", "size"]).sort_values("mean")
    print("aspects with the lowest mean open_answer precision@3 (questions): " +
          ", ".join(f"{a} {r['mean']:.2f} ({int(r['size'])})" for a, r in by_aspect.head(6).iterrows()))
    print()


def print_leaning(rows: pd.DataFrame, skipped: int) -> None:
    print(f'### B(ii). "{YES_NO.format(a="<aspect>")}": leaning against the polarity-labelled segments')
    print()
    if rows.empty:
        print("no (product, aspect) pair with a polarity label")
        print()
        return
    majority = rows["gold"].value_counts().idxmax()
    gold_mix = ", ".join(f"{n} {g}" for g, n in rows["gold"].value_counts().items())
    print(f"gold leanings: {gold_mix} (n = {len(rows)}; {skipped} asked pairs of polarity-labelled products "
          "skipped: only neutral segments or none labelled)")
    print()
    print("| system | n | accuracy | answered (not \"not discussed\") | accuracy where answered | answer mix |")
    print("|---|---|---|---|---|---|")
    for column, label in (("answerer", "udfs.qa.Answerer.answer (end to end), rating tone where known"),
                          ("yes_no_answer", "udfs.qa.yes_no_answer (aspect as asked), rating tone where known "
                                            "(as the lake blends it)"),
                          ("text_only", "udfs.qa.yes_no_answer (aspect as asked), text only (no review tone)")):
        answered = rows[column].isin(["yes", "no", "mixed"])
        right = rows[column] == rows["gold"]
        mix = ", ".join(f"{n} {a}" for a, n in rows[column].value_counts().items())
        print(f"| {label} | {len(rows)} | **{right.mean():.3f}** | {int(answered.sum())} | "
              f"{share(list(right[answered]))} | {mix} |")
    print(f"| baseline: majority gold class ({majority}) | {len(rows)} | {(rows['gold'] == majority).mean():.3f} | "
          f"{len(rows)} | {(rows['gold'] == majority).mean():.3f} | {len(rows)} {majority} |")
    print()
    answered = rows["yes_no_answer"].isin(["yes", "no", "mixed"])
    print(f"on the {int(answered.sum())} pairs yes_no_answer answers, the majority class ({majority}) scores "
          f"{share(list(rows['gold'][answered] == majority))}; it answers \"not discussed\" when fewer than "
          "udfs.qa.MIN_SUPPORT reviews name the aspect (udfs.keyphrases.mention_mask: the aspect's words, last one "
          "singular or plural)")
    print()
    print("| gold \\ yes_no_answer (rating tone) | " + " | ".join(TRUTH_VALUES) + " | n |")
    print("|---" * (len(TRUTH_VALUES) + 2) + "|")
    for value in ("yes", "no", "mixed"):
        chosen = rows[rows["gold"] == value]
        counts = chosen["yes_no_answer"].value_counts()
        print(f"| {value} | " + " | ".join(str(int(counts.get(a, 0))) for a in TRUTH_VALUES) + f" | {len(chosen)} |")
    print()


def print_examples(examples: list[tuple[str, str, object]], seed: int) -> None:
    print("### B. Ten example questions (drawn with random.Random(seed))")
    print()
    print("| product | question | answer (confidence) | top evidence sentence |")
    print("|---|---|---|---|")
    for product_id, question, answer in random.Random(seed).sample(examples, min(10, len(examples))):
        top = answer.evidence[0]["sentence"] if answer.evidence else "-"
        print(f"| {product_id} | {cell(question)} | {cell(answer.answer, 100)} ({answer.confidence:.2f}) | "
              f"{cell(top, 160)} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", type=Path, help="part A: a lake built from synthetic data (with --truth)")
    parser.add_argument("--truth", type=Path, help="part A: that data's ground_truth.json")
    parser.add_argument("--products", type=int, default=200, help="part A: products asked through LakeAnswerer")
    parser.add_argument("--seed", type=int, default=0, help="product sample, choice questions, examples")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="part A: encoder device")
    parser.add_argument("--data", type=Path, default=real_data_dir(), help="part B: the real data directory")
    parser.add_argument("--aspect-models", type=Path, help="part B: a saved udfs.aspect_sentiment.AspectModels "
                        "directory (default: train them, about a minute)")
    parser.add_argument("--skip-oposum", action="store_true", help="skip part B")
    args = parser.parse_args()
    if (args.lake is None) != (args.truth is None):
        parser.error("part A needs both --lake and --truth")
    if not args.skip_oposum and (args.data is None or not (args.data / "oposum").is_dir()):
        parser.error("OPOSUM not found: pass --data (or set REVIEWLAKE_REAL_DATA), or --skip-oposum")
    if args.lake is None and args.skip_oposum:
        parser.error("nothing to do: give --lake and --truth, or drop --skip-oposum")

    started = time.perf_counter()
    print(f"machine: {os.cpu_count()} cores (os.cpu_count())")
    print(f"command: python bench/qa_eval.py {' '.join(sys.argv[1:])}".rstrip())
    print()
    classifier = part_a(args) if args.lake is not None else None
    if not args.skip_oposum:
        oposum_classifier = part_b(args)
        classifier = classifier or oposum_classifier
    print_question_types(classifier)
    print(f"<!-- total {time.perf_counter() - started:.0f}s -->")


if __name__ == "__main__":
    main()

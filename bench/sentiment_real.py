"""Cold-start sentiment on real reviews: the base model (reviewlake.base_sentiment) against the VADER lexicon it
replaces, and the majority class, on every real set that has sentiment labels.

    python bench/sentiment_real.py [--data ../shared/data/real]

1. Blitzer cross-domain (books, dvd, electronics, kitchen; 1,000 negative and 1,000 positive reviews each):
   the base model's recipe trained on three domains, tested on the fourth; binary macro-F1 (the set has no
   neutral reviews). Issue target: >= 0.85 for a fine-tuned teacher, >= 0.82 for the fast tier.
2. The base model trained on all of Blitzer (what `reviewlake base-model` builds), on sets it never saw:
   All_Beauty and Appliances (5-core Amazon reviews, duplicates by normalised text removed, stars -> 3
   classes), OPOSUM's polarity-labelled segments (+ / - / 0), VADER's rated Amazon snippets (sentence level:
   the sign of the raters' mean; 0 left out) and the 150 star-rated OPOSUM reviews the neutral band is chosen
   on (marked: not a held-out figure). 3-class macro-F1, binary macro-F1 (neutral rows left out, the larger of
   P(negative) and P(positive)), Cohen's kappa.
3. Throughput on one process: reviews per second on the All_Beauty texts, base model vs VADER.
4. With --finetune-rows N [N ...]: the transformer candidate as the sentiment stage trains it (MiniLM fine-tuned
   to convergence: early stopping on the macro-F1 of the newest 10 % of its rows, here a random 10 %: Blitzer
   has no usable dates), on N reviews drawn (seed 0) from the three training domains of each
   --finetune-domains test domain, next to the n-gram recipe trained on the same N reviews and on all 6,000:
   how many labelled reviews fine-tuning needs to beat n-grams. Minutes per run on CPU; stated per row. Each
   fine-tuned model is scored in fp32 and dynamically quantised to int8 (FineTunedModel.int8, what CPU scoring
   uses), with both throughputs on one process. Then distillation: the n-gram recipe trained on the int8
   teacher's labels of its training reviews plus half of the test domain's reviews (unrated: their stars are
   never read); every system here is tested on the other half (1,000 reviews).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from reviewlake import base_sentiment
from udfs import sentiment as core

SEGMENT_LABELS = {"-": core.NEGATIVE, "0": core.NEUTRAL, "+": core.POSITIVE}


def binary_macro_f1(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Negative vs positive by the larger of the two probabilities, neutral rows left out (the stage's own
    udfs.sentiment.classification_metrics)."""
    return core.classification_metrics(labels, probabilities)["binary_macro_f1"]


def held_out_sets(data: Path) -> dict[str, pd.DataFrame]:
    """name -> frame of text, label, on sets the base model never trains on."""
    import json

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.sentiment_quality_real import load

    sets = {f"{path.name.split('_5')[0]} (all reviews)": load(path)[["text", "label"]]
            for path in sorted(data.glob("*_5.json.gz"))}
    reviews = json.loads((data / base_sentiment.BAND_DATA).read_text())
    sets["OPOSUM segments"] = pd.DataFrame([{"text": s["text"], "label": SEGMENT_LABELS[s["polarity"]]}
                                            for r in reviews for s in r["segments"]])
    snippets = pd.read_csv(data / "sentiment" / "vader_amazon_review_snippets_groundtruth.tsv", sep="\t")
    snippets = snippets[snippets["mean_sentiment"] != 0]
    sets["VADER Amazon snippets (binary)"] = pd.DataFrame({
        "text": snippets["text"].astype(str),
        "label": np.where(snippets["mean_sentiment"] > 0, core.POSITIVE, core.NEGATIVE)})
    sets["OPOSUM 150 reviews (the neutral band is chosen here)"] = base_sentiment.read_band_reviews(data)
    return sets


def print_finetuning(corpus: pd.DataFrame, sizes: list[int], domains: list[str]) -> None:
    from udfs.encoder import choose_device
    from udfs.finetune import FineTunedModel

    print(f"\n| Blitzer test domain | training reviews | system | binary macro-F1 | epochs | stopped by | "
          f"train seconds ({choose_device('auto')}) |")
    print("|---|---|---|---|---|---|---|")
    for domain in domains:
        train, target = corpus[corpus["domain"] != domain], corpus[corpus["domain"] == domain]
        # Half of the test domain is an unrated pool the distilled student may read, the other half the test.
        pool = target.sample(frac=0.5, random_state=0)
        test = target.drop(pool.index)
        labels = test["label"].to_numpy()
        for size in sizes:
            rows = train.sample(min(size, len(train)), random_state=0)
            validation = rows.sample(frac=0.1, random_state=0)
            fit = rows.drop(validation.index)
            started = time.perf_counter()
            ngram = core.NgramModel.train(rows["text"].tolist(), rows["label"].to_numpy())
            print(f"| {domain} | {len(rows):,} | n-gram recipe | "
                  f"{binary_macro_f1(labels, ngram.predict_proba(test['text'].tolist())):.3f} | | | "
                  f"{time.perf_counter() - started:.0f} |", flush=True)
            started = time.perf_counter()
            model = FineTunedModel.train(fit["text"].tolist(), fit["label"].to_numpy(), epochs=4, patience=2,
                                         validation=(validation["text"].tolist(), validation["label"].to_numpy()))
            seconds = time.perf_counter() - started
            summary = model.training_summary
            rates = {}
            for precision, scorer in {"fp32": model, "int8": model.int8()}.items():
                started = time.perf_counter()
                probabilities = scorer.predict_proba(test["text"].tolist())
                rates[precision] = len(test) / (time.perf_counter() - started)
                print(f"| {domain} | {len(fit):,} + {len(validation):,} validation | MiniLM fine-tuned to "
                      f"convergence, {precision} | {binary_macro_f1(labels, probabilities):.3f} | "
                      f"{summary['epochs']} | {summary['stopped_by']} | {seconds:.0f} |", flush=True)
            print(f"<!-- scoring {len(test):,} reviews on CPU, one process: fp32 {rates['fp32']:.0f} reviews/s, "
                  f"int8 {rates['int8']:.0f} reviews/s ({rates['int8'] / rates['fp32']:.2f}x) -->", flush=True)
            started = time.perf_counter()
            student = core.DistilledModel.distil(model.int8(), [*rows["text"], *pool["text"]])
            print(f"| {domain} | {len(rows):,} rated + {len(pool):,} unrated of the test domain | n-gram recipe "
                  f"distilled from the int8 teacher | "
                  f"{binary_macro_f1(labels, student.predict_proba(test['text'].tolist())):.3f} | | | "
                  f"{time.perf_counter() - started:.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=base_sentiment.real_data_dir())
    parser.add_argument("--finetune-rows", type=int, nargs="*", default=[], help="training sizes to fine-tune on")
    parser.add_argument("--finetune-domains", nargs="*", default=["kitchen"], help="Blitzer test domains")
    parser.add_argument("--only-finetune", action="store_true", help="skip sections 1-3")
    args = parser.parse_args()
    # Kappa over three labels on the binary snippets: sklearn warns that no row is neutral; that is the point.
    warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
    if args.data is None or not (args.data / base_sentiment.CORPUS).is_file():
        parser.error("real data not found: pass --data or set REVIEWLAKE_REAL_DATA")
    print(f"machine: {os.cpu_count()} cores (os.cpu_count()); command: python bench/sentiment_real.py "
          f"{' '.join(sys.argv[1:])}".rstrip())
    corpus = base_sentiment.read_corpus(args.data)
    if args.finetune_rows:
        print_finetuning(corpus, args.finetune_rows, args.finetune_domains)
    if args.only_finetune:
        return
    band_reviews = base_sentiment.read_band_reviews(args.data)
    vader = core.LexiconModel()

    print("\n| Blitzer cross-domain: test domain | n | base model recipe, trained on the other 3 | VADER |")
    print("|---|---|---|---|")
    scores = []
    for domain in sorted(corpus["domain"].unique()):
        train, test = corpus[corpus["domain"] != domain], corpus[corpus["domain"] == domain]
        model = core.BaseModel.train(train["text"].tolist(), train["label"].to_numpy())
        model = model.with_band(base_sentiment.choose_band(model, band_reviews)[0])
        labels = test["label"].to_numpy()
        mine = binary_macro_f1(labels, model.predict_proba(test["text"].tolist()))
        lexicon = binary_macro_f1(labels, vader.predict_proba(test["text"].tolist()))
        scores.append((mine, lexicon))
        print(f"| {domain} | {len(test):,} | {mine:.3f} | {lexicon:.3f} |", flush=True)
    mean = np.mean(scores, axis=0)
    print(f"| mean | | **{mean[0]:.3f}** | {mean[1]:.3f} |")

    started = time.perf_counter()
    base = core.BaseModel.train(corpus["text"].tolist(), corpus["label"].to_numpy())
    band, band_f1 = base_sentiment.choose_band(base, band_reviews)
    base = base.with_band(band)
    print(f"\nbase model: trained on all {len(corpus):,} Blitzer reviews in {time.perf_counter() - started:.0f} s; "
          f"neutral band {band} (3-class macro-F1 {band_f1:.3f} on the 150 OPOSUM reviews)")
    print("\n| set | n (neg/neu/pos) | system | 3-class macro-F1 | binary macro-F1 | kappa |")
    print("|---|---|---|---|---|---|")
    sets = held_out_sets(args.data)
    for name, frame in sets.items():
        labels = frame["label"].to_numpy()
        mix = "/".join(str(int(c)) for c in np.bincount(labels, minlength=3))
        majority = int(np.bincount(labels, minlength=3).argmax())
        systems = {"base model": base.predict_proba(frame["text"].tolist()),
                   "VADER (the previous cold start)": vader.predict_proba(frame["text"].tolist()),
                   f"majority ({core.LABELS[majority]})": np.tile(np.eye(3)[majority], (len(frame), 1))}
        three_class = (labels == core.NEUTRAL).any()
        for system, probabilities in systems.items():
            metrics = core.classification_metrics(labels, probabilities)
            macro = f"{metrics['macro_f1']:.3f}" if three_class else "-"
            print(f"| {name} | {len(frame):,} ({mix}) | {system} | {macro} | "
                  f"{binary_macro_f1(labels, probabilities):.3f} | {metrics['cohen_kappa']:.3f} |", flush=True)

    texts = sets[next(iter(sets))]["text"].tolist()
    rates = {}
    for system, model in {"base model": base, "VADER": vader}.items():
        started = time.perf_counter()
        model.predict_proba(texts)
        rates[system] = len(texts) / (time.perf_counter() - started)
    print(f"\nthroughput, one process, {len(texts):,} All_Beauty reviews: base model {rates['base model']:,.0f} "
          f"reviews/s, VADER {rates['VADER']:,.0f} reviews/s (ratio {rates['base model'] / rates['VADER']:.2f})")


if __name__ == "__main__":
    main()

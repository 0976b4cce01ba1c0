"""Sentiment quality on the real Amazon sample: majority, VADER and every candidate, in- and cross-domain.

    python bench/sentiment_quality_real.py [--data ../shared/data/real] [--finetune-budget 180]

In-domain: each file split by time (newest 20 % held out). Cross-domain: train on one file, test on the
other. Reviews are deduplicated first by normalised text (these 5-core files repeat reviews verbatim across
product variants). Prints one Markdown table.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from udfs import sentiment as core
from udfs.text_normalization import clean_review_text, review_text_hash

METRICS = ("macro_f1", "balanced_accuracy", "cohen_kappa", "accuracy", "binary_macro_f1")


def load(path: Path) -> pd.DataFrame:
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            r = json.loads(line)
            text = clean_review_text(". ".join(x for x in (r.get("summary"), r.get("reviewText")) if x)) or ""
            rows.append({"user": r.get("reviewerID"), "product": r.get("asin"), "ts": r.get("unixReviewTime"),
                         "text": text, "label": core.rating_to_label(r.get("overall")),
                         "hash": review_text_hash(text)})
    frame = pd.DataFrame(rows).dropna(subset=["label"])
    # The 5-core files repeat one review under every variant of a product: keep one copy per text, so the
    # held-out set never contains a training text.
    frame = frame[frame["text"].str.len() > 0].drop_duplicates(["hash"])
    frame["label"] = frame["label"].astype(int)
    return frame.sort_values(["ts", "user"]).reset_index(drop=True)


def candidates(train: pd.DataFrame, finetune_budget: float):
    texts, labels = train["text"].tolist(), train["label"].to_numpy()
    majority = int(np.bincount(labels, minlength=3).argmax())
    yield "majority class", lambda t: np.tile(np.eye(3)[majority], (len(t), 1))
    vader = core.LexiconModel()
    yield "VADER lexicon", vader.predict_proba
    ngram = core.NgramModel.train(texts, labels)
    yield "TF-IDF word+char n-grams + LR (fast tier)", ngram.predict_proba
    encoder = core.EncoderHeadModel.train(texts, labels, device="auto")
    yield "frozen MiniLM + LR head", encoder.predict_proba
    from udfs.finetune import FineTunedModel

    finetuned = FineTunedModel.train(texts, labels, time_budget_s=finetune_budget, epochs=4)
    yield "MiniLM fine-tuned (transformer tier)", finetuned.predict_proba
    yield "ensemble: fine-tuned + n-grams (mean prob.)", lambda t: (finetuned.predict_proba(t)
                                                                    + ngram.predict_proba(t)) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "real"))
    parser.add_argument("--finetune-budget", type=float, default=180.0)
    args = parser.parse_args()
    files = {p.name.split("_5")[0]: load(p) for p in sorted(Path(args.data).glob("*.json.gz"))}
    settings = []
    for name, frame in files.items():
        cut = int(len(frame) * 0.8)
        settings.append((f"{name} (time split)", frame.iloc[:cut], frame.iloc[cut:]))
    names = list(files)
    for source, target in ((names[0], names[1]), (names[1], names[0])):
        settings.append((f"{source} -> {target}", files[source], files[target]))

    print("| setting | n test (neg/neu/pos) | model | " + " | ".join(METRICS) + " |")
    print("|---|---|---|" + "---|" * len(METRICS))
    for setting, train, test in settings:
        mix = "/".join(str(int(c)) for c in np.bincount(test["label"], minlength=3))
        started = time.perf_counter()
        for model_name, predict in candidates(train, args.finetune_budget):
            metrics = core.classification_metrics(test["label"].to_numpy(), predict(test["text"].tolist()))
            print(f"| {setting} | {len(test)} ({mix}) | {model_name} | "
                  + " | ".join(f"{metrics.get(m, float('nan')):.3f}" for m in METRICS) + " |", flush=True)
        print(f"<!-- {setting}: {time.perf_counter() - started:.0f}s -->", flush=True)


if __name__ == "__main__":
    main()

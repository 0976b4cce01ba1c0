"""The base sentiment model: trained once per machine on a general corpus of rated Amazon reviews and cached
next to the jars, then used by the sentiment stage on cold start (a lake with too few rated reviews of its
own) instead of the VADER lexicon.

The corpus is Blitzer, Dredze & Pereira's multi-domain sentiment set (ACL 2007: 8,000 reviews of books, DVDs,
electronics and kitchen goods, 1-2 or 4-5 stars) from the real-data directory (`../shared/data/real/`, or
$REVIEWLAKE_REAL_DATA). It states no licence (research use), so the project does not ship it or a model
derived from it: `reviewlake base-model` builds the model from the data where it is present (`./dev` does it at
set-up). The corpus has no 3-star reviews, so the model's neutral band (udfs.sentiment.BaseModel) is chosen on
other reviews that have them: the 150 OPOSUM reviews of segment_polarity_discrete.json, 30 per star rating
(their segments joined), by 3-class macro-F1.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from udfs import sentiment as core
from udfs.text_normalization import clean_review_text

CORPUS = Path("sentiment") / "blitzer_multidomain_sentiment.jsonl.gz"
BAND_DATA = Path("oposum") / "segment_polarity_discrete.json"
BANDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)
RECIPE = "base-ngram-3"   # bump when the training recipe changes: the cache key changes with it


def real_data_dir() -> Path | None:
    """$REVIEWLAKE_REAL_DATA, else shared/data/real in a directory above the project."""
    if os.environ.get("REVIEWLAKE_REAL_DATA"):
        return Path(os.environ["REVIEWLAKE_REAL_DATA"])
    return next((p / "shared" / "data" / "real" for p in Path(__file__).resolve().parents
                 if (p / "shared" / "data" / "real").is_dir()), None)


def read_corpus(data_dir: Path) -> pd.DataFrame:
    """domain, text (title. review, HTML entities decoded, cleaned as silver text is), label (0 or 2)."""
    rows = []
    with gzip.open(data_dir / CORPUS, "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            parts = (record.get("title"), html.unescape(record.get("review_text") or ""))
            rows.append({"domain": record["domain"],
                         "text": clean_review_text(". ".join(p for p in parts if p)) or "",
                         "label": core.rating_to_label(record["rating"])})
    return pd.DataFrame(rows)


def read_band_reviews(data_dir: Path) -> pd.DataFrame:
    """OPOSUM's 150 star-rated reviews of BAND_DATA: text (its segments joined), label (0 / 1 / 2). The rating
    field counts from 0 (one star) to 4 (five stars)."""
    reviews = json.loads((data_dir / BAND_DATA).read_text())
    return pd.DataFrame([{"text": " ".join(s["text"] for s in r["segments"]),
                          "label": core.rating_to_label(int(r["review_rating_field"]) + 1)} for r in reviews])


def choose_band(model: core.BaseModel, reviews: pd.DataFrame) -> tuple[float, float]:
    """The neutral band with the best 3-class macro-F1 on `reviews`, and that macro-F1."""
    from sklearn.metrics import f1_score

    polar_positive = model.polar_positive(reviews["text"].tolist())
    scored = {band: f1_score(reviews["label"], core.base_probabilities(polar_positive, band).argmax(axis=1),
                             labels=[0, 1, 2], average="macro") for band in BANDS}
    best = max(scored, key=lambda band: (scored[band], -band))
    return best, float(scored[best])


def cache_key(data_dir: Path) -> str:
    digest = hashlib.sha256(RECIPE.encode())
    for path in (CORPUS, BAND_DATA):
        digest.update((data_dir / path).read_bytes())
    return f"{RECIPE}-{digest.hexdigest()[:12]}"


def cached_model(cache_dir: Path) -> Path | None:
    """The newest base model built into the cache, if any."""
    built = sorted((cache_dir / "base-sentiment").glob(f"{RECIPE}-*/metadata.json"),
                   key=lambda p: p.stat().st_mtime)
    return built[-1].parent if built else None


def build(data_dir: Path, cache_dir: Path, say: Callable[[str], None] = print) -> Path:
    """Train the base model on the corpus in `data_dir` into the cache (once per corpus and recipe)."""
    missing = [str(data_dir / p) for p in (CORPUS, BAND_DATA) if not (data_dir / p).is_file()]
    if missing:
        raise FileNotFoundError(f"the base model's data is missing: {', '.join(missing)}")
    key = cache_key(data_dir)
    target = cache_dir / "base-sentiment" / key
    if (target / "metadata.json").is_file():
        return target
    corpus = read_corpus(data_dir)
    domains = ", ".join(sorted(corpus["domain"].unique()))
    say(f"training the base sentiment model on {len(corpus):,} rated reviews ({domains}), about a minute")
    model = core.BaseModel.train(corpus["text"].tolist(), corpus["label"].to_numpy())
    band, band_f1 = choose_band(model, read_band_reviews(data_dir))
    model = model.with_band(band)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        staging = Path(scratch) / key
        staging.mkdir()
        model.save(staging)
        counts = corpus["label"].value_counts()
        (staging / "metadata.json").write_text(json.dumps({
            "kind": core.BaseModel.kind, "tier": "base", "version": key,
            "corpus": "Blitzer multi-domain sentiment (books, dvd, electronics, kitchen)",
            "training_reviews": int(len(corpus)), "negative": int(counts.get(core.NEGATIVE, 0)),
            "positive": int(counts.get(core.POSITIVE, 0)), "neutral_band": band,
            "neutral_band_chosen_on": f"150 star-rated OPOSUM reviews, 3-class macro-F1 {band_f1:.3f}"}))
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)   # whole or not at all: a half-written model is never picked up
    say(f"base sentiment model {key}: neutral band {band} (macro-F1 {band_f1:.3f} on 150 OPOSUM reviews)")
    return target


"""Deterministic synthetic review generator: the embedded default data set (DESIGN.md).

Writes amazon2018-like JSONL(.gz) or CSV reviews, a product metadata file and `ground_truth.json`, which
records every planted anomaly and injected defect (with the outcome the clean stage must produce) plus the
aspects and latent taste structure of products and users.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from reviewlake import synthetic_vocab as vocab

START_DATE = datetime(2021, 1, 1, tzinfo=UTC)
N_DAYS = 3 * 365
LATENT_DIM = 6
MIXED_BELOW = 0.55   # aspects drawn weaker than this split reviewers (ground truth: mixed)
# Weekends carry more reviews: the weekly seasonality the anomaly detector must not flag.
WEEKDAY_WEIGHT = np.array([0.9, 0.85, 0.85, 0.9, 1.0, 1.3, 1.4])  # Monday .. Sunday

# Share of emitted lines that carry each defect, and the outcome clean must produce for them.
DEFECTS: dict[str, tuple[float, str]] = {
    "exact_duplicate": (0.010, "duplicate"),
    "near_duplicate": (0.005, "duplicate"),
    "malformed_json": (0.003, "malformed_record"),
    "missing_product_id": (0.002, "missing_product_id"),
    "missing_user_id": (0.002, "missing_user_id"),
    "out_of_range_rating": (0.003, "invalid_rating"),
    "bad_timestamp": (0.003, "invalid_timestamp"),
    "empty_review": (0.001, "empty_review"),
    "huge_text": (0.0005, "text_too_long"),
    "invalid_utf8": (0.002, "kept"),
    "html": (0.02, "kept"),
    "email": (0.01, "kept"),
    "phone": (0.01, "kept"),
    "mojibake": (0.002, "kept"),
    "rating_only": (0.01, "kept"),
    "missing_rating": (0.01, "kept"),
}
CSV_UNSUPPORTED_DEFECTS = {"malformed_json", "invalid_utf8"}


@dataclass
class Product:
    product_id: str
    title: str
    category: str
    noun: str
    aspects: list[str]
    aspect_quality: dict[str, float]   # > 0 praised, < 0 criticised
    latent: np.ndarray
    popularity: float


@dataclass
class Review:
    user_id: str
    reviewer_name: str
    product: Product
    ts: datetime
    rating: float | None
    title: str
    text: str
    verified: bool
    votes: int
    defect: str | None = None
    extra: dict = field(default_factory=dict)


def _products(rng: random.Random, nprng: np.random.Generator, n_products: int) -> list[Product]:
    categories = list(vocab.CATEGORIES)
    products = []
    for i in range(n_products):
        category = categories[i % len(categories)]
        nouns, aspects = vocab.CATEGORIES[category]
        noun = rng.choice(nouns)
        chosen = rng.sample(aspects, k=rng.randint(3, 4))
        quality = {a: rng.choice((-1.0, 1.0)) * rng.uniform(0.4, 1.0) for a in chosen}
        # Most products are decent: the review data of real shops is skewed positive.
        for a in chosen:
            if quality[a] < 0 and rng.random() < 0.55:
                quality[a] = -quality[a]
        # Some aspects split reviewers (quality 0: half praise it, half complain), so answers can be "mixed".
        # Decided from the magnitude already drawn, so the random stream, and every other output, is unchanged.
        quality = {a: 0.0 if abs(q) < MIXED_BELOW else q for a, q in quality.items()}
        title = f"{rng.choice(vocab.BRANDS)} {rng.choice(vocab.PRODUCT_ADJECTIVES)} {noun.title()} {100 + i}"
        products.append(Product(
            product_id=f"B{i:09d}", title=title, category=category, noun=noun, aspects=chosen,
            aspect_quality=quality, latent=nprng.normal(size=LATENT_DIM),
            popularity=float(nprng.pareto(1.5) + 1.0),
        ))
    return products


def aspect_answers(product: Product) -> dict[str, str]:
    """What reviews of the product say about each aspect of its category: yes (praised), no (criticised),
    mixed (reviewers split) or not discussed (never written about)."""
    _nouns, aspects = vocab.CATEGORIES[product.category]
    quality = product.aspect_quality
    return {a: "not discussed" if a not in quality else "mixed" if quality[a] == 0 else
            "yes" if quality[a] > 0 else "no" for a in aspects}


def _day_weights() -> np.ndarray:
    days = np.arange(N_DAYS)
    weekday = (START_DATE.weekday() + days) % 7
    trend = 1.0 + 0.5 * days / N_DAYS
    weights = WEEKDAY_WEIGHT[weekday] * trend
    return weights / weights.sum()


def _sentence(rng: random.Random, aspect: str, polarity: float) -> str:
    if polarity > 0.15:
        predicate = rng.choice(vocab.POSITIVE_PREDICATES)
    elif polarity < -0.15:
        predicate = rng.choice(vocab.NEGATIVE_PREDICATES)
    else:
        predicate = rng.choice(vocab.NEUTRAL_PREDICATES)
    opener = rng.choice(vocab.OPENERS)
    subject = f"the {aspect}" if opener else f"The {aspect}"
    return f"{opener}{subject} {predicate}."


def _review_text(rng: random.Random, product: Product, sentiment: float, sarcastic: bool) -> tuple[str, str]:
    """Title and text whose aspect sentences follow the product's aspect quality and the review's mood."""
    sentences = []
    if rng.random() < 0.5:
        filler = rng.choice(vocab.FILLERS)
        sentences.append(filler.format(
            who=rng.choice(vocab.FILLER_WORDS["who"]), when=rng.choice(vocab.FILLER_WORDS["when"]),
            span=rng.choice(vocab.FILLER_WORDS["span"]), noun=product.noun))
    for aspect in rng.sample(product.aspects, k=rng.randint(1, len(product.aspects))):
        quality, noise = product.aspect_quality[aspect], rng.gauss(0, 0.25)
        # A one-sided aspect reads as its quality whatever the mood; a mixed one is a coin flip per review.
        polarity = quality + 0.4 * sentiment + noise if quality else math.copysign(0.5, noise) + noise
        sentences.append(_sentence(rng, aspect, polarity))
    if sarcastic:
        sentences.insert(0, rng.choice(vocab.SARCASTIC).format(noun=product.noun))
    closers = (vocab.POSITIVE_CLOSERS if sentiment > 0.2 else
               vocab.NEGATIVE_CLOSERS if sentiment < -0.2 else vocab.NEUTRAL_CLOSERS)
    sentences.append(rng.choice(closers))
    title = rng.choice(closers).rstrip(".!")
    return title, " ".join(sentences)


def _clip(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value


def _rating_from_sentiment(sentiment: float) -> float:
    return float(_clip(round(3 + 2.2 * sentiment), 1, 5))


def _base_reviews(rng: random.Random, nprng: np.random.Generator, products: list[Product],
                  n_reviews: int) -> tuple[list[Review], dict]:
    by_category: dict[str, list[Product]] = {}
    for p in products:
        by_category.setdefault(p.category, []).append(p)
    categories = list(by_category)
    latent = {c: np.stack([p.latent for p in ps]) for c, ps in by_category.items()}
    popularity = {c: np.array([p.popularity for p in ps]) for c, ps in by_category.items()}
    day_weights = _day_weights()
    reviews: list[Review] = []
    user_truth = {}
    mean_quality = {p.product_id: sum(p.aspect_quality.values()) / len(p.aspects) for p in products}
    for u in itertools.count():
        if len(reviews) >= n_reviews:
            break
        # Reviews per user follow a long tail: many light users, a few heavy ones.
        wanted = int(min(nprng.zipf(1.8), 150))
        user_id = f"A{u:08X}SYN"
        taste = nprng.normal(size=LATENT_DIM)
        liked = rng.sample(categories, k=rng.choice((1, 1, 2)))
        user_truth[user_id] = liked
        bias = rng.gauss(0.15, 0.35)
        name = f"{rng.choice(vocab.FIRST_NAMES)} {chr(65 + u % 26)}."
        pool = [p for c in liked for p in by_category[c]]
        affinity = np.concatenate([latent[c] @ taste for c in liked])
        weights = np.concatenate([popularity[c] for c in liked]) * np.exp(1.2 * affinity)
        weights /= weights.sum()
        k = min(wanted, len(pool), n_reviews - len(reviews))
        picks = nprng.choice(len(pool), size=k, replace=False, p=weights)
        days = nprng.choice(N_DAYS, size=k, p=day_weights)
        for pick, day in zip(picks.tolist(), days.tolist(), strict=True):
            product = pool[pick]
            sentiment = _clip(0.7 * mean_quality[product.product_id] + 0.25 * math.tanh(affinity[pick])
                              + bias + rng.gauss(0, 0.35), -1.0, 1.0)
            reviews.append(_make_review(rng, user_id, name, product, int(day), sentiment))
    return reviews, user_truth


def _make_review(rng: random.Random, user_id: str, name: str, product: Product, day: int,
                 sentiment: float) -> Review:
    rating = _rating_from_sentiment(sentiment)
    # A few reviews disagree with their stars (sarcasm, mis-clicks): real data has them too.
    sarcastic = rating >= 4 and rng.random() < 0.03
    text_sentiment = -0.8 if sarcastic else sentiment
    title, text = _review_text(rng, product, text_sentiment, sarcastic)
    ts = START_DATE + timedelta(days=day, seconds=rng.randrange(86_400))
    return Review(user_id, name, product, ts, rating, title, text,
                  verified=rng.random() < 0.85, votes=int(rng.expovariate(0.5)))


MIN_DROP_REVIEWS = 4


def _busiest_window(reviews: list[Review], days: int) -> tuple[datetime, datetime, list[Review]]:
    """The `days`-long window (starting at midnight of a review's day) holding most of these reviews."""
    ordered = sorted(reviews, key=lambda r: r.ts)
    best: tuple[datetime, datetime, list[Review]] = (START_DATE, START_DATE, [])
    j = 0
    for i, first in enumerate(ordered):
        start = first.ts.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + timedelta(days=days)
        j = max(j, i)
        while j < len(ordered) and ordered[j].ts < end:
            j += 1
        if j - i > len(best[2]) and start >= START_DATE + timedelta(days=120):
            best = (start, end, ordered[i:j])
    return best


def _plant_anomalies(rng: random.Random, products: list[Product], reviews: list[Review],
                     budget: int) -> tuple[list[Review], list[dict]]:
    """Volume spikes (extra reviews in 3 days) and rating drops (the product's busiest 14 days turn bad) on a
    few popular products; the first 120 days stay clean so detectors have history."""
    counts: dict[str, int] = {}
    for r in reviews:
        counts[r.product.product_id] = counts.get(r.product.product_id, 0) + 1
    popular = sorted(products, key=lambda p: -counts.get(p.product_id, 0))[: max(4, len(products) // 20)]
    targets = rng.sample(popular, k=max(2, len(popular) // 4))
    anomalies, extra = [], []
    by_product: dict[str, list[Review]] = {}
    for r in reviews:
        by_product.setdefault(r.product.product_id, []).append(r)
    spike_size = max(8, budget // max(1, len(targets) // 2))
    for i, product in enumerate(targets):
        start_day = rng.randrange(120, N_DAYS - 30)
        start = START_DATE + timedelta(days=start_day)
        if i % 2 == 0:
            for _ in range(spike_size):
                sentiment = rng.uniform(-0.2, 0.9)
                extra.append(_make_review(rng, f"ASPIKE{rng.randrange(10**6):06d}", "Spike Buyer", product,
                                          start_day + rng.randrange(3), sentiment))
            anomalies.append({"kind": "volume_spike", "entity_type": "product", "entity_id": product.product_id,
                              "start": start.date().isoformat(),
                              "end": (start + timedelta(days=2)).date().isoformat(), "extra_reviews": spike_size})
        else:
            start, end, hit = _busiest_window(by_product[product.product_id], days=14)
            if len(hit) < MIN_DROP_REVIEWS:
                continue  # too quiet to show a drop: planting one would only test luck
            for r in hit:
                sentiment = rng.uniform(-1, -0.5)
                r.rating = _rating_from_sentiment(sentiment)
                r.title, r.text = _review_text(rng, product, sentiment, sarcastic=False)
            anomalies.append({"kind": "rating_drop", "entity_type": "product", "entity_id": product.product_id,
                              "start": start.date().isoformat(),
                              "end": (end - timedelta(days=1)).date().isoformat(), "reviews_affected": len(hit)})
    return extra, anomalies


def _inject_defects(rng: random.Random, reviews: list[Review], fmt: str) -> list[Review]:
    """Turn clean reviews into dirty lines; duplicates are appended after their originals."""
    n = len(reviews)
    order = list(range(n))
    rng.shuffle(order)
    cursor = 0
    duplicates = []
    for kind, (share, _) in DEFECTS.items():
        if fmt == "csv" and kind in CSV_UNSUPPORTED_DEFECTS:
            continue
        for _ in range(max(1, int(share * n))):
            original = reviews[order[cursor]]
            cursor += 1
            if kind == "exact_duplicate":
                duplicates.append(Review(**{**original.__dict__, "defect": kind, "extra": {"copy_of": original}}))
            elif kind == "near_duplicate":
                near = Review(**{**original.__dict__, "defect": kind, "extra": {"copy_of": original}})
                near.text = "  " + original.text.upper().replace(" ", "  ") + " "
                near.ts = original.ts + timedelta(days=rng.randint(1, 3))
                duplicates.append(near)
            else:
                original.defect = kind
    return reviews + duplicates


def _record_2018(r: Review) -> dict:
    record = {
        "overall": r.rating, "verified": r.verified, "reviewTime": r.ts.strftime("%m %d, %Y"),
        "reviewerID": r.user_id, "asin": r.product.product_id, "reviewerName": r.reviewer_name,
        "reviewText": r.text, "summary": r.title, "unixReviewTime": int(r.ts.timestamp()),
        "category": r.product.category,
    }
    if r.votes:
        record["vote"] = str(r.votes)
    return record


def _apply_defect(r: Review, record: dict, rng: random.Random, fields: dict[str, str]) -> dict:
    """Mutate a record according to its defect; `fields` names the format's columns."""
    kind = r.defect
    text, rating, ts, product, user = (fields[k] for k in ("text", "rating", "ts", "product", "user"))
    if kind == "missing_product_id":
        record.pop(product)
    elif kind == "missing_user_id":
        record.pop(user)
    elif kind == "out_of_range_rating":
        record[rating] = rng.choice((0, 6, 7.5, -1, 11))
    elif kind == "bad_timestamp":
        record[ts] = rng.choice((-86_400, 86_400, 4_102_444_800, "not a time"))
    elif kind == "empty_review":
        record[text] = ""
        record.pop(rating)
    elif kind == "huge_text":
        record[text] = (record[text] + " ") * (30_000 // max(1, len(record[text])) + 1)
    elif kind == "html":
        record[text] = "<p>" + record[text].replace(". ", ".<br/>", 1) + " <b>Tom &amp; Jerry</b> approved</p>"
    elif kind == "email":
        record[text] += f" Questions? Mail me at {r.reviewer_name.split()[0].lower()}.{rng.randrange(999)}@example.com"
    elif kind == "phone":
        record[text] += f" Call me at +1 (555) {rng.randrange(100, 999)}-{rng.randrange(1000, 9999)} for details."
    elif kind == "mojibake":
        record[text] += " Don’t miss it – it’s great."
        record[text] = record[text].encode("utf-8").decode("cp1252", errors="replace")
    elif kind == "rating_only":
        record[text] = ""
    elif kind == "missing_rating":
        record.pop(rating)
    return record


JSON_FIELDS = {"text": "reviewText", "rating": "overall", "ts": "unixReviewTime", "product": "asin",
               "user": "reviewerID"}
CSV_FIELDS = {"text": "text", "rating": "rating", "ts": "timestamp", "product": "product_id",
              "user": "user_id"}
CSV_COLUMNS = ("review_id", "product_id", "user_id", "rating", "title", "text", "timestamp", "category",
               "product_title")


def _jsonl_lines(reviews: list[Review], rng: random.Random) -> list[bytes]:
    lines = []
    for r in reviews:
        if r.defect == "exact_duplicate":
            lines.append(r.extra["copy_of"].extra["line"])
            continue
        record = _apply_defect(r, _record_2018(r), rng, JSON_FIELDS)
        line = json.dumps(record, ensure_ascii=False).encode("utf-8")
        if r.defect == "malformed_json":
            line = line[: len(line) // 2]
        elif r.defect == "invalid_utf8":
            line = line.replace(b'"reviewText": "', b'"reviewText": "\xff\xfe', 1)
        lines.append(line)
        r.extra["line"] = line
    return lines


def _csv_rows(reviews: list[Review], rng: random.Random) -> list[dict]:
    rows = []
    for i, r in enumerate(reviews):
        if r.defect == "exact_duplicate":
            rows.append(r.extra["copy_of"].extra["row"])
            continue
        record = {"review_id": f"R{i:09d}", "product_id": r.product.product_id, "user_id": r.user_id,
                  "rating": r.rating, "title": r.title, "text": r.text, "timestamp": int(r.ts.timestamp()),
                  "category": r.product.category, "product_title": r.product.title}
        if r.defect == "near_duplicate":
            # A resubmission: new review id, same user, product and (re-spaced) text.
            record["review_id"] = f"R{i:09d}N"
        rows.append(_apply_defect(r, record, rng, CSV_FIELDS))
        r.extra["row"] = rows[-1]
    return rows


def generate(n_reviews: int, seed: int, out_dir: str | Path, fmt: str = "jsonl",
             progress: Callable[[str], None] | None = None) -> dict:
    """Write reviews (`reviews.jsonl.gz` or `reviews.csv`), `products.jsonl`, `ground_truth.json`.

    Returns the ground truth. Same seed and size, same bytes.
    """
    if fmt not in {"jsonl", "csv"}:
        raise ValueError(f"format must be jsonl or csv, not {fmt!r}")
    say = progress or (lambda _msg: None)
    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    products = _products(rng, nprng, max(12, n_reviews // 40))
    spike_budget = max(16, n_reviews // 100)
    reviews, user_truth = _base_reviews(rng, nprng, products, n_reviews - spike_budget)
    say(f"generated {len(reviews):,} base reviews over {len(products):,} products")
    extra, anomalies = _plant_anomalies(rng, products, reviews, spike_budget)
    reviews = sorted(reviews + extra, key=lambda r: r.ts)
    reviews = _inject_defects(rng, reviews, fmt)

    if fmt == "jsonl":
        lines = _jsonl_lines(reviews, rng)
        reviews_path = out / "reviews.jsonl.gz"
        # mtime=0 keeps the gzip header, and so the bytes, identical for the same seed.
        with open(reviews_path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=3,
                                                            mtime=0) as handle:
            handle.write(b"\n".join(lines) + b"\n")
    else:
        rows = _csv_rows(reviews, rng)
        reviews_path = out / "reviews.csv"
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        reviews_path.write_text(buffer.getvalue(), encoding="utf-8")
    with open(out / "products.jsonl", "w", encoding="utf-8") as handle:
        for p in products:
            handle.write(json.dumps({"asin": p.product_id, "title": p.title, "category": p.category}) + "\n")

    defects = [
        {"line_no": i + 1, "kind": r.defect, "expected": DEFECTS[r.defect][1]}
        for i, r in enumerate(reviews) if r.defect
    ]
    truth = {
        "seed": seed, "n_reviews_requested": n_reviews, "n_lines": len(reviews), "format": fmt,
        "reviews_file": reviews_path.name, "products_file": "products.jsonl",
        "start_date": START_DATE.date().isoformat(), "n_days": N_DAYS,
        "defects": defects, "anomalies": anomalies,
        "product_aspects": {p.product_id: p.aspect_quality for p in products},
        "aspect_answers": {p.product_id: aspect_answers(p) for p in products},
        "user_liked_categories": user_truth,
    }
    (out / "ground_truth.json").write_text(json.dumps(truth, indent=1))
    say(f"wrote {len(reviews):,} lines ({len(defects):,} with defects) to {reviews_path}")
    return truth

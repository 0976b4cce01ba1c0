"""The Spark NLP text layer: the sentences stage, and what its shared sentence vectors save downstream.

    python bench/text_layer.py --reviews 220000            # what the README figures come from
    python bench/text_layer.py --reviews 3000              # quick check (minutes)
    python bench/text_layer.py --from-lake lake            # step 3 only, on copies of a demo lake

One script run, every measured step in its own fresh Python process (a new Spark session and new Python
workers, so no arm inherits another's loaded encoder or per-worker sentence cache):

1. A synthetic lake (reviewlake.synthetic, --reviews/--seed) through ingest, clean (quality with --quality)
   and sentiment (tier fast), built once per size and seed under --work and reused afterwards.
2. `sentences` on a copy of it, from nothing (no silver.review_sentences, silver.sentence_vectors or
   models/sentences: the pipeline is fitted and every review split and embedded): reviews/s, sentences
   written/s, distinct sentences embedded, and the stage's phases timed from its own progress lines.
3. summarize, tags and similarity on two identical copies of that lake, neither holding any of their outputs:
   once reading silver.sentence_vectors (the new path), once with that table's directory removed, so each
   stage embeds what it needs itself as before the sentences stage existed (summarize: its products' newest
   sentences, on each worker with a per-worker cache; similarity: each product's newest review texts whole).
   tags reads no sentence vectors (it embeds only candidate tags), so its two runs do the same work. Seconds
   per stage are run_pipeline's own (stage code only, not the session start), with the ratio re-embedding /
   shared. The outputs of the two arms are compared so a speed-up bought with different results shows.

With --from-lake DIR (a lake the sentences stage has run on, such as `./dev demo`'s, whose synthetic input is
under --data-dir as the demo writes it), steps 1 and 2 are skipped: the sentences stage's own figures are in
that lake's ledger, and both arms start from copies of DIR with every downstream output removed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

BUILD_STAGES = ("ingest", "clean", "sentiment")
DOWNSTREAM = ("summarize", "tags", "similarity")
OPTIONS = {"sentiment_tier": "fast"}
SENTENCE_TABLES = ("silver/review_sentences", "silver/sentence_vectors", "silver/sentence_aspects",
                   "models/sentences", "models/aspects")
# Everything summarize, tags and similarity write: neither arm may start with any of it.
DOWNSTREAM_OUTPUTS = ("gold/product_summaries", "gold/product_tags", "gold/tag_vocabulary", "silver/product_vectors",
                      "gold/product_similarity", "models/tags", "models/similarity")


def run_stages(spec_file: Path) -> None:
    """Child process: run the spec's stages on its lake and write each stage's seconds, result and progress."""
    from reviewlake.config import load_config
    from reviewlake.context import RunParams
    from reviewlake.pipeline import run_pipeline

    spec = json.loads(spec_file.read_text())
    config = load_config().with_lake(spec["lake"])
    params = RunParams(inputs=(spec["reviews_file"],), products=spec["products_file"], stages=tuple(spec["stages"]),
                       run_date=date.fromisoformat(spec["run_date"]), options=OPTIONS)
    said: list[tuple[float, str]] = []

    def say(message: str) -> None:
        said.append((time.perf_counter(), message))
        print(f"    {spec['label']}: {message}", flush=True)

    outcomes = run_pipeline(config, params, say=say, run_id=f"bench-{spec['label']}")
    stages = []
    for outcome in outcomes:
        ended = next(t for t, m in said if m.startswith(f"[{outcome.stage}] done"))
        started = next(t for t, m in said if m == f"[{outcome.stage}] started")
        stages.append({"stage": outcome.stage, "seconds": outcome.seconds, "details": outcome.result.details,
                       "message": outcome.result.message, "rows_in": outcome.result.rows_in,
                       "rows_out": outcome.result.rows_out,
                       "said": [(t - started, m) for t, m in said if started <= t <= ended]})
    Path(spec["out"]).write_text(json.dumps(stages, default=str))


def in_child(label: str, lake: Path, stages: tuple[str, ...], inputs: dict, scratch: Path) -> dict[str, dict]:
    """Run `stages` on `lake` in a fresh Python process; {stage: what run_stages recorded}."""
    spec, out = scratch / f"{label}.spec.json", scratch / f"{label}.result.json"
    spec.write_text(json.dumps({"label": label, "lake": str(lake), "stages": list(stages), "out": str(out),
                                **inputs}))
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--stage-run", str(spec)], check=True)
    return {s["stage"]: s for s in json.loads(out.read_text())}


def copy_lake(source: Path, target: Path, remove: tuple[str, ...]) -> None:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    for relative in remove:
        shutil.rmtree(target / relative, ignore_errors=True)


def phase_seconds(stage: dict) -> dict[str, float]:
    """The sentences stage's phases, from the elapsed time at each of its progress lines."""
    marks = {"fit": "fitted the Spark NLP", "split": "silver.review_sentences:",
             "embed": "distinct sentences embedded", "aspects": "searched for aspect terms"}
    at = {name: next((t for t, m in stage["said"] if text in m), None) for name, text in marks.items()}
    phases, previous = {}, 0.0
    for name in ("fit", "split", "embed", "aspects"):
        if at[name] is not None:
            phases[name] = at[name] - previous
            previous = at[name]
    phases["rest"] = stage["seconds"] - previous
    return phases


def compare_outputs(shared: Path, reembed: Path) -> list[str]:
    """Lines saying how far the two arms' outputs agree (delta-rs, no Spark)."""
    from deltalake import DeltaTable

    def table(lake: Path, name: str, columns: list[str]):
        return DeltaTable(str(lake / name)).to_pandas(columns=columns)

    lines = []
    a = table(shared, "gold/product_summaries", ["product_id", "summary"]).set_index("product_id")["summary"]
    b = table(reembed, "gold/product_summaries", ["product_id", "summary"]).set_index("product_id")["summary"]
    same = (a.reindex(b.index) == b).sum()
    lines.append(f"summaries identical in both arms: {same:,} of {len(b):,} products ({len(a):,} with shared vectors)")
    a = table(shared, "gold/product_tags", ["product_id", "tag"])
    b = table(reembed, "gold/product_tags", ["product_id", "tag"])
    a_set, b_set = set(map(tuple, a.to_numpy())), set(map(tuple, b.to_numpy()))
    lines.append(f"tags identical in both arms: {len(a_set & b_set):,} of {len(a_set | b_set):,} (product, tag) pairs")
    a = table(shared, "gold/product_similarity", ["product_id", "similar_product_id"])
    b = table(reembed, "gold/product_similarity", ["product_id", "similar_product_id"])
    a_top, b_top = a.groupby("product_id")["similar_product_id"].agg(set), \
        b.groupby("product_id")["similar_product_id"].agg(set)
    common = a_top.index.intersection(b_top.index)
    overlap = sum(len(a_top[p] & b_top[p]) / max(1, len(b_top[p])) for p in common) / max(1, len(common))
    lines.append(f"similarity neighbours shared by both arms: {overlap:.1%} on average over {len(common):,} products "
                 "(the arms embed reviews differently: mean of sentence vectors vs the whole text)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reviews", type=int, default=220_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work", type=Path, default=Path("data/bench-text-layer"),
                        help="synthetic input, the built lake (reused per size and seed) and the measured copies")
    parser.add_argument("--quality", action="store_true", help="also run the quality gate when building the lake")
    parser.add_argument("--from-lake", type=Path, help="time only step 3, on copies of this (demo) lake")
    parser.add_argument("--data-dir", type=Path, default=Path("data"),
                        help="with --from-lake: where the demo wrote synthetic-<reviews>-s<seed>")
    parser.add_argument("--stage-run", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage_run:
        run_stages(args.stage_run)
        return

    from reviewlake.synthetic import generate

    command = "python bench/text_layer.py " + " ".join(sys.argv[1:])
    key = f"{args.reviews}-s{args.seed}"
    data, base, runs = args.work / f"synthetic-{key}", args.work / f"lake-{key}", args.work / f"runs-{key}"
    if args.from_lake:
        data = args.data_dir / f"synthetic-{key}"
    built = args.work / f"lake-{key}.built.json"
    if not (data / "ground_truth.json").exists():
        print(f"generating {args.reviews:,} synthetic reviews (seed {args.seed})", flush=True)
        generate(args.reviews, args.seed, data)
    truth = json.loads((data / "ground_truth.json").read_text())
    # As the demo: "as of" the day after the synthetic reviews end (tags' trend windows depend on it).
    run_date = date.fromisoformat(truth["start_date"]) + timedelta(days=truth["n_days"])
    inputs = {"reviews_file": str((data / truth["reviews_file"]).resolve()),
              "products_file": str((data / truth["products_file"]).resolve()), "run_date": run_date.isoformat()}
    if runs.exists():
        shutil.rmtree(runs)
    runs.mkdir(parents=True)

    if args.from_lake:
        # Without the ledger every stage sees every review as new, as on a lake that never ran them.
        compare_arms(args, command, inputs, runs, args.from_lake, (*DOWNSTREAM_OUTPUTS, "ops/pipeline_runs"),
                     None, None)
        return
    build = (*BUILD_STAGES[:2], "quality", *BUILD_STAGES[2:]) if args.quality else BUILD_STAGES
    if built.exists() and json.loads(built.read_text())["stages"] == list(build):
        print(f"reusing the lake built by {', '.join(build)}", flush=True)
    else:
        print(f"building the lake: {', '.join(build)}", flush=True)
        shutil.rmtree(base, ignore_errors=True)
        built.unlink(missing_ok=True)
        in_child("build", base.resolve(), build, inputs, runs)
        built.write_text(json.dumps({"stages": list(build)}))

    sentences_lake = runs / "sentences"
    copy_lake(base, sentences_lake, SENTENCE_TABLES)
    stage = in_child("sentences", sentences_lake.resolve(), ("sentences",), inputs, runs)["sentences"]
    compare_arms(args, command, inputs, runs, sentences_lake, (), stage, stage["details"])


def compare_arms(args: argparse.Namespace, command: str, inputs: dict, runs: Path, source: Path,
                 remove: tuple[str, ...], stage: dict | None, details: dict | None) -> None:
    """Step 3 on two copies of `source` (minus `remove`), then the tables (step 2's too when `stage` is given)."""
    arms = {"shared": runs / "shared-vectors", "reembed": runs / "re-embedding"}
    copy_lake(source, arms["shared"], remove)
    copy_lake(source, arms["reembed"], (*remove, "silver/sentence_vectors"))
    for name, lake in arms.items():
        present = [p for p in DOWNSTREAM_OUTPUTS if (lake / p).exists()]
        assert not present, f"{name} arm starts with downstream outputs: {present}"
        assert (lake / "silver/sentence_vectors").exists() == (name == "shared"), name
    timed = {name: in_child(name, lake.resolve(), DOWNSTREAM, inputs, runs) for name, lake in arms.items()}

    print()
    print(f"machine: {os.cpu_count()} cores (os.cpu_count()); {args.reviews:,} synthetic reviews, seed {args.seed}")
    print(f"command: {command}")
    print()
    if stage is not None:
        sentences_table(stage, details)
    downstream_table(timed, arms, stage)


def sentences_table(stage: dict, details: dict) -> None:
    print(f"sentence encoder {details['encoder']}")
    n_reviews, n_sentences = details["reviews"], details["sentences_inserted"] + details["sentences_updated"]
    seconds = stage["seconds"]
    print("| sentences stage (fresh) | value |")
    print("|---|---|")
    print(f"| reviews split | {n_reviews:,} |")
    print(f"| sentences written | {n_sentences:,} |")
    print(f"| distinct sentences embedded | {details['sentences_embedded']:,} |")
    print(f"| stage seconds | {seconds:.1f} |")
    print(f"| reviews/s | {n_reviews / seconds:,.0f} |")
    print(f"| sentences written/s | {n_sentences / seconds:,.0f} |")
    phases = phase_seconds(stage)
    labels = {"fit": "fit and save the Spark NLP pipeline", "split": "split, annotate and write the sentences",
              "embed": "find and embed the distinct sentences, merge the vectors",
              "aspects": "train the aspect extractor (first run), tag the distinct sentences, merge the terms",
              "rest": "after the last progress line"}
    for name, value in phases.items():
        print(f"| {labels[name]} | {value:.1f} s ({value / seconds:.0%}) |")
    print()


def downstream_table(timed: dict, arms: dict[str, Path], stage: dict | None) -> None:
    print("| stage | seconds with shared vectors | seconds re-embedding | ratio (re-embedding / shared) |")
    print("|---|---|---|---|")
    totals = {name: 0.0 for name in arms}
    for name in DOWNSTREAM:
        shared, reembed = timed["shared"][name]["seconds"], timed["reembed"][name]["seconds"]
        totals["shared"] += shared
        totals["reembed"] += reembed
        print(f"| {name} | {shared:.1f} | {reembed:.1f} | {reembed / shared:.2f}x |")
    print(f"| **total** | **{totals['shared']:.1f}** | **{totals['reembed']:.1f}** | "
          f"**{totals['reembed'] / totals['shared']:.2f}x** |")
    phases = phase_seconds(stage) if stage is not None else {}
    if "embed" in phases:
        # The vectors are not free: the sentences stage's embed phase is what the three stages' saving costs.
        net = phases["embed"] + totals["shared"]
        print(f"net of the sentences stage's embed phase: {phases['embed']:.1f} s + {totals['shared']:.1f} s = "
              f"{net:.1f} s against {totals['reembed']:.1f} s re-embedding ({totals['reembed'] / net:.2f}x)")
    print()
    for name in arms:
        for said in (m for _, m in timed[name]["similarity"]["said"] if "embedded" in m):
            print(f"similarity, {name}: {said.strip()}")
    for line in compare_outputs(arms["shared"], arms["reembed"]):
        print(line)


if __name__ == "__main__":
    main()

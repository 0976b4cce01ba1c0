"""The `reviewlake` command line (Typer). Exit codes: 0 ok, 2 user error, 1 pipeline failure."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from reviewlake.config import Config, load_config
from reviewlake.errors import PipelineFailure, UserError
from udfs.anomaly import DEFAULT_DETECTOR, DETECTORS

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Review-intelligence lakehouse: Spark jobs over Delta tables.")
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False)

LakeOption = Annotated[Path | None, typer.Option("--lake", help="Lake root (default $REVIEWLAKE_LAKE or ./lake)")]
TierOption = Annotated[str | None, typer.Option(
    "--sentiment-tier", help="fast (n-grams), transformer (MiniLM) or auto (best macro-F1 that fits the budget)")]
ModelOption = Annotated[str | None, typer.Option(
    "--sentiment-model", help="Score with this model: a version in the lake or a model directory")]
RetrainOption = Annotated[bool, typer.Option("--retrain", help="Retrain the sentiment model even if current")]
ConfigOption = Annotated[Path | None, typer.Option("--config", help="TOML config file ($REVIEWLAKE_CONFIG)")]
InputOption = Annotated[list[str] | None, typer.Option("--input", "-i", help="File, directory or glob (repeatable)")]
FormatOption = Annotated[str, typer.Option("--format", help="auto, amazon2014, amazon2018, amazon2023 or csv")]
ProductsOption = Annotated[str | None, typer.Option(help="Product metadata JSONL/CSV")]
StagesOption = Annotated[str | None, typer.Option(help="Comma-separated stages (default: all available)")]
RunDateOption = Annotated[str | None, typer.Option(help="Logical run date YYYY-MM-DD (default today)")]


HISTORY_METRICS = ("numOutputRows", "numTargetRowsInserted", "numTargetRowsUpdated", "numTargetRowsDeleted")


def _config(lake: Path | None, config_file: Path | None = None) -> Config:
    return load_config(config_file).with_lake(lake)


def _say(message: str) -> None:
    console.print(message, markup=False)


def _parse_run_date(value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"--run-date must be YYYY-MM-DD, got {value!r}") from None


@app.command()
def generate(
    reviews: Annotated[int, typer.Option(min=10, help="Number of reviews to generate")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files")] = 42,
    out: Annotated[Path, typer.Option(help="Output directory")] = Path("data/synthetic"),
    fmt: Annotated[str, typer.Option("--format", help="jsonl (amazon2018-like, gzipped) or csv")] = "jsonl",
) -> None:
    """Generate deterministic synthetic reviews, product metadata and a ground-truth file."""
    from reviewlake.synthetic import generate as generate_reviews

    if fmt not in {"jsonl", "csv"}:
        raise UserError(f"--format must be jsonl or csv, not {fmt!r}")
    started = time.perf_counter()
    truth = generate_reviews(reviews, seed, out, fmt, progress=_say)
    console.print(f"{truth['n_lines']:,} lines in {time.perf_counter() - started:.1f}s -> {out}")


# Stage-specific options, passed through RunParams.options when set.
STAGE_OPTIONS = ("sentiment_tier", "sentiment_model", "retrain", "backfill_from", "backfill_to")


def _run(config: Config, inputs: tuple[str, ...], fmt: str, products: str | None, stages: str | None,
         run_date: str | None, options: dict | None = None, run_id: str | None = None,
         skip_on_failure: tuple[str, ...] = (), lock_wait_s: float = 0.0) -> list:
    from reviewlake.context import RunParams
    from reviewlake.pipeline import parse_stages, run_pipeline

    params = RunParams(inputs=inputs, input_format=fmt, products=products,
                       run_date=_parse_run_date(run_date), stages=parse_stages(stages),
                       options={k: v for k, v in (options or {}).items() if v not in (None, False)})
    if "ingest" in params.stages:
        from jobs.ingest import plan_inputs

        plan_inputs(inputs, fmt, {})  # fail fast on user mistakes, before Spark starts
    return run_pipeline(config, params, say=_say, run_id=run_id, skip_on_failure=skip_on_failure,
                        lock_wait_s=lock_wait_s)


@app.command()
def run(
    input: InputOption = None,
    fmt: FormatOption = "auto",
    products: ProductsOption = None,
    stages: StagesOption = None,
    run_date: RunDateOption = None,
    sentiment_tier: TierOption = None,
    sentiment_model: ModelOption = None,
    retrain: RetrainOption = False,
    backfill_from: Annotated[str | None, typer.Option(help="anomalies: recompute periods from YYYY-MM-DD")] = None,
    backfill_to: Annotated[str | None, typer.Option(help="anomalies: recompute periods up to YYYY-MM-DD")] = None,
    lake: LakeOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Run pipeline stages on input files."""
    config = _config(lake, config_file)
    outcomes = _run(config, tuple(input or ()), fmt, products, stages, run_date,
                    {"sentiment_tier": sentiment_tier, "sentiment_model": sentiment_model, "retrain": retrain,
                     "backfill_from": backfill_from, "backfill_to": backfill_to})
    _print_outcomes(outcomes)


def _print_outcomes(outcomes: list) -> None:
    table = Table(title="stages")
    for column in ("stage", "status", "seconds", "rows in", "rows out", "quarantined"):
        table.add_column(column, justify="right" if column not in ("stage", "status") else "left")
    for o in outcomes:
        r = o.result
        table.add_row(o.stage, o.status, f"{o.seconds:.1f}", *(f"{v:,}" if r else "" for v in (
            r.rows_in if r else 0, r.rows_out if r else 0, r.rows_quarantined if r else 0)))
    console.print(table)


@app.command()
def demo(
    reviews: Annotated[int, typer.Option(min=100, help="Synthetic reviews to generate")] = 220_000,
    seed: Annotated[int, typer.Option(help="Generator seed")] = 42,
    sentiment_tier: TierOption = None,
    lake: LakeOption = None,
    data_dir: Annotated[Path, typer.Option(help="Where the synthetic input goes")] = Path("data"),
) -> None:
    """Generate synthetic data (once per size and seed), run every available stage, print a summary."""
    from reviewlake.synthetic import generate as generate_reviews

    config = _config(lake)
    out = data_dir / f"synthetic-{reviews}-s{seed}"
    started = time.perf_counter()
    if not (out / "ground_truth.json").exists():
        console.print(f"generating {reviews:,} synthetic reviews into {out}")
        generate_reviews(reviews, seed, out, "jsonl", progress=_say)
    else:
        console.print(f"reusing synthetic data in {out}")
    truth = json.loads((out / "ground_truth.json").read_text())
    # The synthetic reviews end on a fixed day; running "as of" the next day keeps the anomaly series from
    # growing years of empty days up to today.
    as_of = date.fromisoformat(truth["start_date"]) + timedelta(days=truth["n_days"])
    outcomes = _run(config, (str(out / truth["reviews_file"]),), "auto", str(out / truth["products_file"]),
                    None, as_of.isoformat(), {"sentiment_tier": sentiment_tier})
    _print_outcomes(outcomes)
    _print_tables(config.lake)
    from expectations.gate import data_docs_index
    from queries.report import build_report

    docs = data_docs_index(config.lake)
    written = build_report(config.lake, config.lake / "reports" / "run-report.html", config.cache_dir)
    console.print(f"demo finished in {time.perf_counter() - started:.0f}s; lake: {config.lake.resolve()}")
    if docs.exists():
        console.print(f"data quality report (Data Docs): {docs.resolve()}")
    console.print(f"run report: {Path(written['path']).resolve()} ({written['seconds']:.1f} s to build)")
    console.print(f"product API and explorer: reviewlake serve --lake {config.lake.resolve()}  "
                  "(then http://127.0.0.1:8000/ and /docs)")


def _print_tables(lake: Path) -> None:
    from queries.sql import table_summaries

    table = Table(title=f"tables in {lake}")
    for column in ("table", "version", "rows", "MB", "description"):
        table.add_column(column, justify="right" if column in ("version", "rows", "MB") else "left")
    for row in table_summaries(lake):
        table.add_row(row["table"], str(row["version"]), f"{row['rows']:,}", f"{row['bytes'] / 1e6:.1f}",
                      row["description"])
    console.print(table)


@app.command()
def tables(
    table: Annotated[str | None, typer.Argument(help="With --describe: only this table, e.g. gold.product_faq")] = None,
    describe: Annotated[bool, typer.Option(
        "--describe", help="The data dictionary: description, key, columns with their meaning, version, rows, size, "
                           "last write")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="With --describe: print docs/TABLES.md")] = False,
    lake: LakeOption = None,
) -> None:
    """List the lake's tables with version and row count, or describe them (no Spark needed)."""
    if not describe:
        if table is not None or markdown:
            raise UserError("a table name and --markdown go with --describe")
        _print_tables(_config(lake).lake)
        return
    from queries import dictionary

    if markdown:
        sys.stdout.write(dictionary.markdown())
        return
    for entry in dictionary.describe(_config(lake).lake, table):
        state = entry["state"]
        where = "not created yet" if state is None else (
            f"version {state['version']}, {state['rows']:,} rows, {state['bytes'] / 1e6:.1f} MB, last write "
            f"{state['last_write']:%Y-%m-%d %H:%M:%S} UTC" if state["last_write"] else f"version {state['version']}")
        _say(f"{entry['table']}: {entry['description']}")
        _say(f"  key ({', '.join(entry['keys'])}); {where}")
        out = Table(show_header=True, box=None, pad_edge=False)
        for column in ("column", "type", "null", "meaning"):
            out.add_column(column)
        for c in entry["columns"]:
            out.add_row(c["name"], c["type"], "yes" if c["nullable"] else "no", c["description"])
        console.print(out)
        _say("")


@app.command()
def history(
    table: Annotated[str, typer.Argument(help="Table name, e.g. silver.reviews")],
    limit: Annotated[int, typer.Option(help="Newest N versions")] = 20,
    lake: LakeOption = None,
) -> None:
    """Show a table's Delta history (no Spark needed)."""
    from queries.sql import open_table
    from reviewlake.tables import REGISTRY

    if table not in REGISTRY:
        raise UserError(f"unknown table {table!r}; known: {', '.join(REGISTRY)}")
    rows = open_table(_config(lake).lake, table).history(limit)
    out = Table(title=f"history of {table}")
    for column in ("version", "timestamp", "operation", "metrics"):
        out.add_column(column)
    for row in rows:
        stamp = datetime.fromtimestamp(row.get("timestamp", 0) / 1000).isoformat(timespec="seconds")
        metrics = row.get("operationMetrics") or {}
        shown = {k: v for k, v in metrics.items() if k in HISTORY_METRICS}
        out.add_row(str(row.get("version")), stamp, str(row.get("operation")), json.dumps(shown)[:120])
    console.print(out)


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help='SQL over tables named like silver.reviews')],
    lake: LakeOption = None,
    output: Annotated[str, typer.Option("--output", help="table, csv or json")] = "table",
    max_rows: Annotated[int, typer.Option(help="Rows shown in table output")] = 50,
) -> None:
    """Run SQL over the lake without Spark (delta-rs + DuckDB)."""
    from queries.sql import query as run_query

    if output not in ("table", "csv", "json"):
        raise UserError(f"--output must be table, csv or json, not {output!r}")
    _print_frame(run_query(_config(lake).lake, query).to_pandas(), output, max_rows)


@app.command()
def jars(quiet: Annotated[bool, typer.Option("--quiet", help="Print nothing when cached")] = False) -> None:
    """Resolve Spark's Delta and Spark NLP jars from Maven Central into the cache (once; offline afterwards)."""
    from reviewlake.spark import cached_jars, ensure_jars, jar_coordinates

    config = load_config()
    if quiet and cached_jars(config):
        return
    paths = ensure_jars(config)
    if not quiet:
        console.print(f"{', '.join(jar_coordinates())}: {len(paths)} jars cached under {config.cache_dir}")


@app.command("report-assets")
def report_assets(quiet: Annotated[bool, typer.Option("--quiet", help="Print nothing when cached")] = False) -> None:
    """Fetch the report's chart scripts (Vega, Vega-Lite, Vega-Embed) from the npm registry into the cache, once."""
    from queries.report import fetch_vega_scripts, vega_script_paths

    config = load_config()
    if quiet and all(p.exists() for p in vega_script_paths(config.cache_dir)):
        return
    paths = fetch_vega_scripts(config.cache_dir)
    if not quiet:
        console.print(f"{len(paths)} chart scripts cached under {paths[0].parent}")


@app.command()
def report(
    out: Annotated[Path | None, typer.Option("--out", help="HTML file to write (default <lake>/reports/"
                                                          "run-report.html)")] = None,
    lake: LakeOption = None,
) -> None:
    """Write the run report: one self-contained HTML file with the lake's latest run, funnel, quality gate,
    sentiment, model metrics, products, tags, anomalies and clusters (no Spark)."""
    from queries.report import build_report

    config = _config(lake)
    written = build_report(config.lake, out or config.lake / "reports" / "run-report.html", config.cache_dir)
    missing = f"; not built yet: {', '.join(written['missing'])}" if written["missing"] else ""
    _say(f"report: {written['path']} ({written['bytes'] / 1e6:.1f} MB, {written['sections']} sections, "
         f"{written['seconds']:.1f} s{missing})")


@app.command("base-model")
def base_model(
    data: Annotated[Path | None, typer.Option(help="The real-data directory (default: shared/data/real above the "
                                                   "project, or $REVIEWLAKE_REAL_DATA)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print nothing when already built; skip silently "
                                                        "without data")] = False,
) -> None:
    """Build the base sentiment model (cold start) from the real data into the cache (once; about a minute)."""
    from reviewlake import base_sentiment

    config = load_config()
    data = data or base_sentiment.real_data_dir()
    if data is None or not (data / base_sentiment.CORPUS).is_file():
        if quiet:
            return
        raise UserError(f"no {base_sentiment.CORPUS} under {data or 'shared/data/real'}: pass --data DIR "
                        "(cold start then uses the VADER lexicon)")
    path = base_sentiment.build(data, config.cache_dir, say=console.print)
    if not quiet:
        console.print(f"base sentiment model: {path}")


@app.command()
def maintain(
    retention_hours: Annotated[float, typer.Option(help="Keep the files of every version newer than this (VACUUM)")]
        = 168.0,
    allow_short_retention: Annotated[bool, typer.Option(
        "--allow-short-retention", help="Allow a retention under 7 days (ends time travel to older versions)")] = False,
    table: Annotated[list[str] | None, typer.Option("--table", help="Only this table (repeatable), e.g. "
                                                                     "silver.reviews")] = None,
    lake: LakeOption = None,
) -> None:
    """OPTIMIZE (compact small files) and VACUUM every lake table, holding the lake's writer lock."""
    from reviewlake.lake import Lake
    from reviewlake.lake_lock import lake_lock
    from reviewlake.maintenance import check_request
    from reviewlake.maintenance import maintain as maintain_tables
    from reviewlake.pipeline import new_run_id
    from reviewlake.spark import get_spark

    config = _config(lake)
    check_request(retention_hours, allow_short_retention, tuple(table or ()))    # before Spark starts
    if not config.lake.is_dir():
        raise UserError(f"no lake at {config.lake}")
    with lake_lock(config.lake, new_run_id(), "maintain"):
        started = time.perf_counter()
        done = maintain_tables(get_spark(config, "reviewlake-maintain"), Lake(get_spark(config), config.lake),
                               retention_hours, allow_short_retention, tuple(table or ()), say=_say)
    console.print(f"{len(done)} tables maintained in {time.perf_counter() - started:.1f}s: "
                  f"{sum(d.files_before for d in done):,} -> {sum(d.files_after for d in done):,} data files")


@app.command("detect-anomalies")
def detect_anomalies(
    input: Annotated[Path, typer.Option("--input", help="CSV with a time column and a value column")],
    time_col: Annotated[str, typer.Option(help="Timestamp column (ISO 8601, epoch seconds or milliseconds)")],
    value_col: Annotated[str, typer.Option(help="Numeric column to score")],
    output: Annotated[Path, typer.Option(help="CSV to write: input rows + expected, z, score, is_anomaly")],
    entity_col: Annotated[str | None, typer.Option(help="Column naming independent series")] = None,
    detector: Annotated[str, typer.Option(help="likelihood, seasonal-mad or windowed-gaussian")] = DEFAULT_DETECTOR,
    false_alarm_rate: Annotated[float, typer.Option(
        help="Flag a point when its tail probability under the detector's model is below this "
             "(score = -log10 of it; 1e-5 -> score >= 5)")] = 1e-5,
    quiet_after: Annotated[int, typer.Option(
        min=0, help="After a point, only a higher score is flagged within this many points (one alarm per "
                    "episode; 0: every point stands alone)")] = 12,
    direction: Annotated[str, typer.Option(help="up, down or both")] = "both",
    counts: Annotated[bool, typer.Option("--counts", help="Values are event counts (Poisson floor)")] = False,
    season: Annotated[str | None, typer.Option(
        help="Season length, e.g. 7d, 1d, 1h, or 'none' (default: detected per series from its autocorrelation)")]
        = None,
) -> None:
    """Score any metrics CSV with the pipeline's anomaly detectors (no Spark).

    Each point gets score = -log10(its tail probability under the detector's model of the past): 2 is a
    1-in-100 point, 5 a 1-in-100,000 one, and it keeps growing, so strong anomalies rank above weak ones.
    """
    import pandas as pd

    from udfs.anomaly import detect_many, generic_settings

    if not input.is_file():
        raise UserError(f"input not found: {input}")
    if direction not in ("up", "down", "both"):
        raise UserError(f"--direction must be up, down or both, not {direction!r}")
    if detector not in DETECTORS:
        raise UserError(f"--detector must be one of {', '.join(DETECTORS)}, not {detector!r}")
    if not 0.0 < false_alarm_rate < 1.0:
        raise UserError(f"--false-alarm-rate must be between 0 and 1 (exclusive), not {false_alarm_rate}")
    try:
        frame = pd.read_csv(input)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise UserError(f"{input} is not a readable CSV: {str(error).splitlines()[0]}") from None
    missing = [c for c in (time_col, value_col, entity_col) if c and c not in frame.columns]
    if missing:
        raise UserError(f"{input} has no column(s) {missing}; columns are {list(frame.columns)}")
    parsed = _parse_times(frame[time_col])
    bad_times = frame.loc[parsed.isna(), time_col]
    if len(bad_times):
        raise UserError(f"{len(bad_times)} row(s) of {input} have unparseable {time_col!r} values, e.g. "
                        f"{bad_times.astype(str).head(3).tolist()}")
    values = pd.to_numeric(frame[value_col], errors="coerce")
    frame = frame.assign(**{time_col: parsed, value_col: values})
    if season is None:
        chosen_season = "auto"
    elif season.lower() == "none":
        chosen_season = None
    else:
        try:
            chosen_season = pd.Timedelta(season)
        except ValueError:
            raise UserError(f"--season must look like 7d, 1d or 1h (or none), not {season!r}") from None
    chosen = dict(detector=detector, false_alarm_rate=false_alarm_rate, quiet_after=quiet_after,
                  direction=direction, counts=counts, season=chosen_season)
    settings = generic_settings(frame[time_col], **chosen)      # validated once, for the message

    def settings_of(timestamps):
        return generic_settings(timestamps, **chosen)
    scored = detect_many(frame, entity_col, settings_of, time_col, value_col)
    extra = [c for c in frame.columns if c not in (time_col, value_col, entity_col)]
    if extra:  # carry the user's other columns through, row for row
        key = [c for c in (entity_col, time_col) if c]
        scored = scored.merge(frame[key + extra].drop_duplicates(key), on=key, how="left")
    scored.to_csv(output, index=False)
    console.print(f"{len(scored):,} rows scored by {settings.name} ({int(values.isna().sum()):,} without a numeric "
                  f"value, kept unscored); {int(scored['is_anomaly'].sum()):,} anomalies at false-alarm rate "
                  f"{false_alarm_rate:g} (score >= {settings.threshold:.1f}) -> {output}")


def _parse_times(column):
    """ISO 8601 text, or epoch seconds / milliseconds (numbers above 1e11 are milliseconds); NaT where neither.
    Only the numeric cells go through the epoch conversion: an all-NaN float column overflows in it."""
    import pandas as pd

    parsed = pd.to_datetime(column, utc=True, errors="coerce", format="mixed")
    numeric = pd.to_numeric(column, errors="coerce").dropna()
    if len(numeric):
        in_ms = numeric.abs() > 1e11
        epoch = pd.concat([pd.to_datetime(numeric[~in_ms], unit="s", utc=True, errors="coerce"),
                           pd.to_datetime(numeric[in_ms], unit="ms", utc=True, errors="coerce")])
        parsed.loc[epoch.index] = epoch
    return parsed


@app.command()
def similar(
    product_id: Annotated[str | None, typer.Argument(help="Product whose neighbours to show")] = None,
    text: Annotated[str | None, typer.Option("--text", help="Free text to match instead, e.g. 'quiet fan'")] = None,
    k: Annotated[int, typer.Option("--k", min=1, max=1000, help="Neighbours to return")] = 10,
    output: Annotated[str, typer.Option("--output", help="table, csv or json")] = "table",
    lake: LakeOption = None,
) -> None:
    """Nearest products from the saved FAISS index (no Spark): by product id or by free text."""
    from queries.similar import similar_products

    _print_frame(similar_products(_config(lake).lake, product_id, text, k), output)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for, e.g. 'bright screen'")],
    k: Annotated[int, typer.Option("--k", min=1, max=1000, help="Products to return")] = 10,
    output: Annotated[str, typer.Option("--output", help="table, csv or json")] = "table",
    lake: LakeOption = None,
) -> None:
    """Products ranked by tag match (exact and semantic) and tag sentiment (no Spark)."""
    from queries.search import open_search

    started = time.perf_counter()
    engine = open_search(_config(lake).lake)
    loaded = time.perf_counter()
    try:
        found = engine.search(query, k)
    except ValueError as error:
        raise UserError(str(error)) from None
    answered = time.perf_counter()
    _print_frame(found, output)
    if output == "table":
        console.print(f"loaded in {loaded - started:.2f}s, answered in {(answered - loaded) * 1000:.0f} ms")


@app.command()
def ask(
    words: Annotated[list[str], typer.Argument(
        help="PRODUCT QUESTION (a product id or title words, then the question); QUESTION alone continues --session")],
    session: Annotated[str | None, typer.Option("--session", help="Keep this conversation (follow-ups like "
                                                                 "'and the battery?') under <lake>/sessions/")] = None,
    k: Annotated[int, typer.Option("--k", min=1, max=50, help="Evidence sentences to return")] = 5,
    output: Annotated[str, typer.Option("--output", help="table or json")] = "table",
    lake: LakeOption = None,
) -> None:
    """Answer a question about a product from its reviews (no Spark): yes/no, choice, open or knowledge."""
    from queries.ask import open_answerer

    if output not in {"table", "json"}:
        raise UserError(f"--output must be table or json, not {output!r}")
    if len(words) > 2:
        raise UserError("quote the question: reviewlake ask PRODUCT \"does it run quiet?\"")
    product, question = (words[0], words[1]) if len(words) == 2 else (None, words[0])
    started = time.perf_counter()
    answerer = open_answerer(_config(lake).lake)
    answerer.resolve(product) if product else None   # an unknown product is a user error before any loading
    loaded = time.perf_counter()
    result = answerer.ask(product, question, k, session)
    answered = time.perf_counter()
    if output == "json":
        sys.stdout.write(json.dumps(result, default=str) + "\n")
        return
    _print_answer(result)
    console.print(f"opened in {loaded - started:.2f}s, answered in {(answered - loaded) * 1000:.0f} ms "
                  "(a product's first question includes reading its sentences)")


@app.command()
def product(
    product_id: Annotated[str, typer.Argument(help="A product_id of silver.products")],
    lake: LakeOption = None,
) -> None:
    """Print a product's card as JSON (what GET /products/ID of `reviewlake serve` returns; no Spark)."""
    from queries.products import product_card
    from queries.snapshot import load_snapshot

    sys.stdout.write(json.dumps(product_card(load_snapshot(_config(lake).lake), product_id), default=str) + "\n")


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port")] = 8000,
    refresh: Annotated[float, typer.Option("--refresh", min=0.5, help="Seconds between checks for new table "
                                                                      "versions")] = 5.0,
    lake: LakeOption = None,
) -> None:
    """Read-only product API and explorer page (OpenAPI docs at /docs); picks up new table versions itself."""
    import uvicorn

    from queries.api import create_app

    application = create_app(_config(lake).lake, refresh)   # a lake with nothing to serve fails here, exit 2
    _say(f"serving {_config(lake).lake} on http://{host}:{port}/ (explorer), /docs (OpenAPI); Ctrl-C stops")
    uvicorn.run(application, host=host, port=port, log_level="warning")


def _print_answer(result: dict) -> None:
    title = f" ({result['product_title']})" if result.get("product_title") else ""
    _say(f"{result['product_id']}{title}: {result['question']}")
    kind = result["question_type"] + (f"/{result['intent']}" if result.get("intent") else "")
    aspect = f", aspect: {result['aspect']}" if result.get("aspect") else ""
    _say(f"[{kind}{aspect}] {result['answer']}  (confidence {result['confidence']:.2f})")
    if result.get("support"):
        _say("support: " + json.dumps(result["support"], default=str))
    for candidate in result.get("candidates") or []:
        _say(f"  - {candidate}")
    for value in result.get("values") or []:
        _say(f"  value: {value['value']} ({value['n_sentences']} sentences)")
    if result.get("facts") and result["question_type"] == "knowledge":
        _say("facts: " + json.dumps(result["facts"], default=str))
    if result.get("evidence"):
        out = Table(caption="evidence")
        for column in ("review_id", "review_date", "stance", "sentence"):
            out.add_column(column)
        for e in result["evidence"]:
            out.add_row(str(e["review_id"]), str(e["review_date"]), e["stance"], e["sentence"])
        console.print(out)
    if result.get("follow_up_of"):
        _say(f"(follow-up of: {result['follow_up_of']})")


def _print_frame(frame, output: str, max_rows: int = 50) -> None:
    if output == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif output == "json":
        sys.stdout.write(frame.to_json(orient="records", lines=True, date_format="iso"))
    elif output == "table":
        out = Table(caption=f"{len(frame):,} row(s)")
        for column in frame.columns:
            out.add_column(str(column))
        for row in frame.head(max_rows).itertuples(index=False):
            out.add_row(*("" if v is None else str(v) for v in row))
        console.print(out)
    else:
        raise UserError(f"--output must be table, csv or json, not {output!r}")


@app.command("submit-args")
def submit_args(app_name: Annotated[str, typer.Option(help="spark.app.name")] = "reviewlake") -> None:
    """Print the spark-submit options (jars and conf) the session factory would use, one per line."""
    from reviewlake.spark import spark_conf

    config = load_config()
    conf = spark_conf(config, app_name)
    if "spark.jars" in conf:
        console.print(f"--jars\n{conf.pop('spark.jars')}")
    else:
        console.print(f"--packages\n{conf.pop('spark.jars.packages')}")
        console.print(f"--exclude-packages\n{conf.pop('spark.jars.excludes')}")
    console.print(f"--master\n{conf.pop('spark.master')}")
    for key, value in conf.items():
        console.print(f"--conf\n{key}={value}")


catalog_app = typer.Typer(no_args_is_help=True, help="The Spark SQL catalog over the lake (Hive metastore "
                                                        "under <lake>/_catalog/).")
app.add_typer(catalog_app, name="catalog")


@catalog_app.command("sync")
def catalog_sync(lake: LakeOption = None) -> None:
    """Register every lake table (one database per layer, USING DELTA LOCATION) and the analyst views;
    idempotent."""
    from reviewlake.catalog import catalog_config, sync_catalog
    from reviewlake.spark import get_spark

    config = catalog_config(_config(lake))
    outcome = sync_catalog(get_spark(config, "reviewlake-catalog"), config.lake)
    for what, names in outcome.items():
        _say(f"{what}: {len(names)}" + (f" ({', '.join(names)})" if names and what != "unchanged" else ""))


@catalog_app.command("sql")
def catalog_sql(
    statement: Annotated[str, typer.Argument(help="Spark SQL over the catalog, e.g. SELECT * FROM "
                                                  "analyst.product_scorecard")],
    limit: Annotated[int, typer.Option("--limit", min=1, help="Rows to print")] = 50,
    output: Annotated[str, typer.Option("--output", help="table, csv or json")] = "table",
    lake: LakeOption = None,
) -> None:
    """Run Spark SQL against the synced catalog (what the Thrift server answers)."""
    from pyspark.errors import PySparkException

    from reviewlake.catalog import catalog_config
    from reviewlake.spark import get_spark

    if output not in {"table", "csv", "json"}:
        raise UserError(f"--output must be table, csv or json, not {output!r}")
    spark = get_spark(catalog_config(_config(lake)), "reviewlake-catalog")
    try:
        frame = spark.sql(statement).limit(limit).toPandas()
    except PySparkException as error:
        raise UserError(f"Spark SQL error: {str(error).splitlines()[0]}") from None
    _print_frame(frame, output)


@catalog_app.command("thriftserver")
def catalog_thriftserver(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="JDBC port")] = 10000,
    host: Annotated[str, typer.Option("--host", help="Interface to bind")] = "127.0.0.1",
    lake: LakeOption = None,
) -> None:
    """Start the Spark Thrift server (JDBC, HiveServer2 protocol) on the synced catalog, in the foreground."""
    import os

    from pyspark.find_spark_home import _find_spark_home

    from reviewlake.catalog import catalog_config
    from reviewlake.spark import ensure_jars, spark_conf

    config = catalog_config(_config(lake))
    ensure_jars(config)    # a class path needs jar files, not Maven coordinates
    conf = spark_conf(config, "reviewlake-thriftserver")
    arguments = [str(Path(_find_spark_home()) / "bin" / "spark-submit"), "--class",
                 "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2", "--master", conf.pop("spark.master")]
    if "spark.jars" in conf:
        jars = conf.pop("spark.jars")
        # The server opens each JDBC session on a thread whose class loader does not see --jars (Delta's
        # catalog then fails to load, delta-io/delta#1332): the jars go on the driver's own class path too.
        arguments += ["--jars", jars, "--driver-class-path", jars.replace(",", ":")]
    for key, value in conf.items():
        arguments += ["--conf", f"{key}={value}"]
    arguments += ["--hiveconf", f"hive.server2.thrift.port={port}", "--hiveconf",
                  f"hive.server2.thrift.bind.host={host}", "spark-internal"]
    _say(f"Thrift server on jdbc:hive2://{host}:{port}/ (e.g. beeline -u jdbc:hive2://{host}:{port}/ -e "
         "\"SELECT * FROM analyst.product_scorecard LIMIT 5\"); Ctrl-C stops")
    os.execv(arguments[0], arguments)


cluster_app = typer.Typer(no_args_is_help=True, help="A Spark standalone cluster on 127.0.0.1 (master + workers "
                          "from the pip pyspark), and the stages submitted to a cluster with spark-submit.")
app.add_typer(cluster_app, name="cluster")
ClusterDirOption = Annotated[Path | None, typer.Option(
    "--dir", help="State and logs of the local cluster (default <cache>/cluster)")]


def _cluster_root(directory: Path | None) -> Path:
    from reviewlake.cluster import DEFAULT_ROOT_NAME

    return directory or load_config().cache_dir / DEFAULT_ROOT_NAME


@cluster_app.command("start")
def cluster_start(
    workers: Annotated[int, typer.Option(min=1, max=16, help="Worker processes")] = 2,
    cores: Annotated[int, typer.Option(min=1, help="Cores per worker")] = 1,
    memory: Annotated[str, typer.Option(help="Memory per worker (executors included), e.g. 3g")] = "3g",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Master port")] = 7077,
    web_port: Annotated[int, typer.Option("--web-port", min=1, max=65535, help="Master web UI port")] = 8080,
    directory: ClusterDirOption = None,
) -> None:
    """Start a master and workers on 127.0.0.1 in the background; prints the master URL."""
    from reviewlake.cluster import start_cluster

    _exit_on_error(lambda: start_cluster(_cluster_root(directory), workers, cores, memory, port, web_port,
                                         say=_say))


@cluster_app.command("stop")
def cluster_stop(directory: ClusterDirOption = None) -> None:
    """Stop the local cluster (workers and their executors, then the master)."""
    from reviewlake.cluster import stop_cluster

    if not stop_cluster(_cluster_root(directory), say=_say):
        _say("no local cluster was running")


@cluster_app.command("status")
def cluster_status(directory: ClusterDirOption = None) -> None:
    """Master URL, alive workers and running applications of the local cluster."""
    from reviewlake.cluster import cluster_state, master_status

    state = cluster_state(_cluster_root(directory))
    if state is None:
        _say("no local cluster is running")
        raise typer.Exit(1)
    status = master_status(state.web_url)
    _say(f"{state.master_url}: {status.get('aliveworkers', '?')} workers alive, {status.get('cores', '?')} cores, "
         f"{len(status.get('activeapps', []))} running applications; web UI {state.web_url}")


@cluster_app.command("run")
def cluster_run(
    inputs: InputOption = None,
    fmt: FormatOption = "auto",
    products: ProductsOption = None,
    stages: StagesOption = None,
    run_date: RunDateOption = None,
    sentiment_tier: TierOption = None,
    master: Annotated[str | None, typer.Option(
        help="Spark master URL (spark://host:7077, yarn, k8s://...); default: the local cluster's")] = None,
    executor_memory: Annotated[str, typer.Option("--executor-memory", help="Memory per executor")] = "2g",
    lake: LakeOption = None,
    directory: ClusterDirOption = None,
) -> None:
    """Run stages as separate spark-submit applications on a cluster (what the DAGs do), stopping at a failure."""
    import subprocess

    from reviewlake.cluster import cluster_state, submit_command, submit_environment
    from reviewlake.pipeline import new_run_id, parse_stages

    def execute() -> None:
        config = _config(lake)
        url = master
        if url is None:
            state = cluster_state(_cluster_root(directory))
            if state is None:
                raise UserError("no local cluster is running: start one (reviewlake cluster start) or pass --master")
            url = state.master_url
        chosen = parse_stages(stages)
        date_text = _parse_run_date(run_date).isoformat()
        if "ingest" in chosen:
            from jobs.ingest import plan_inputs

            plan_inputs(tuple(inputs or ()), fmt, {})    # user mistakes fail here, before any submission
        run_id = new_run_id()
        common = [f"--lake={config.lake.resolve()}", f"--run-date={date_text}", f"--run-id={run_id}",
                  f"--pipeline-stages={','.join(chosen)}"]
        specific = {"ingest": [f"--input={path}" for path in inputs or ()] + [f"--format={fmt}"]
                    + ([f"--products={products}"] if products else []),
                    "sentiment": [f"--sentiment-tier={sentiment_tier}"] if sentiment_tier else []}
        for stage in chosen:
            started = time.perf_counter()
            _say(f"[{stage}] spark-submit to {url}")
            done = subprocess.run(submit_command(config, url, stage, common + specific.get(stage, []),
                                                 executor_memory), env=submit_environment(url))
            if done.returncode == 2:     # the stage refused a user mistake and said which above
                raise UserError(f"stage '{stage}' refused its input (see above); nothing later was submitted")
            if done.returncode != 0:
                raise PipelineFailure(stage, f"spark-submit exited with {done.returncode}")
            _say(f"[{stage}] application finished in {time.perf_counter() - started:.1f}s")
        _say(f"run {run_id}: {len(chosen)} stages on {url}")

    _exit_on_error(execute)


# An orchestrated stage waits for the lake (the nightly and a manual run queue up); a CLI run refuses at once.
DEFAULT_STAGE_LOCK_WAIT_S = 4 * 3600.0


def run_stage_main(stage: str, argv: list[str] | None = None) -> None:
    """Entry point of `spark-submit jobs/<stage>.py ...`: one stage, same ledger and exit codes as the CLI."""
    import argparse

    parser = argparse.ArgumentParser(prog=f"jobs/{stage}.py", description=f"Run the {stage} stage once.")
    parser.add_argument("--input", action="append", default=[], help="file, directory or glob (repeatable)")
    parser.add_argument("--format", default="auto")
    parser.add_argument("--products")
    parser.add_argument("--lake")
    parser.add_argument("--run-date")
    parser.add_argument("--run-id")
    parser.add_argument("--sentiment-tier")
    parser.add_argument("--sentiment-model")
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--backfill-from")
    parser.add_argument("--backfill-to")
    parser.add_argument("--pipeline-stages", default="",
                        help="all stages of this orchestrated run: on failure its dependants are recorded as skipped")
    parser.add_argument("--lock-wait-s", type=float, default=DEFAULT_STAGE_LOCK_WAIT_S,
                        help="seconds to wait while another run writes the lake (orchestrated stages queue up)")
    args = parser.parse_args(argv)

    def execute() -> None:
        from reviewlake.pipeline import downstream_stages, parse_stages

        config = load_config().with_lake(args.lake)
        within = parse_stages(args.pipeline_stages) if args.pipeline_stages else ()
        _run(config, tuple(args.input), args.format, args.products or None, stage, args.run_date or None,
             {k: getattr(args, k) for k in STAGE_OPTIONS}, run_id=args.run_id,
             skip_on_failure=downstream_stages(stage, within) if within else (), lock_wait_s=args.lock_wait_s)

    _exit_on_error(execute)


def _exit_on_error(action: Callable[[], object]) -> None:
    try:
        action()
    except UserError as error:
        err_console.print(f"error: {error}", markup=False, soft_wrap=True)
        sys.exit(2)
    except PipelineFailure as error:
        err_console.print(f"pipeline failed: {error} (recorded in ops.pipeline_runs)", markup=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


def main() -> None:
    """Console-script entry: map exceptions to exit codes and one-line messages."""
    _exit_on_error(app)


if __name__ == "__main__":
    main()

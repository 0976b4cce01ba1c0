"""`reviewlake report`: one self-contained HTML file about the lake and its latest run (no Spark).

Charts are Vega-Lite specifications built with Altair and drawn in the page by Vega, whose scripts are
inlined (fetched once from the npm registry into the cache by `reviewlake report-assets`, which ./dev runs):
the file has no external URL and opens offline. The page is a Jinja2 template. A section whose tables do not
exist yet says which stage builds them.
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import altair as alt
import pandas as pd

from queries.sql import query
from reviewlake.errors import UserError
from reviewlake.tables import REGISTRY

TEMPLATE = Path(__file__).parent / "templates" / "report.html"
# The Vega family Altair 6 targets (alt.VEGA_VERSION, VEGALITE_VERSION, VEGAEMBED_VERSION); pinned.
VEGA_SCRIPTS = (("vega", "6.4.0"), ("vega-lite", "6.4.1"), ("vega-embed", "7.3.0"))
LABELS = ("negative", "neutral", "positive")
LABEL_COLORS = alt.Scale(domain=list(LABELS), range=["#c53030", "#a0aec0", "#2f855a"])


def vega_script_paths(cache_dir: Path) -> list[Path]:
    return [cache_dir / "vega" / f"{name}-{version}.min.js" for name, version in VEGA_SCRIPTS]


def fetch_vega_scripts(cache_dir: Path) -> list[Path]:
    """The Vega scripts in the cache, fetched with `npm pack` the first time (a clear error without npm)."""
    paths = vega_script_paths(cache_dir)
    missing = [(spec, path) for spec, path in zip(VEGA_SCRIPTS, paths, strict=True) if not path.exists()]
    if not missing:
        return paths
    npm = shutil.which("npm")
    if npm is None:
        raise UserError("the report's chart scripts are not cached and npm is not installed: install Node.js "
                        "and npm, then run `reviewlake report-assets`")
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        for (name, version), path in missing:
            done = subprocess.run([npm, "pack", f"{name}@{version}", "--silent", "--pack-destination", scratch],
                                  capture_output=True, text=True, timeout=300)
            if done.returncode != 0:
                raise UserError(f"npm pack {name}@{version} failed: {done.stderr.strip().splitlines()[-1:]}")
            with tarfile.open(Path(scratch) / done.stdout.strip().splitlines()[-1]) as archive:
                member = archive.extractfile(f"package/build/{name}.min.js")
                if member is None:
                    raise UserError(f"{name}@{version} has no build/{name}.min.js")
                partial = path.with_suffix(".part")
                partial.write_bytes(member.read())
                partial.replace(path)
    return paths


@dataclass
class Section:
    anchor: str
    title: str
    intro: str = ""
    missing: str = ""                                   # set when the section's tables are not built yet
    charts: list[tuple[str, dict]] = field(default_factory=list)   # (caption, Vega-Lite spec)
    tables: list[tuple[str, str]] = field(default_factory=list)    # (caption, HTML table)
    links: list[tuple[str, str]] = field(default_factory=list)     # (text, href)


class LakeReader:
    """Which tables exist and SQL over them (DuckDB over delta-rs)."""

    def __init__(self, lake: Path) -> None:
        self.lake = lake

    def exists(self, *names: str) -> bool:
        return all((REGISTRY[n].path(self.lake) / "_delta_log").is_dir() for n in names)

    def missing(self, names: tuple[str, ...], builder: str) -> str:
        """'' when every table exists, else which do not and what builds them."""
        absent = [n for n in names if not self.exists(n)]
        return f"{', '.join(absent)} not built yet: run {builder}." if absent else ""

    def sql(self, text: str) -> pd.DataFrame:
        return query(self.lake, text).to_pandas()


def _table(frame: pd.DataFrame, max_chars: int = 160) -> str:
    shown = frame.copy()
    for column in shown.columns:
        if shown[column].dtype == object:
            shown[column] = shown[column].map(lambda v: v if not isinstance(v, str) or len(v) <= max_chars
                                              else v[:max_chars - 1] + "…")
    return shown.to_html(index=False, border=0, classes="data", na_rep="-", float_format=lambda v: f"{v:,.3f}",
                         escape=True)


def _spec(chart: alt.TopLevelMixin) -> dict:
    return chart.to_dict()


def runs_section(reader: LakeReader) -> Section:
    section = Section("runs", "Latest run: stage timeline")
    section.missing = reader.missing(("ops.pipeline_runs",), "the pipeline")
    if section.missing:
        return section
    runs = reader.sql("select * from ops.pipeline_runs order by started_at")
    latest = runs.groupby("run_id")["started_at"].max().idxmax()
    run = runs[runs["run_id"] == latest].copy()
    section.intro = (f"Run {html.escape(str(latest))}: {len(run)} stage(s), "
                     f"{run['status'].value_counts().to_dict()}, {run['duration_s'].sum():,.1f} s of stage time.")
    timeline = alt.Chart(run[["job", "status", "started_at", "ended_at", "duration_s"]]).mark_bar().encode(
        x=alt.X("started_at:T", title="time (UTC)"), x2="ended_at:T",
        y=alt.Y("job:N", sort=alt.EncodingSortField("started_at"), title=None),
        color=alt.Color("status:N", scale=alt.Scale(domain=["succeeded", "failed", "skipped", "running"],
                                                    range=["#2f855a", "#c53030", "#a0aec0", "#3182ce"])),
        tooltip=["job", "status", alt.Tooltip("duration_s:Q", format=",.1f")]).properties(width=700)
    section.charts.append(("Stages of the latest run (bar = start to end)", _spec(timeline)))
    section.tables.append(("Stages", _table(run[["job", "status", "duration_s", "rows_in", "rows_out",
                                                 "rows_quarantined", "message"]])))
    history = runs.groupby("run_id").agg(started=("started_at", "min"), stages=("job", "size"),
                                         failed=("status", lambda s: int((s == "failed").sum())),
                                         seconds=("duration_s", "sum")).sort_values("started").tail(10)
    section.tables.append(("The last 10 runs", _table(history.reset_index())))
    return section


def funnel_section(reader: LakeReader) -> Section:
    section = Section("funnel", "Row funnel: bronze → silver, quarantine by reason")
    names = ("bronze.reviews_raw", "silver.reviews", "silver.quarantine")
    section.missing = reader.missing(names, "the ingest and clean stages")
    if section.missing:
        return section
    counts = reader.sql("select (select count(*) from bronze.reviews_raw) as bronze, "
                        "(select count(*) from silver.reviews) as silver, "
                        "(select count(*) from silver.quarantine) as quarantined").iloc[0]
    duplicates = int(counts["bronze"] - counts["silver"] - counts["quarantined"])
    section.intro = (f"{int(counts['bronze']):,} raw lines → {int(counts['silver']):,} reviews in silver, "
                     f"{int(counts['quarantined']):,} quarantined, {duplicates:,} collapsed as duplicates or "
                     "superseded versions (raw − silver − quarantined).")
    funnel = pd.DataFrame({"step": ["bronze lines", "silver reviews", "quarantined", "duplicates/versions"],
                           "rows": [int(counts["bronze"]), int(counts["silver"]), int(counts["quarantined"]),
                                    duplicates]})
    section.charts.append(("Rows per step", _spec(alt.Chart(funnel).mark_bar().encode(
        x=alt.X("rows:Q"), y=alt.Y("step:N", sort=None, title=None), tooltip=["step", "rows"]).properties(width=600))))
    reasons = reader.sql("select reason_code, count(*) as n from silver.quarantine group by 1 order by 2 desc")
    if len(reasons):
        section.charts.append(("Quarantine by reason", _spec(alt.Chart(reasons).mark_bar(color="#c05621").encode(
            x="n:Q", y=alt.Y("reason_code:N", sort="-x", title=None), tooltip=["reason_code", "n"])
            .properties(width=600))))
    return section


def quality_section(reader: LakeReader) -> Section:
    from expectations.gate import data_docs_index

    section = Section("quality", "Quality gate")
    section.missing = reader.missing(("ops.pipeline_runs",), "the quality stage")
    if section.missing:
        return section
    gates = reader.sql("select run_id, status, started_at, message, details from ops.pipeline_runs "
                       "where job = 'quality' order by started_at desc limit 5")
    if gates.empty:
        section.missing = "the quality stage has not run on this lake yet."
        return section
    latest = gates.iloc[0]
    section.intro = f"Latest gate ({latest['run_id']}): {latest['status']} — {html.escape(str(latest['message']))}"
    details = json.loads(latest["details"] or "{}")
    results = details.get("expectations") or details.get("results")
    if isinstance(results, list) and results and isinstance(results[0], dict):
        section.tables.append(("Expectations of the latest gate", _table(pd.DataFrame(results))))
    else:
        flat = pd.DataFrame([{"detail": k, "value": json.dumps(v, default=str)[:200]} for k, v in details.items()])
        section.tables.append(("Details recorded by the latest gate", _table(flat)))
    section.tables.append(("Recent gates", _table(gates[["run_id", "status", "started_at", "message"]])))
    docs = data_docs_index(reader.lake)
    if docs.exists():
        section.links.append(("Great Expectations Data Docs (this lake)", docs.resolve().as_uri()))
    return section


def sentiment_section(reader: LakeReader) -> Section:
    section = Section("sentiment", "Sentiment mix per category and over time")
    section.missing = reader.missing(("gold.review_sentiment", "silver.reviews"), "the sentiment stage")
    if section.missing:
        return section
    mix = reader.sql("select coalesce(r.category, 'unknown') as category, s.label, count(*) as reviews "
                     "from gold.review_sentiment s join silver.reviews r using (review_id) group by 1, 2")
    section.charts.append(("Share of each label per category", _spec(alt.Chart(mix).mark_bar().encode(
        x=alt.X("sum(reviews):Q", stack="normalize", title="share of reviews"),
        y=alt.Y("category:N", title=None), color=alt.Color("label:N", scale=LABEL_COLORS),
        tooltip=["category", "label", "reviews"]).properties(width=600))))
    monthly = reader.sql("select date_trunc('month', r.review_date) as month, s.label, count(*) as reviews "
                         "from gold.review_sentiment s join silver.reviews r using (review_id) "
                         "where r.review_date is not null group by 1, 2 order by 1")
    section.charts.append(("Monthly share of each label", _spec(alt.Chart(monthly).mark_area().encode(
        x=alt.X("month:T", title=None), y=alt.Y("reviews:Q", stack="normalize", title="share of reviews"),
        color=alt.Color("label:N", scale=LABEL_COLORS), tooltip=["month:T", "label", "reviews"])
        .properties(width=700, height=220))))
    models = reader.sql("select model_version, count(*) as reviews from gold.review_sentiment group by 1")
    section.intro = "Labels written by: " + ", ".join(f"{m} ({n:,} reviews)" for m, n in
                                                     zip(models["model_version"], models["reviews"], strict=True))
    return section


def models_section(reader: LakeReader) -> Section:
    section = Section("models", "Model metrics")
    section.missing = reader.missing(("ops.model_metrics",), "the sentiment, recommend or similarity stage")
    if section.missing:
        return section
    metrics = reader.sql("select * from ops.model_metrics")
    latest = metrics.sort_values("computed_at").groupby(["model", "metric"], as_index=False).last()
    sentiment = latest[latest["model"].str.startswith("sentiment.")]
    scores = sentiment[sentiment["metric"].isin(["macro_f1", "binary_macro_f1", "cohen_kappa"])]
    if len(scores):
        section.charts.append(("Sentiment candidates on the time-split hold-out (latest training)", _spec(
            alt.Chart(scores).mark_bar().encode(x=alt.X("value:Q", scale=alt.Scale(domain=[0, 1])),
                                                y=alt.Y("model:N", title=None), color="model:N",
                                                row=alt.Row("metric:N", title=None),
                                                tooltip=["model", "metric", alt.Tooltip("value:Q", format=".3f")])
            .properties(width=500))))
    confusion = sentiment[sentiment["metric"].str.startswith("confusion.")].copy()
    if len(confusion):
        parts = confusion["metric"].str.split(".", expand=True)
        confusion = confusion.assign(true=parts[1], predicted=parts[2])
        section.charts.append(("Confusion matrices (rows: stars, columns: predicted)", _spec(
            alt.Chart(confusion).mark_rect().encode(
                x=alt.X("predicted:N", sort=list(LABELS)), y=alt.Y("true:N", sort=list(LABELS)),
                color=alt.Color("value:Q", scale=alt.Scale(scheme="blues"), title="reviews"),
                column=alt.Column("model:N", title=None), tooltip=["model", "true", "predicted", "value"])
            .properties(width=150, height=150))))
    recommend = latest[latest["model"].str.startswith("recommend.") &
                       latest["metric"].isin(["ndcg_at_10", "recall_at_20", "catalogue_coverage"])]
    if len(recommend):
        section.charts.append(("Recommendations: ALS against popularity on held-out newest interactions", _spec(
            alt.Chart(recommend).mark_bar().encode(x=alt.X("model:N", title=None), y="value:Q", color="model:N",
                                                   column=alt.Column("metric:N", title=None),
                                                   tooltip=["model", "metric", alt.Tooltip("value:Q", format=".4f")])
            .properties(width=140))))
    other = latest[~latest["model"].str.startswith(("sentiment.", "recommend."))]
    if len(other):
        section.tables.append(("Other models (similarity index, aspect models, ...)",
                               _table(other[["model", "metric", "value", "dataset", "computed_at"]])))
    section.tables.append(("Sentiment candidates", _table(
        sentiment[~sentiment["metric"].str.startswith("confusion.")]
        .pivot_table(index="model", columns="metric", values="value").reset_index())))
    return section


def products_section(reader: LakeReader, top: int = 10) -> Section:
    section = Section("products", f"Top {top} products by reviews")
    section.missing = reader.missing(("gold.product_summaries",), "the summarize stage")
    if section.missing:
        return section
    products = reader.sql(f"select * from gold.product_summaries order by n_reviews desc, product_id limit {top}")
    titles = reader.sql("select product_id, title, category from silver.products") \
        if reader.exists("silver.products") else pd.DataFrame(columns=["product_id", "title", "category"])
    tags = reader.sql("select product_id, tag, tag_sentiment from gold.product_tags") \
        if reader.exists("gold.product_tags") else pd.DataFrame(columns=["product_id", "tag", "tag_sentiment"])
    rows = []
    for product in products.merge(titles, on="product_id", how="left").itertuples():
        mine = tags[tags["product_id"] == product.product_id].head(6)
        rows.append({"product": f"{product.title or product.product_id} ({product.product_id}, {product.category})",
                     "reviews": product.n_reviews, "rating": product.avg_rating, "summary": product.summary,
                     "pros": " | ".join(product.pros if product.pros is not None else []),
                     "cons": " | ".join(product.cons if product.cons is not None else []),
                     "tags": ", ".join(f"{t} ({s:+.2f})" for t, s in zip(mine["tag"], mine["tag_sentiment"],
                                                                        strict=True))})
    section.tables.append(("Summary, pros and cons, tags (sentiment)", _table(pd.DataFrame(rows), 400)))
    return section


def tags_section(reader: LakeReader, per_category: int = 5) -> Section:
    section = Section("tags", "Tag vocabulary: most discussed and most negative per category")
    section.missing = reader.missing(("gold.tag_vocabulary",), "the tags stage")
    if section.missing:
        return section
    vocabulary = reader.sql("select * from gold.tag_vocabulary")
    discussed = vocabulary[vocabulary["rank_discussed"] <= per_category].sort_values(["category", "rank_discussed"])
    negative = vocabulary[vocabulary["rank_negative"] <= per_category].sort_values(["category", "rank_negative"])
    section.charts.append(("Most discussed tags and their sentiment", _spec(alt.Chart(discussed).mark_bar().encode(
        x=alt.X("n_products:Q", title="products tagged"), y=alt.Y("tag:N", sort="-x", title=None),
        color=alt.Color("sentiment:Q", scale=alt.Scale(scheme="redyellowgreen", domain=[-1, 1])),
        row=alt.Row("category:N", title=None), tooltip=["category", "tag", "n_products", "n_mentions", "sentiment"])
        .properties(width=420))))
    section.tables.append(("Most negative tags (share of products where the tag is negative)", _table(
        negative[["category", "rank_negative", "tag", "share_products_negative", "sentiment", "n_products"]])))
    return section


def anomalies_section(reader: LakeReader, charts: int = 6, history_days: int = 120) -> Section:
    section = Section("anomalies", "This week's anomalies")
    section.missing = reader.missing(("gold.metric_anomalies",), "the anomalies stage")
    if section.missing:
        return section
    last = reader.sql("select max(period_start) as last from gold.metric_anomalies")["last"].iloc[0]
    if pd.isna(last):
        section.missing = "gold.metric_anomalies is empty."
        return section
    since = (pd.Timestamp(last) - timedelta(days=6)).date()
    flagged = reader.sql("select entity_type, entity_id, metric, period_start, value, expected, score "
                         f"from gold.metric_anomalies where is_anomaly and period_start >= date '{since}' "
                         "order by entity_type, score desc")
    section.intro = (f"{len(flagged):,} flagged period(s) from {since} to {pd.Timestamp(last).date()} "
                     "(category series first, then products, highest score first).")
    if flagged.empty:
        return section
    section.tables.append(("Flagged periods", _table(flagged.head(50))))
    start = (pd.Timestamp(last) - timedelta(days=history_days)).date()
    for row in flagged.drop_duplicates(["entity_type", "entity_id", "metric"]).head(charts).itertuples():
        quoted = {k: str(v).replace("'", "''") for k, v in
                  (("type", row.entity_type), ("id", row.entity_id), ("metric", row.metric))}
        series = reader.sql("select period_start, value, expected, is_anomaly from gold.metric_anomalies "
                            f"where entity_type = '{quoted['type']}' and entity_id = '{quoted['id']}' "
                            f"and metric = '{quoted['metric']}' and period_start >= date '{start}' order by 1")
        section.charts.append((f"{row.entity_type} {row.entity_id}: {row.metric} (dashed: expected, red: flagged)",
                               _spec(anomaly_series_chart(series, row.metric))))
    return section


def anomaly_series_chart(series: pd.DataFrame, metric: str, width: int = 700, height: int = 160) -> alt.LayerChart:
    """One series of gold.metric_anomalies (period_start, value, expected, is_anomaly): the value, the expected
    baseline dashed, flagged periods as red points (periods without a value have no point)."""
    base = alt.Chart(series).encode(x=alt.X("period_start:T", title=None))
    return (base.mark_line(color="#4a5568").encode(y=alt.Y("value:Q", title=metric))
            + base.mark_line(strokeDash=[4, 3], color="#a0aec0").encode(y="expected:Q")
            + base.transform_filter("datum.is_anomaly").mark_point(color="#c53030", size=80, filled=True)
            .encode(y="value:Q", tooltip=["period_start:T", "value", "expected"])).properties(width=width,
                                                                                             height=height)


def clusters_section(reader: LakeReader) -> Section:
    section = Section("clusters", "Review-trend shape clusters")
    section.missing = reader.missing(("gold.product_ts_clusters",), "the anomalies stage")
    if section.missing:
        return section
    clusters = reader.sql("select cluster, any_value(description) as description, count(*) as products, "
                          "any_value(silhouette) as silhouette from gold.product_ts_clusters group by 1 order by 1")
    section.charts.append(("Products per shape cluster", _spec(alt.Chart(clusters).mark_bar().encode(
        x="products:Q", y=alt.Y("description:N", title=None, sort="-x"), tooltip=["cluster", "products"])
        .properties(width=500))))
    section.tables.append(("Clusters", _table(clusters)))
    return section


SECTIONS = (runs_section, funnel_section, quality_section, sentiment_section, models_section, products_section,
            tags_section, anomalies_section, clusters_section)


def render(title: str, sections: list[Section], cache_dir: Path) -> str:
    """The self-contained page of these sections (the report's template, the Vega scripts inlined)."""
    from jinja2 import Environment, select_autoescape

    scripts = [p.read_text() for p in fetch_vega_scripts(cache_dir)]
    charts = [(f"chart-{i}-{j}", spec) for i, s in enumerate(sections) for j, (_, spec) in enumerate(s.charts)]
    environment = Environment(autoescape=select_autoescape(["html"]))
    return environment.from_string(TEMPLATE.read_text()).render(
        title=title, generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), sections=sections,
        scripts=[s.replace("</script", "<\\/script") for s in scripts],
        specs={chart_id: json.dumps(spec, default=str).replace("</", "<\\/") for chart_id, spec in charts})


def chart_page(title: str, charts: list[tuple[str, alt.TopLevelMixin]], cache_dir: Path) -> str:
    """A standalone page of a few charts (bench/anomaly_plot.py)."""
    return render(title, [Section("charts", title, charts=[(c, _spec(chart)) for c, chart in charts])], cache_dir)


def build_report(lake: str | Path, out: str | Path, cache_dir: Path) -> dict:
    """Write the report of `lake` to `out`; returns {path, bytes, seconds, sections, missing}."""
    lake, out = Path(lake), Path(out)
    if not lake.is_dir():
        raise UserError(f"lake {lake} does not exist")
    started = time.perf_counter()
    reader = LakeReader(lake)
    sections = [build(reader) for build in SECTIONS]
    page = render(f"reviewlake run report: {lake.name}", sections, cache_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    partial.write_text(page)
    partial.replace(out)
    return {"path": str(out), "bytes": out.stat().st_size, "seconds": round(time.perf_counter() - started, 2),
            "sections": len(sections), "missing": [s.title for s in sections if s.missing]}

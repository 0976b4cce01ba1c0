"""What the Airflow DAGs call: stage graph, spark-submit settings, checked inputs, a one-line failure log.

Nothing here imports Airflow or Spark at module level, and nothing at import reads files, so DAG files that
import it parse fast; the functions that read the jar cache or the disk run inside tasks only.
"""

from __future__ import annotations

import glob
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from reviewlake.errors import UserError
from reviewlake.inputs import resolve_inputs
from reviewlake.pipeline import (
    STAGE_MODULES,
    STAGE_OUTPUTS,
    implemented_stages,
    upstream_stages,
)
from reviewlake.spark import LOG4J_CONFIG

REPO = Path(__file__).resolve().parents[1]
SPARK_CONN_ID = "spark_local"
ALLOWED_ROOT_ENV = "REVIEWLAKE_ALLOWED_INPUT_ROOT"
INPUT_FORMATS = ("auto", "amazon2014", "amazon2018", "amazon2023", "csv")
SENTIMENT_TIERS = ("fast", "transformer", "auto")
GLOB_CHARACTERS = set("*?[")
log = logging.getLogger("reviewlake")


def dag_stages() -> tuple[str, ...]:
    """Stages the DAGs wire in: every implemented stage, in pipeline order."""
    return implemented_stages()


def stage_graph() -> dict[str, tuple[str, ...]]:
    """stage -> the stages it waits for, among the implemented ones."""
    stages = dag_stages()
    return {stage: upstream_stages(stage, stages) for stage in stages}


def gold_outputs(stage: str) -> tuple[str, ...]:
    return tuple(t for t in STAGE_OUTPUTS[stage] if t.startswith("gold."))


def stage_application(stage: str) -> str:
    """The job file spark-submit runs for a stage."""
    return str(REPO / (STAGE_MODULES[stage].replace(".", "/") + ".py"))


def lake_root() -> Path:
    return Path(os.environ.get("REVIEWLAKE_LAKE", REPO / "lake")).expanduser().resolve()


def allowed_input_root() -> Path:
    """Inputs of the manual DAG must resolve inside this directory ($REVIEWLAKE_ALLOWED_INPUT_ROOT, or data/)."""
    return Path(os.environ.get(ALLOWED_ROOT_ENV, REPO / "data")).expanduser().resolve()


def spark_submit_jars() -> str:
    """Comma-separated Delta jars for --jars (resolved into the cache once, offline afterwards)."""
    from reviewlake.config import load_config
    from reviewlake.spark import ensure_jars

    return ",".join(ensure_jars(load_config()))


def spark_code_archive() -> str:
    """The project's code as a zip under the cache (built once per code version), shipped to the executors."""
    from reviewlake.cluster import code_archive
    from reviewlake.config import load_config

    return str(code_archive(load_config()))


def spark_driver_memory() -> str:
    """Driver memory for spark-submit (client mode starts the driver JVM before the session factory runs)."""
    from reviewlake.config import load_config

    return load_config().spark.driver_memory


def resolve_input(path: str | None, allowed_root: Path | None = None) -> str:
    """A user-given input path, checked: inside the allowed root, no `..`, globs matching only inside it,
    existing. Returns the absolute path (or glob) as a string; raises UserError with the reason."""
    root = (allowed_root or allowed_input_root()).resolve()
    text = (path or "").strip()
    if not text:
        raise UserError("input_path is empty: give a file, directory or glob under "
                        f"{root}, or set generate_reviews to make synthetic data")
    if ".." in Path(text).parts:
        raise UserError(f"input_path {text!r} contains '..'; give a path inside {root}")
    candidate = Path(text).expanduser()
    candidate = candidate if candidate.is_absolute() else root / candidate
    if any(ch in GLOB_CHARACTERS for ch in str(candidate)):
        anchor = _glob_anchor(candidate)
        if not _inside(anchor.resolve(), root):
            raise UserError(f"input_path glob {text!r} reaches outside the allowed root {root}")
        if not glob.glob(str(candidate), recursive=True):
            raise UserError(f"input_path glob {text!r} matches no files under {root}")
        _check_files_inside(str(candidate), text, root)
        return str(candidate)
    resolved = candidate.resolve()
    if not _inside(resolved, root):
        raise UserError(f"input_path {text!r} resolves to {resolved}, outside the allowed root {root}")
    if not resolved.exists():
        raise UserError(f"input_path {text!r} does not exist (looked for {resolved})")
    _check_files_inside(str(resolved), text, root)
    return str(resolved)


def _check_files_inside(spec: str, text: str, root: Path) -> None:
    """Every file ingest would read for `spec` (the same expansion, symlinks followed) is inside the root: a
    link in an allowed directory must not reach the rest of the disk."""
    outside = [f for f in resolve_inputs(spec) if not _inside(f, root)]
    if outside:
        raise UserError(f"input_path {text!r} reaches {outside[0]}, outside the allowed root {root}")


def _glob_anchor(pattern: Path) -> Path:
    parts = []
    for part in pattern.parts:
        if any(ch in GLOB_CHARACTERS for ch in part):
            break
        parts.append(part)
    return Path(*parts)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def prepare_manual_input(params: dict[str, Any]) -> dict[str, str]:
    """The manual DAG's first task: generate synthetic reviews if asked, else check the given input path."""
    root = allowed_input_root()
    count = int(params.get("generate_reviews") or 0)
    if count > 0:
        from reviewlake.synthetic import generate

        seed = int(params.get("seed") or 42)
        out = root / f"synthetic-{count}-s{seed}"
        if not (out / "ground_truth.json").exists():
            truth = generate(count, seed, out, "jsonl", progress=log.info)
        else:
            import json

            truth = json.loads((out / "ground_truth.json").read_text())
        log.info("using %s synthetic reviews in %s", f"{count:,}", out)
        return {"input": str(out / truth["reviews_file"]), "products": str(out / truth["products_file"]),
                "format": "auto"}
    if params.get("input_format", "auto") not in INPUT_FORMATS:
        raise UserError(f"input_format must be one of {', '.join(INPUT_FORMATS)}")
    products = params.get("products_path") or ""
    return {"input": resolve_input(params.get("input_path"), root),
            "products": resolve_input(products, root) if products else "",
            "format": params.get("input_format", "auto")}


def log_failure(context: dict[str, Any]) -> None:
    """on_failure_callback: one line naming the stage, the run and the reason (the ledger has the detail)."""
    task = context.get("task_instance") or context.get("ti")
    error = context.get("exception")
    reason = str(error).strip().splitlines()[-1] if error and str(error).strip() else type(error).__name__
    log.error("reviewlake stage %s failed in DAG run %s: %s; its downstream stages are skipped "
              "(recorded in ops.pipeline_runs)", getattr(task, "task_id", "?"), context.get("run_id"), reason)


# Generous ceilings on a 2-core machine with the 220k demo (measured stage times are in the README).
STAGE_TIMEOUT_MINUTES = {"ingest": 30, "clean": 30, "quality": 15, "sentences": 60, "sentiment": 60,
                         "summarize": 60, "tags": 60, "qa": 30, "recommend": 30, "similarity": 30, "anomalies": 30}
# A failed data-quality gate does not heal by retrying: fail at once and say why.
NO_RETRY_STAGES = ("quality",)
DEFAULT_ARGS: dict[str, Any] = {
    "owner": "reviewlake",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "execution_timeout": timedelta(minutes=30),   # stage tasks set their own (STAGE_TIMEOUT_MINUTES)
    "on_failure_callback": log_failure,
}


def asset_uri(table: str) -> str:
    layer, name = table.split(".")
    return f"x-reviewlake://{layer}/{name}"


def spark_stage_tasks(stage_arguments: dict[str, list[str]], trigger_rule: str | None = None) -> dict[str, Any]:
    """One StageSubmitOperator (spark-submit) per DAG stage, wired by the stage graph; call inside a DAG context.

    `stage_arguments` maps a stage to its application arguments (Jinja templates allowed). The jars and the
    driver memory are Jinja macros evaluated when the task runs, so parsing the DAG file reads nothing from disk;
    the rest of the Spark conf is applied by the job's own session factory (reviewlake.spark), as everywhere.
    """
    from airflow.sdk import Asset

    from reviewlake.airflow_operators import StageSubmitOperator
    from reviewlake.cluster import executor_code_conf

    tasks: dict[str, Any] = {}
    for stage, upstream in stage_graph().items():
        extra: dict[str, Any] = {"trigger_rule": trigger_rule} if trigger_rule else {}
        if stage in NO_RETRY_STAGES:
            extra["retries"] = 0
        tasks[stage] = StageSubmitOperator(
            stage=stage,
            task_id=stage,
            doc_md=f"Runs `{STAGE_MODULES[stage].replace('.', '/')}.py` under spark-submit; writes "
                   f"{', '.join(STAGE_OUTPUTS[stage]) or 'no table (it validates silver.reviews)'}.",
            application=stage_application(stage),
            conn_id=SPARK_CONN_ID,
            name=f"reviewlake-{stage}",
            jars="{{ reviewlake_jars() }}",
            conf={"spark.driver.memory": "{{ reviewlake_driver_memory() }}",
                  # spark-submit starts the JVM itself: hand it the project's quiet log4j2 settings too.
                  "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{LOG4J_CONFIG}",
                  # On a cluster the executors get the code from here, not from an installed package.
                  **executor_code_conf("{{ reviewlake_code_archive() }}")},
            application_args=stage_arguments[stage],
            execution_timeout=timedelta(minutes=STAGE_TIMEOUT_MINUTES[stage]),
            outlets=[Asset(name=table, uri=asset_uri(table)) for table in gold_outputs(stage)],
            **extra,
        )
        for parent in upstream:
            tasks[parent] >> tasks[stage]
    return tasks


def report_task(stage_tasks: dict[str, Any]) -> Any:
    """The run report after every stage task, whatever their outcome (a failed run's report shows where it
    stopped): `<lake>/reports/run-report-<run id>.html`, path in the task log and its return value."""
    import re

    from airflow.sdk import get_current_context, task

    @task(task_id="report", trigger_rule="all_done",
          doc_md="Writes the run report (`reviewlake report`, no Spark) under `<lake>/reports/`.")
    def report() -> str | None:
        from airflow.exceptions import AirflowFailException

        from queries.report import build_report
        from reviewlake.config import load_config
        from reviewlake.errors import UserError

        config = load_config().with_lake(lake_root())
        if not config.lake.exists():
            # The run stopped before any stage wrote (e.g. rejected parameters): nothing to report, not a failure.
            print(f"run report: none, the lake {config.lake} does not exist yet (no stage wrote to it)")
            return None
        run_id = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(get_current_context()["run_id"]))
        try:
            written = build_report(config.lake, config.lake / "reports" / f"run-report-{run_id}.html",
                                   config.cache_dir)
        except UserError as error:   # a mistake in the lake or the settings does not heal by retrying
            raise AirflowFailException(f"run report: {error}") from None
        print(f"run report: {written['path']} ({written['bytes'] / 1e6:.1f} MB in {written['seconds']:.1f} s)")
        return written["path"]

    last = report()
    for stage_task in stage_tasks.values():
        stage_task >> last
    return last


USER_DEFINED_MACROS = {"reviewlake_jars": spark_submit_jars, "reviewlake_driver_memory": spark_driver_memory,
                       "reviewlake_code_archive": spark_code_archive}


# What both DAGs share: an early start date (backfills and `dags test` of past dates work; catchup stays off),
# one run at a time, the task defaults and the runtime macros.
COMMON_DAG_ARGS: dict[str, Any] = {
    "start_date": datetime(2020, 1, 1, tzinfo=UTC),
    "catchup": False,
    "max_active_runs": 1,
    "default_args": DEFAULT_ARGS,
    "user_defined_macros": USER_DEFINED_MACROS,
}


def common_stage_arguments(stage: str, run_date: str, stages: str) -> list[str]:
    """Arguments every stage's spark-submit gets: lake, run date, run id (the DAG run's), the run's stages."""
    return [f"--lake={lake_root()}", f"--run-date={run_date}", "--run-id={{ run_id }}",
            f"--pipeline-stages={stages}"]

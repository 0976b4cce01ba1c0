"""Stage order and the loop that runs stages, records each in the ledger and stops at the first failure."""

from __future__ import annotations

import importlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from reviewlake.config import Config
from reviewlake.context import RunParams, StageContext, StageResult
from reviewlake.errors import PipelineFailure, UserError
from reviewlake.lake import Lake
from reviewlake.lake_lock import LockGrant, lake_lock
from reviewlake.ledger import RUNNING, RunLedger
from reviewlake.spark import get_spark

# DESIGN.md order. A stage maps to the module whose `run(ctx) -> StageResult` implements it.
STAGE_ORDER = ("ingest", "clean", "quality", "sentences", "sentiment", "summarize", "tags", "qa", "recommend",
               "similarity", "anomalies")
STAGE_MODULES = {
    "ingest": "jobs.ingest",
    "clean": "jobs.clean",
    "quality": "expectations.gate",
    "sentences": "jobs.sentences",
    "sentiment": "jobs.sentiment",
    "summarize": "jobs.summarize",
    "tags": "jobs.tags",
    "qa": "jobs.qa",
    "recommend": "jobs.recommend",
    "similarity": "jobs.similarity",
    "anomalies": "jobs.anomalies",
}

# What each stage needs to have run first (DESIGN.md's data flow); the DAGs run independent stages in parallel.
STAGE_UPSTREAM: dict[str, tuple[str, ...]] = {
    "ingest": (), "clean": ("ingest",), "quality": ("clean",), "sentences": ("quality",), "sentiment": ("quality",),
    "summarize": ("sentences", "sentiment"), "tags": ("sentences", "sentiment"), "recommend": ("sentiment",),
    "qa": ("tags", "summarize"), "similarity": ("tags",), "anomalies": ("sentiment", "tags"),
}
# Tables each stage publishes (the DAGs declare the gold ones as Airflow Assets).
STAGE_OUTPUTS: dict[str, tuple[str, ...]] = {
    "ingest": ("bronze.reviews_raw", "silver.products"), "clean": ("silver.reviews", "silver.quarantine"),
    "quality": (), "sentences": ("silver.review_sentences", "silver.sentence_vectors",
                                                   "silver.sentence_aspects"),
    "sentiment": ("gold.review_sentiment",), "summarize": ("gold.product_summaries",),
    "tags": ("gold.product_tags", "gold.tag_vocabulary"), "qa": ("gold.product_faq",),
    "recommend": ("gold.user_recommendations",),
    "similarity": ("silver.product_vectors", "gold.product_similarity"),
    "anomalies": ("gold.metric_anomalies", "gold.product_ts_clusters"),
}


def upstream_stages(stage: str, available: tuple[str, ...]) -> tuple[str, ...]:
    """Nearest upstream stages among `available` (an unavailable parent is looked through to its own parents)."""
    found: list[str] = []
    for parent in STAGE_UPSTREAM[stage]:
        found += [parent] if parent in available else list(upstream_stages(parent, available))
    return tuple(dict.fromkeys(found))


def downstream_stages(stage: str, within: tuple[str, ...]) -> tuple[str, ...]:
    """Every stage of `within` that depends on `stage`, directly or not, in pipeline order."""
    def depends(candidate: str) -> bool:
        parents = upstream_stages(candidate, within)
        return stage in parents or any(depends(p) for p in parents)

    return tuple(s for s in STAGE_ORDER if s in within and s != stage and depends(s))


def implemented_stages() -> tuple[str, ...]:
    return tuple(s for s in STAGE_ORDER if s in STAGE_MODULES)


def parse_stages(spec: str | None) -> tuple[str, ...]:
    """'all' or 'a,b' -> stage names in pipeline order; unknown or unbuilt stages are a user error."""
    if not spec or spec.strip() == "all":
        return implemented_stages()
    wanted = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in STAGE_ORDER]
    if unknown:
        raise UserError(f"unknown stage(s) {', '.join(unknown)}; stages are: {', '.join(STAGE_ORDER)}")
    missing = [s for s in wanted if s not in STAGE_MODULES]
    if missing:
        raise UserError(f"stage(s) {', '.join(missing)} not available in this version; available: "
                        f"{', '.join(implemented_stages())}")
    return tuple(s for s in STAGE_ORDER if s in wanted)


@dataclass
class StageOutcome:
    stage: str
    status: str
    seconds: float
    result: StageResult | None


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]


def run_pipeline(config: Config, params: RunParams, say: Callable[[str], None] = print,
                 run_id: str | None = None, skip_on_failure: tuple[str, ...] = (),
                 lock_wait_s: float = 0.0) -> list[StageOutcome]:
    """Run `params.stages` in order; raise PipelineFailure/UserError after recording the failed stage.

    On failure the later stages of this call, and `skip_on_failure` (stages run elsewhere, e.g. the
    downstream Airflow tasks of a one-stage spark-submit), are recorded as skipped. The lake's writer lock is
    held throughout; another writer is waited for up to `lock_wait_s` seconds, then refused (LakeBusy).
    """
    run_id = run_id or new_run_id()
    config.lake.mkdir(parents=True, exist_ok=True)
    with lake_lock(config.lake, run_id, ",".join(params.stages), lock_wait_s, say) as grant:
        return _run_stages(config, params, say, run_id, skip_on_failure, grant)


def _run_stages(config: Config, params: RunParams, say: Callable[[str], None], run_id: str,
                skip_on_failure: tuple[str, ...], grant: LockGrant) -> list[StageOutcome]:
    spark = get_spark(config)
    lake = Lake(spark, config.lake)
    ledger = RunLedger(lake)
    params_json = params.to_json()
    # Only a holder that died can have left "running" rows; skipping the ledger scan otherwise saves every
    # stage's spark-submit a cold Delta read.
    interrupted = 0
    if grant.previous_holder_died:
        interrupted = ledger.close_interrupted()
        grant.settle()
    if interrupted:
        say(f"[ledger] {interrupted} stage attempt(s) of an earlier run ended without an outcome; recorded as failed")
    outcomes: list[StageOutcome] = []
    stages = list(params.stages)
    for index, stage in enumerate(stages):
        module = importlib.import_module(STAGE_MODULES[stage])
        ctx = StageContext(spark=spark, lake=lake, config=config, run_id=run_id, stage=stage, params=params,
                           last_success=ledger.last_success, say=say)
        started = datetime.now(UTC)
        clock = time.perf_counter()
        # Visible while the stage runs; replaced by its outcome, or left behind by a killed process.
        ledger.record(run_id=run_id, job=stage, status=RUNNING, started_at=started, params_json=params_json)
        say(f"[{stage}] started")
        try:
            result: StageResult = module.run(ctx)
        except Exception as error:  # every failure is recorded before it propagates
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            ledger.record(run_id=run_id, job=stage, status="failed", started_at=started,
                          params_json=params_json, tables_read=ctx.tables_read,
                          tables_written=ctx.tables_written, message=message)
            for skipped in dict.fromkeys([*stages[index + 1:], *skip_on_failure]):
                ledger.record(run_id=run_id, job=skipped, status="skipped", started_at=started,
                              params_json=params_json, message=f"upstream stage '{stage}' failed")
            outcomes.append(StageOutcome(stage, "failed", time.perf_counter() - clock, None))
            if isinstance(error, UserError):
                raise
            raise PipelineFailure(stage, message) from error
        except BaseException as error:      # Ctrl-C, SystemExit: the lock is released cleanly, so say it here
            ledger.record(run_id=run_id, job=stage, status="failed", started_at=started, params_json=params_json,
                          tables_read=ctx.tables_read, tables_written=ctx.tables_written,
                          message=f"interrupted ({type(error).__name__}) before it finished")
            raise
        seconds = time.perf_counter() - clock
        ledger.record(run_id=run_id, job=stage, status="succeeded", started_at=started, params_json=params_json,
                      rows=(result.rows_in, result.rows_out, result.rows_quarantined),
                      tables_read=ctx.tables_read, tables_written=ctx.tables_written,
                      message=result.message, details=result.details)
        say(f"[{stage}] done in {seconds:.1f}s: in={result.rows_in:,} out={result.rows_out:,} "
            f"quarantined={result.rows_quarantined:,}" + (f" ({result.message})" if result.message else ""))
        outcomes.append(StageOutcome(stage, "succeeded", seconds, result))
    return outcomes

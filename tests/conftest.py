"""Shared fixtures: one local SparkSession per test session, a fresh lake per test under tmp_path."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")

REPO = Path(__file__).resolve().parents[1]


def _real_data_dir() -> Path | None:
    if os.environ.get("REVIEWLAKE_REAL_DATA"):
        return Path(os.environ["REVIEWLAKE_REAL_DATA"])
    for parent in REPO.parents:
        candidate = parent / "shared" / "data" / "real"
        if candidate.is_dir():
            return candidate
    return None


AIRFLOW_RUN_MODULES = ("tests/dags/test_dag_runs.py", "tests/dags/test_airflow_ui.py")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Groups for pytest-xdist's `--dist loadgroup` (`./dev test` runs two workers): a module's tests stay on one
    worker, so its module-scoped fixtures are built once, and every test reading the session's full synthetic
    lake joins one group, so that lake (minutes to build) is built on one worker only."""
    for item in items:
        module = item.nodeid.split("::")[0]
        if "full_lake" in item.fixturenames:
            group = "full_lake"
        elif module in AIRFLOW_RUN_MODULES:
            group = "airflow runs"    # each runs Airflow and a chain of spark-submits: together they swamp 2 cores
        else:
            group = module
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def base_config(tmp_path_factory):
    from reviewlake.config import load_config

    env = {k: v for k, v in os.environ.items() if k in ("REVIEWLAKE_CACHE",)}
    return load_config(env=env).with_lake(tmp_path_factory.mktemp("unused-lake"))


@pytest.fixture(scope="session")
def spark(base_config):
    from reviewlake.spark import get_spark

    session = get_spark(base_config, "reviewlake-tests")
    yield session
    session.stop()
    # py4j logs from __del__ at interpreter exit, after pytest has closed the streams it captured.
    logging.getLogger("py4j").setLevel(logging.ERROR)


@pytest.fixture
def config(base_config, tmp_path):
    from dataclasses import replace

    return replace(base_config, lake=tmp_path / "lake", pii_salt="test-salt")


@pytest.fixture
def lake(spark, config):
    from reviewlake.lake import Lake

    return Lake(spark, config.lake)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    found = _real_data_dir()
    if found is None or not any(found.glob("*.json.gz")):
        pytest.skip("real Amazon sample not found: set REVIEWLAKE_REAL_DATA or keep ../shared/data/real")
    return found


def make_context(spark, config, stage: str, params=None, run_id: str = "run-1"):
    """A StageContext as the pipeline builds it, for calling one stage's run() directly."""
    from reviewlake.context import RunParams, StageContext
    from reviewlake.lake import Lake
    from reviewlake.ledger import RunLedger

    lake = Lake(spark, config.lake)
    return StageContext(spark=spark, lake=lake, config=config, run_id=run_id, stage=stage,
                        params=params or RunParams(), last_success=RunLedger(lake).last_success,
                        say=lambda _msg: None)


def read_table(lake_root, name: str):
    """A lake table as pandas through delta-rs (what analysts see)."""
    from deltalake import DeltaTable

    layer, table = name.split(".")
    return DeltaTable(str(Path(lake_root) / layer / table)).to_pandas()


def synthetic_lake(base_config, root: Path, reviews: int, seed: int, stages: tuple[str, ...], run_date,
                   **config_overrides):
    """Generate `reviews` synthetic reviews under root/in and run `stages` on a lake under root/lake.

    Returns (config, ground truth, {stage: StageResult}); every stage must succeed.
    """
    from dataclasses import replace

    from reviewlake.context import RunParams
    from reviewlake.pipeline import run_pipeline
    from reviewlake.synthetic import generate

    truth = generate(reviews, seed, root / "in")
    config = replace(base_config, lake=root / "lake", pii_salt="test-salt", **config_overrides)
    params = RunParams(inputs=(str(root / "in" / truth["reviews_file"]),),
                       products=str(root / "in" / truth["products_file"]), stages=stages, run_date=run_date,
                       options={"sentiment_tier": "fast"})
    outcomes = run_pipeline(config, params, say=lambda _m: None, run_id="build")
    assert [o.status for o in outcomes] == ["succeeded"] * len(stages)
    return config, truth, {o.stage: o.result for o in outcomes}


@pytest.fixture(scope="session")
def full_lake(spark, base_config, tmp_path_factory):
    """4,000 synthetic reviews through every stage but the quality gate (fast sentiment tier), run 2024-01-01:
    the text stages' tests and the API's read it (test_summaries_tags_jobs adds a review late in the session)."""
    from datetime import date

    return synthetic_lake(base_config, tmp_path_factory.mktemp("full"), 4000, 8,
                          ("ingest", "clean", "sentences", "sentiment", "summarize", "tags", "qa", "recommend",
                           "similarity", "anomalies"), date(2024, 1, 1))


def add_review_like_first(spark, lake_root, **changes) -> None:
    """MERGE into silver.reviews a copy of its first review with `changes` (a new review of that product)."""
    import pandas as pd

    from reviewlake.lake import Lake

    lake = Lake(spark, lake_root)
    row = {**read_table(lake_root, "silver.reviews").iloc[0].to_dict(), **changes}
    lake.merge("silver.reviews", spark.createDataFrame(pd.DataFrame([row]), schema=lake.read("silver.reviews").schema))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def browser():
    """Headless Debian Chromium driven by Selenium (skipped where it is not installed)."""
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Debian chromium/chromium-driver are not installed (.ci/run installs them with apt-get)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})   # console errors, read by the tests
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1300"):
        options.add_argument(argument)
    try:
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    except WebDriverException as error:
        pytest.skip(f"chromium cannot start here: {str(error).splitlines()[0]}")
    yield driver
    driver.quit()

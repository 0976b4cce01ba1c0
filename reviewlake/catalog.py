"""A Spark SQL catalog over the lake: one database per layer, each table `USING DELTA LOCATION` its directory,
and the analyst views of queries.views, in a Hive metastore (Derby) kept under `<lake>/_catalog/`.

`reviewlake catalog sync` registers (idempotent: an entry that already points at the table is left alone, one
pointing elsewhere is re-pointed); any Spark session built with `catalog_config` then resolves
`gold.product_tags`, and so does the Spark Thrift server started by `reviewlake catalog thriftserver`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pyspark.sql import SparkSession

from queries.views import ANALYST_VIEWS
from reviewlake.config import Config
from reviewlake.tables import REGISTRY

CATALOG_DIR = "_catalog"


def catalog_conf(config: Config) -> dict[str, str]:
    """The Spark settings of a session (or Thrift server) that uses the lake's catalog."""
    from reviewlake.spark import spark_conf

    root = config.lake.resolve() / CATALOG_DIR
    java = spark_conf(config).get("spark.driver.extraJavaOptions", "")
    return {
        "spark.sql.catalogImplementation": "hive",
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={root / 'metastore_db'};create=true",
        "spark.sql.warehouse.dir": str(root / "warehouse"),
        # Derby writes derby.log into the working directory unless told otherwise.
        "spark.driver.extraJavaOptions": f"{java} -Dderby.stream.error.file={root / 'derby.log'}".strip(),
    }


def catalog_config(config: Config) -> Config:
    """`config` whose Spark sessions use the lake's catalog."""
    (config.lake / CATALOG_DIR).mkdir(parents=True, exist_ok=True)
    return replace(config, spark=replace(config.spark, conf={**config.spark.conf, **catalog_conf(config)}))


def _location(spark: SparkSession, name: str) -> str | None:
    """Where the catalog entry points; '' when that directory is gone (a moved lake), None without an entry."""
    from pyspark.errors import AnalysisException

    if not spark.catalog.tableExists(name):
        return None
    try:
        return spark.sql(f"DESCRIBE DETAIL {name}").first()["location"]
    except AnalysisException:
        return ""


def sync_catalog(spark: SparkSession, lake: Path) -> dict[str, list[str]]:
    """Register every existing lake table and every analyst view whose tables exist; what happened to each."""
    outcome: dict[str, list[str]] = {"registered": [], "re-pointed": [], "unchanged": [], "views": [],
                                     "views skipped": []}
    present = set()
    for name, spec in REGISTRY.items():
        path = spec.path(lake).resolve()
        if not (path / "_delta_log").is_dir():
            continue
        present.add(name)
        layer = name.split(".")[0]
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {layer}")
        location = _location(spark, name)
        if location is not None and location.rstrip("/").removeprefix("file:") == str(path):
            outcome["unchanged"].append(name)
            continue
        if location is not None:   # the lake moved: the entry still points at the old directory
            spark.sql(f"DROP TABLE {name}")   # external table: only the catalog entry goes
        spark.sql(f"CREATE TABLE {name} USING DELTA LOCATION '{path}'")
        outcome["re-pointed" if location is not None else "registered"].append(name)
    spark.sql("CREATE DATABASE IF NOT EXISTS analyst")
    for view in ANALYST_VIEWS.values():
        missing = [t for t in view.tables if t not in present]
        if missing:
            outcome["views skipped"].append(f"analyst.{view.name} (needs {', '.join(missing)})")
            continue
        comment = view.description.replace("'", "")
        spark.sql(f"CREATE OR REPLACE VIEW analyst.{view.name} COMMENT '{comment}' AS {view.sql}")
        outcome["views"].append(f"analyst.{view.name}")
    return outcome

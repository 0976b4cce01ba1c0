"""Query lake tables without Spark: delta-rs reads each Delta table as Arrow, DuckDB runs the SQL."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from queries.views import TABLE_REFERENCE, referenced_views
from reviewlake.errors import UserError
from reviewlake.tables import REGISTRY, table_spec


def open_table(lake: str | Path, name: str, version: int | None = None) -> DeltaTable:
    """The delta-rs handle of a registry table (at `version`, else the latest); a clear error if it does not
    exist yet."""
    spec = table_spec(name)
    try:
        return DeltaTable(str(spec.path(Path(lake))), version=version)
    except TableNotFoundError:
        raise UserError(f"table {name} does not exist yet in lake {lake}; run the stage that writes it") from None


def query(lake: str | Path, sql: str) -> pa.Table:
    """Run `sql` over the lake; tables are referenced as `silver.reviews`, `gold.product_tags`, ..., and the
    analyst views (queries.views) as `analyst.product_scorecard`, ..."""
    views = referenced_views(sql)
    names = sorted({f"{layer}.{table}" for layer, table in TABLE_REFERENCE.findall(sql)} |
                   {name for view in views for name in view.tables})
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise UserError(f"unknown table(s) {unknown}; known: {', '.join(REGISTRY)}")
    connection = duckdb.connect()
    for name in names:
        layer, table = name.split(".")
        dataset = open_table(lake, name).to_pyarrow_dataset()
        connection.register(f"__{layer}__{table}", dataset)
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}")
        connection.execute(f"CREATE VIEW {layer}.{table} AS SELECT * FROM __{layer}__{table}")
    if views:
        connection.execute("CREATE SCHEMA IF NOT EXISTS analyst")
    for view in views:
        connection.execute(f"CREATE VIEW analyst.{view.name} AS {view.sql}")
    try:
        return connection.sql(sql).to_arrow_table()
    except duckdb.Error as error:
        raise UserError(f"SQL error: {str(error).splitlines()[0]}") from None


def table_summaries(lake: str | Path) -> list[dict]:
    """Name, version, rows and size of every existing table, from the Delta log alone."""
    rows = []
    for name, spec in REGISTRY.items():
        path = spec.path(Path(lake))
        if not (path / "_delta_log").is_dir():
            continue
        table = DeltaTable(str(path))
        actions = table.get_add_actions(flatten=True)
        columns = actions.schema.names
        n_rows = sum(v or 0 for v in actions.column("num_records").to_pylist()) if "num_records" in columns else 0
        size = sum(v or 0 for v in actions.column("size_bytes").to_pylist()) if "size_bytes" in columns else 0
        rows.append({"table": name, "version": table.version(), "rows": int(n_rows), "bytes": int(size),
                     "description": spec.description})
    return rows


def product_titles(lake: str | Path) -> pd.DataFrame:
    """product_id, title, category from silver.products (empty when the table does not exist yet)."""
    try:
        return open_table(lake, "silver.products").to_pandas(columns=["product_id", "title", "category"])
    except UserError:  # titles are a courtesy: answers without silver.products still stand
        return pd.DataFrame(columns=["product_id", "title", "category"])

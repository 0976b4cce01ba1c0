"""The data dictionary: every table's description, key, partitioning and every column's type and meaning,
from the one place they are declared (reviewlake.tables + schemas.tables), with the lake's current state
(version, rows, size, last write) where the table exists. `reviewlake tables --describe` and docs/TABLES.md."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from deltalake import DeltaTable

from reviewlake.errors import UserError
from reviewlake.tables import REGISTRY, TableSpec, table_spec
from schemas.tables import column_descriptions


def columns(spec: TableSpec) -> list[dict]:
    """name, type (Spark SQL), nullable, description of every column, in table order."""
    meaning = column_descriptions(spec.schema)
    return [{"name": f.name, "type": f.dataType.simpleString(), "nullable": f.nullable,
             "description": meaning.get(f.name, "")} for f in spec.schema.fields]


def table_state(lake: str | Path, spec: TableSpec) -> dict | None:
    """version, rows, bytes and the last write's time (UTC) from the Delta log; None when not created yet."""
    path = spec.path(Path(lake))
    if not (path / "_delta_log").is_dir():
        return None
    table = DeltaTable(str(path))
    actions = table.get_add_actions(flatten=True)
    names = actions.schema.names
    rows = sum(v or 0 for v in actions.column("num_records").to_pylist()) if "num_records" in names else 0
    size = sum(v or 0 for v in actions.column("size_bytes").to_pylist()) if "size_bytes" in names else 0
    last = table.history(1)
    written = datetime.fromtimestamp(last[0]["timestamp"] / 1000, UTC) if last and "timestamp" in last[0] else None
    return {"version": table.version(), "rows": int(rows), "bytes": int(size), "last_write": written}


def describe(lake: str | Path | None, name: str | None = None) -> list[dict]:
    """One entry per table (or the one named): declaration, columns and, with a lake, its state."""
    if name is not None:
        try:
            specs = [table_spec(name)]
        except KeyError as error:
            raise UserError(str(error.args[0])) from None
    else:
        specs = list(REGISTRY.values())
    return [{"table": spec.name, "layer": spec.layer, "description": spec.description, "keys": list(spec.keys),
             "partition_by": list(spec.partition_by), "columns": columns(spec),
             "state": None if lake is None else table_state(lake, spec)} for spec in specs]


def markdown() -> str:
    """docs/TABLES.md: the dictionary of every table, generated from the registry (tests keep it in sync)."""
    lines = ["# Tables", "", "Generated from `reviewlake/tables.py` and `schemas/tables.py` by "
             "`reviewlake tables --describe --markdown`; a test fails when it is out of date.", ""]
    for entry in describe(None):
        lines += [f"## {entry['table']}", "", entry["description"], "",
                  f"Key: ({', '.join(entry['keys'])})"
                  + (f"; partitioned by {', '.join(entry['partition_by'])}" if entry["partition_by"] else ""), "",
                  "| column | type | nullable | meaning |", "|---|---|---|---|"]
        lines += [f"| {c['name']} | `{c['type']}` | {'yes' if c['nullable'] else 'no'} | "
                  f"{c['description'].replace('|', '/')} |" for c in entry["columns"]]
        lines.append("")
    return "\n".join(lines)

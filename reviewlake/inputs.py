"""Which files an input spec names (a file, a directory searched recursively, or a glob): one expansion for
the ingest stage and for the DAGs' input check, so what is checked is exactly what is read. No Spark."""

from __future__ import annotations

import glob
from pathlib import Path

from reviewlake.errors import UserError

INPUT_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv")


def resolve_inputs(spec: str) -> list[Path]:
    """A file, a directory (its review files, recursively) or a glob -> sorted absolute file paths."""
    path = Path(spec).expanduser()
    if path.is_file():
        return [path.resolve()]
    if path.is_dir():
        found = [p for p in path.rglob("*") if p.is_file() and looks_like_input(p)]
        if not found:
            raise UserError(f"no review files (*.json, *.jsonl, *.csv, optionally .gz) under {spec}")
        return sorted(p.resolve() for p in found)
    if any(ch in spec for ch in "*?["):
        matched = [Path(p).resolve() for p in glob.glob(spec, recursive=True) if Path(p).is_file()]
        if not matched:
            raise UserError(f"the pattern {spec} matches no file")
        return sorted(matched)
    raise UserError(f"input not found: {spec}")


def looks_like_input(path: Path) -> bool:
    name = path.name.lower().removesuffix(".gz")
    return name.endswith(INPUT_SUFFIXES) and not name.startswith(("ground_truth", "products"))

"""No personal data outside bronze: the generator's planted e-mails and phone numbers, and every reviewer's
name and raw id from the input file, are searched for in every other table of the full synthetic lake, in its
files (models, Data Docs, reports) and in the run report."""

import gzip
import json
import re

import numpy as np
import pytest
from deltalake import DeltaTable
from typer.testing import CliRunner

from reviewlake.cli import app as cli

EMAIL = re.compile(r"[\w.+-]+@example\.com")
PHONE = re.compile(r"\(555\) \d{3}-\d{4}")
WORD = re.compile(r"[A-Za-z0-9]+")


@pytest.fixture(scope="module")
def secrets(full_lake):
    """Raw reviewer ids, full reviewer names, and the e-mails / phones planted in texts (read from the input)."""
    config, truth, _ = full_lake
    ids, names, planted = set(), set(), set()
    with gzip.open(config.lake.parent / "in" / truth["reviews_file"], "rt", errors="replace") as lines:
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            ids.add(str(record.get("reviewerID", "")))
            if record.get("reviewerName"):
                names.add(record["reviewerName"].lower())
            text = str(record.get("reviewText", ""))
            planted |= set(EMAIL.findall(text)) | set(PHONE.findall(text))
    ids.discard("")
    assert len(ids) > 500 and len(names) > 100 and len(planted) > 20      # the generator did plant them
    return ids, names, planted


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple | np.ndarray):
        return [s for v in value for s in _strings(v)]
    return []


def _leaks(text: str, secrets) -> list[str]:
    ids, names, _planted = secrets
    found = EMAIL.findall(text) + PHONE.findall(text)
    words = WORD.findall(text)
    found += [w for w in words if w in ids]
    lowered = [w.lower() for w in words]
    found += [pair for pair in (f"{a} {b}" for a, b in zip(lowered, lowered[1:], strict=False)) if pair in names]
    return found


def test_no_table_outside_bronze_holds_personal_data(full_lake, secrets):
    config, _, _ = full_lake
    tables = [p.parent for p in config.lake.rglob("_delta_log") if "bronze" not in p.parent.relative_to(
        config.lake).parts]
    assert len(tables) >= 15
    leaks = {}
    for table in tables:
        frame = DeltaTable(str(table)).to_pandas()
        texts = [s for column in frame.columns if frame[column].dtype == object
                 for value in frame[column] for s in _strings(value)]
        found = _leaks("\n".join(texts), secrets)
        if found:
            leaks[str(table.relative_to(config.lake))] = found[:5]
    assert not leaks


def test_no_file_or_report_outside_bronze_holds_personal_data(full_lake, secrets, tmp_path):
    config, _, _ = full_lake
    report = tmp_path / "report.html"
    assert CliRunner().invoke(cli, ["report", "--lake", str(config.lake), "--out", str(report)]).exit_code == 0
    files = [report] + [p for p in config.lake.rglob("*") if p.is_file() and "bronze" not in p.relative_to(
        config.lake).parts and not p.name.endswith((".parquet", ".crc")) and "_delta_log" not in p.parts]
    assert len(files) > 10
    leaks = {str(p): found[:5] for p in files
             if (found := _leaks(p.read_bytes().decode("utf-8", errors="ignore"), secrets))}
    assert not leaks


def test_the_planted_values_did_reach_bronze(full_lake, secrets):
    """The scan above can fail: bronze, the one layer allowed to keep them, does hold the planted values."""
    config, _, _ = full_lake
    raw = DeltaTable(str(config.lake / "bronze" / "reviews_raw")).to_pandas(columns=["raw"])
    assert _leaks("\n".join(raw["raw"].dropna()), secrets)

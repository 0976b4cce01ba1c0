"""No personal data outside bronze: the generator's planted e-mails and phone numbers, and every reviewer's
name and raw id from the input file, are searched for in every other table of the full synthetic lake, in its
files (models, Data Docs, reports) and in the run report."""

import numpy as np
import pytest
from deltalake import DeltaTable
from typer.testing import CliRunner

from reviewlake.cli import app as cli
from tests.pii_scan import leaks, read_secrets


@pytest.fixture(scope="module")
def secrets(full_lake):
    """Raw reviewer ids, full reviewer names, and the e-mails / phones planted in texts (read from the input)."""
    config, truth, _ = full_lake
    found = read_secrets(config.lake.parent / "in" / truth["reviews_file"])
    assert len(found.ids) > 500 and len(found.names) > 100 and len(found.planted) > 20   # the generator did plant them
    return found


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple | np.ndarray):
        return [s for v in value for s in _strings(v)]
    return []


def test_no_table_outside_bronze_holds_personal_data(full_lake, secrets):
    config, _, _ = full_lake
    tables = [p.parent for p in config.lake.rglob("_delta_log") if "bronze" not in p.parent.relative_to(
        config.lake).parts]
    assert len(tables) >= 15
    leaked = {}
    for table in tables:
        frame = DeltaTable(str(table)).to_pandas()
        texts = [s for column in frame.columns if frame[column].dtype == object
                 for value in frame[column] for s in _strings(value)]
        found = leaks("\n".join(texts), secrets)
        if found:
            leaked[str(table.relative_to(config.lake))] = found[:5]
    assert not leaked


def test_no_file_or_report_outside_bronze_holds_personal_data(full_lake, secrets, tmp_path):
    config, _, _ = full_lake
    report = tmp_path / "report.html"
    assert CliRunner().invoke(cli, ["report", "--lake", str(config.lake), "--out", str(report)]).exit_code == 0
    files = [report] + [p for p in config.lake.rglob("*") if p.is_file() and "bronze" not in p.relative_to(
        config.lake).parts and not p.name.endswith((".parquet", ".crc")) and "_delta_log" not in p.parts]
    assert len(files) > 10
    leaked = {str(p): found[:5] for p in files
             if (found := leaks(p.read_bytes().decode("utf-8", errors="ignore"), secrets))}
    assert not leaked


def test_the_planted_values_did_reach_bronze(full_lake, secrets):
    """The scan above can fail: bronze, the one layer allowed to keep them, does hold the planted values."""
    config, _, _ = full_lake
    raw = DeltaTable(str(config.lake / "bronze" / "reviews_raw")).to_pandas(columns=["raw"])
    assert leaks("\n".join(raw["raw"].dropna()), secrets)

"""The data dictionary: every column described once beside its schema, docs/TABLES.md in sync with it, and
`reviewlake tables --describe` with the lake's state (no Spark)."""

from pathlib import Path

import pandas as pd
import pytest
from deltalake import write_deltalake
from typer.testing import CliRunner

from queries import dictionary
from reviewlake.cli import app
from reviewlake.errors import UserError
from reviewlake.tables import REGISTRY, table_spec

REPO = Path(__file__).resolve().parents[1]


def test_every_column_of_every_table_has_a_meaning():
    undescribed = [(name, c["name"]) for name, spec in REGISTRY.items() for c in dictionary.columns(spec)
                   if len(c["description"].split()) < 3]
    assert undescribed == []


def test_docs_tables_md_is_generated_from_the_registry():
    # Regenerate with: reviewlake tables --describe --markdown > docs/TABLES.md
    assert (REPO / "docs" / "TABLES.md").read_text() == dictionary.markdown()


def test_describe_reads_the_state_of_existing_tables_only(tmp_path):
    spec = table_spec("gold.product_faq")
    write_deltalake(str(spec.path(tmp_path)), pd.DataFrame({"product_id": ["p1", "p2"], "question": ["q", "q"]}))
    described = {e["table"]: e for e in dictionary.describe(tmp_path)}
    assert set(described) == set(REGISTRY)
    assert described["gold.product_faq"]["state"]["rows"] == 2
    assert described["gold.product_faq"]["state"]["last_write"] is not None
    assert described["silver.reviews"]["state"] is None
    assert [c["name"] for c in described["gold.product_faq"]["columns"]] == spec.schema.fieldNames()


def test_tables_describe_cli(tmp_path):
    runner = CliRunner()
    shown = runner.invoke(app, ["tables", "gold.product_tags", "--describe", "--lake", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    assert "gold.product_tags" in shown.output and "not created yet" in shown.output
    assert "tag_sentiment" in shown.output
    unknown = runner.invoke(app, ["tables", "gold.nope", "--describe", "--lake", str(tmp_path)])
    assert isinstance(unknown.exception, UserError) and "unknown table" in str(unknown.exception)
    with pytest.raises(UserError):
        dictionary.describe(tmp_path, "bronze.nothing")

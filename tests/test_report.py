"""`reviewlake report`: the self-contained HTML run report over the full synthetic lake, and over a lake where
nothing has run yet; its charts drawn by Chromium."""

import re
import time

import pytest
from typer.testing import CliRunner

from reviewlake.cli import app as cli
from reviewlake.errors import UserError
from tests.conftest import read_table


@pytest.fixture(scope="module")
def report(full_lake, tmp_path_factory):
    config, _, _ = full_lake
    out = tmp_path_factory.mktemp("report") / "report.html"
    result = CliRunner().invoke(cli, ["report", "--lake", str(config.lake), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return config, out, result.output


def test_the_report_covers_the_run_and_loads_nothing_from_outside(report):
    config, out, printed = report
    page = out.read_text()
    assert str(out) in printed and "not built yet: Quality gate" in printed
    # Self-contained: no script, stylesheet or image is fetched from anywhere (the inlined Vega code is left
    # out of the markup checked: its string literals build tags at run time).
    markup = re.sub(r"<script>.*?</script>", "<script></script>", page, flags=re.S)
    assert not re.search(r"<script[^>]*\bsrc=", markup)
    assert not re.search(r"<(img|iframe|embed|object|video|audio)\b[^>]*\b(src|data)=", markup)
    assert not re.search(r"<link[^>]*href=\"(?!data:)", markup)
    for title in ("Latest run: stage timeline", "Row funnel", "Sentiment mix per category", "Model metrics",
                  "Top 10 products by reviews", "Tag vocabulary", "This week&#39;s anomalies", "shape clusters"):
        assert title in page, title
    # The quality stage did not run on this lake: the section says which stage builds it.
    assert "the quality stage has not run on this lake yet" in page
    ledger = read_table(config.lake, "ops.pipeline_runs")
    assert f"{len(ledger)} stage(s)" in page
    reviews = read_table(config.lake, "silver.reviews")
    assert f"{len(reviews):,} reviews in silver" in page
    top = read_table(config.lake, "gold.product_summaries").sort_values(["n_reviews", "product_id"],
                                                                        ascending=[False, True]).iloc[0]
    assert top["product_id"] in page


def test_a_lake_where_nothing_ran_gets_a_report_that_says_so(tmp_path):
    (tmp_path / "lake").mkdir()
    result = CliRunner().invoke(cli, ["report", "--lake", str(tmp_path / "lake"), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "r.html").read_text()
    assert page.count("not built yet") == 9 and "run the summarize stage" in page
    missing = CliRunner().invoke(cli, ["report", "--lake", str(tmp_path / "nowhere")])
    # A user error (the console script turns it into one line and exit code 2).
    assert isinstance(missing.exception, UserError) and "does not exist" in str(missing.exception)


def test_every_chart_draws_in_chromium(report, browser, tmp_path):
    _, out, _ = report
    browser.get(out.as_uri())
    expected = out.read_text().count('<div class="chart"')
    assert expected >= 8
    for _ in range(100):
        if browser.execute_script("return window.chartsDrawn + window.chartErrors.length") == expected:
            break
        time.sleep(0.1)
    assert browser.execute_script("return window.chartErrors") == []
    assert browser.execute_script("return window.chartsDrawn") == expected
    assert len(browser.find_elements("css selector", ".chart svg")) == expected
    browser.save_screenshot(str(tmp_path / "report.png"))
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []

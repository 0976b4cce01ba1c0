"""The product API (`reviewlake serve`) and its explorer page over the full synthetic lake: cards, users,
search, similarity, questions, errors, a table version swapped in under load, and the page in Chromium."""

import shutil
import threading
import time
from contextlib import contextmanager

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from reviewlake.cli import app as cli
from tests.conftest import free_port, read_table


@contextmanager
def running_api(lake, refresh_seconds: float = 5.0, **app_options):
    """The API on a free 127.0.0.1 port under uvicorn, in a thread; yields its base URL."""
    import uvicorn

    from queries.api import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(lake, refresh_seconds, **app_options), host="127.0.0.1",
                                           port=free_port(),
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the API did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module")
def api(full_lake):
    config, truth, _ = full_lake
    with running_api(config.lake) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client, config, truth


def test_a_product_card_reads_the_gold_tables(api):
    client, config, _ = api
    summaries = read_table(config.lake, "gold.product_summaries").set_index("product_id")
    tags, faq = read_table(config.lake, "gold.product_tags"), read_table(config.lake, "gold.product_faq")
    similar = read_table(config.lake, "gold.product_similarity")
    product_id = faq["product_id"].value_counts().index[0]
    card = client.get(f"/products/{product_id}").json()
    expected = summaries.loc[product_id]
    assert card["rating"] == {"average": pytest.approx(expected["avg_rating"]), "n_reviews": expected["n_reviews"]}
    assert card["summary"] == expected["summary"] and card["cons"] == list(expected["cons"])
    assert sum(card["sentiment_mix"].values()) == pytest.approx(1.0)
    mine = tags[tags["product_id"] == product_id].sort_values("weight", ascending=False)
    assert [t["tag"] for t in card["tags"]] == mine["tag"].head(12).tolist()
    assert {f["question"] for f in card["faq"]} == set(faq.loc[faq["product_id"] == product_id, "question"])
    assert all(len(f["evidence"]) <= 3 for f in card["faq"])
    neighbours = similar[similar["product_id"] == product_id].sort_values("rank")["similar_product_id"]
    assert [s["product_id"] for s in card["similar"]] == neighbours.head(5).tolist()
    assert all(s["title"] for s in card["similar"])
    assert card["versions"]["gold.product_summaries"] >= 0
    # The CLI prints the same card.
    printed = CliRunner().invoke(cli, ["product", product_id, "--lake", str(config.lake)])
    assert printed.exit_code == 0 and '"summary": ' in printed.output


def test_recommendations_similar_search_and_questions(api):
    client, config, truth = api
    recommendations = read_table(config.lake, "gold.user_recommendations")
    user_id = recommendations["user_id"].iloc[0]
    body = client.get(f"/users/{user_id}/recommendations", params={"k": 5}).json()
    wanted = recommendations[recommendations["user_id"] == user_id].sort_values("rank")["product_id"].head(5)
    assert [r["product_id"] for r in body["recommendations"]] == wanted.tolist()

    planted = pd.DataFrame([{"product_id": p, "tag": a, "quality": q}
                            for p, aspects in truth["product_aspects"].items() for a, q in aspects.items()]) \
        .set_index(["product_id", "tag"])["quality"]
    found = client.get("/search", params={"q": "battery life", "k": 3}).json()["results"]
    assert len(found) == 3 and all(planted.get((r["product_id"], "battery life"), -1) > 0 for r in found)

    nearest = client.get("/similar", params={"text": "the blades and the motor", "k": 5}).json()["results"]
    assert len(nearest) == 5 and [r["rank"] for r in nearest] == [1, 2, 3, 4, 5]
    assert all(r["title"] for r in nearest)

    reviews = read_table(config.lake, "silver.reviews").set_index("review_id")
    faq = read_table(config.lake, "gold.product_faq")
    row = faq[faq["answer"] == "yes"].iloc[0]
    answer = client.get(f"/products/{row['product_id']}/ask", params={"q": row["question"]}).json()
    assert answer["question_type"] == "yes_no" and answer["aspect"] == row["aspect"]
    assert answer["evidence"] and all(reviews.loc[e["review_id"], "product_id"] == row["product_id"]
                                      for e in answer["evidence"])


def test_errors_are_json_with_proper_status_codes(api):
    client, _, _ = api
    missing = client.get("/products/NO-SUCH-PRODUCT")
    assert missing.status_code == 404 and "NO-SUCH-PRODUCT" in missing.json()["detail"]
    assert client.get("/users/nobody/recommendations").status_code == 404
    assert client.get("/products/NO-SUCH-PRODUCT/ask", params={"q": "is it good?"}).status_code == 404
    assert client.get("/search", params={"q": "battery", "k": 0}).status_code == 422
    assert client.get("/search").status_code == 422
    assert client.get("/similar", params={"text": "x"}).status_code == 422
    assert client.get("/openapi.json").json()["info"]["title"] == "reviewlake product API"
    assert client.get("/docs").status_code == 200


def test_a_new_table_version_is_served_without_restart_or_failed_requests(full_lake, spark, tmp_path):
    from reviewlake.lake import Lake

    config, _, _ = full_lake
    lake_root = tmp_path / "lake"
    shutil.copytree(config.lake, lake_root)
    summaries = read_table(lake_root, "gold.product_summaries")
    product_id, old_summary = summaries["product_id"].iloc[0], summaries["summary"].iloc[0]
    seen, failures, stop = [], [], threading.Event()

    with running_api(lake_root, refresh_seconds=0.3) as url:
        def hammer() -> None:
            with httpx.Client(base_url=url, timeout=30) as client:
                while not stop.is_set():
                    response = client.get(f"/products/{product_id}")
                    if response.status_code != 200:
                        failures.append(response.status_code)
                        continue
                    card = response.json()
                    seen.append((card["versions"]["gold.product_summaries"], card["summary"]))

        workers = [threading.Thread(target=hammer) for _ in range(4)]
        for worker in workers:
            worker.start()
        time.sleep(1)
        lake = Lake(spark, lake_root)
        changed = summaries.iloc[[0]].assign(summary="Rewritten by the test.")
        lake.merge("gold.product_summaries",
                   spark.createDataFrame(changed, schema=lake.read("gold.product_summaries").schema))
        deadline = time.monotonic() + 60
        while not any(summary == "Rewritten by the test." for _, summary in seen[-20:]):
            assert time.monotonic() < deadline, "the new version was never served"
            time.sleep(0.2)
        time.sleep(0.5)
        stop.set()
        for worker in workers:
            worker.join(30)
        health = httpx.get(f"{url}/health").json()

    assert failures == []
    versions = sorted({version for version, _ in seen})
    assert len(versions) == 2 and health["swaps"] == 1
    # Each response is one snapshot: the old version always with the old text, the new one with the new.
    assert {summary for version, summary in seen if version == versions[0]} == {old_summary}
    assert {summary for version, summary in seen if version == versions[1]} == {"Rewritten by the test."}


def test_the_explorer_page_searches_and_opens_a_card_in_chromium(full_lake, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    config, _, _ = full_lake
    shot = lambda name: browser.save_screenshot(str(tmp_path / f"{name}.png"))  # noqa: E731
    wait = WebDriverWait(browser, 60)
    with running_api(config.lake) as url:
        browser.get(url)
        wait.until(EC.presence_of_element_located((By.ID, "query"))).send_keys("battery life")
        shot("01-explorer")
        browser.find_element(By.ID, "search-button").click()
        first = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "#search-results li")))
        product_id = first.get_attribute("data-product-id")
        shot("02-search")
        first.click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "card-title"), ""))
        bars = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#sentiment-chart rect"))
        assert len(bars) == 3
        assert browser.find_elements(By.CSS_SELECTOR, "#tag-chart rect")
        assert product_id in browser.find_element(By.ID, "card").text
        shot("03-card")
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    assert (tmp_path / "03-card.png").stat().st_size > 0

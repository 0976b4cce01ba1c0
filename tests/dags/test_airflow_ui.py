"""The real Airflow UI in Debian's Chromium: start local Airflow (`./dev airflow standalone`) on 127.0.0.1, log in
with the generated admin password, open the manual DAG, fill its trigger form (synthetic reviews, three of the
stages, a run date), trigger it and wait until the run succeeds. Screenshots go to the test's tmp dir."""

import json
import os
import re
import signal
import subprocess
import time
import urllib.request

import pytest
from deltalake import DeltaTable

from tests.conftest import CHROMEDRIVER, CHROMIUM
from tests.conftest import free_port as _free_port
from tests.dags.conftest import REPO

pytestmark = pytest.mark.slow
TICKED = ["ingest", "clean", "quality"]   # the UI is under test here; every stage runs in test_dag_runs


def _wait(condition, timeout: float, step: float = 2.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture(scope="module")
def airflow_ui(tmp_path_factory):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Debian chromium/chromium-driver are not installed (.ci/run installs them with apt-get)")
    root = tmp_path_factory.mktemp("airflow-ui")
    (root / "inputs").mkdir()
    port = _free_port()
    env = {**os.environ, "AIRFLOW_HOME": str(root / "home"), "REVIEWLAKE_LAKE": str(root / "lake"),
           "REVIEWLAKE_ALLOWED_INPUT_ROOT": str(root / "inputs"), "AIRFLOW__API__PORT": str(port),
           "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
           "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
           "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5"}
    log_path = root / "standalone.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen([str(REPO / "dev"), "airflow", "standalone"], env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert server.poll() is None, f"airflow standalone exited: {log_path.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        _wait(healthy, 240, what="the Airflow api-server")
        passwords = root / "home" / "simple_auth_manager_passwords.json.generated"
        password = _wait(lambda: passwords.exists() and json.loads(passwords.read_text()).get("admin"), 60,
                         what="the generated admin password")
        assert f"Password for user 'admin': {password}" in log_path.read_text()
        yield {"url": url, "password": password, "lake": root / "lake", "log": log_path}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def test_trigger_the_manual_dag_from_the_ui_and_watch_it_succeed(airflow_ui, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    url, wait = airflow_ui["url"], WebDriverWait(browser, 60)
    shot = lambda name: browser.save_screenshot(str(tmp_path / f"{name}.png"))  # noqa: E731

    browser.get(url)
    wait.until(EC.presence_of_element_located((By.NAME, "username"))).send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys(airflow_ui["password"])
    shot("01-login")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(EC.url_matches(rf"^{re.escape(url)}/?$"))

    def manual_dag_page():  # the dag-processor may still be parsing the DAG files
        browser.get(f"{url}/dags/reviewlake_manual")
        return browser.find_elements(By.CSS_SELECTOR, "[data-testid=trigger-dag-button]")

    trigger = _wait(manual_dag_page, 120, step=3, what="the manual DAG in the UI")[0]
    assert "reviewlake_manual" in browser.page_source
    shot("02-manual-dag")
    trigger.click()

    def open_section(name: str) -> None:
        wait.until(EC.element_to_be_clickable((By.XPATH, f"//button[normalize-space(.)='{name}']"))).click()

    open_section("Input")
    count = wait.until(EC.element_to_be_clickable((By.NAME, "element_generate_reviews")))
    count.send_keys(Keys.CONTROL, "a")
    count.send_keys("300")
    open_section("Run")
    label = browser.find_element(By.XPATH, "//label[starts-with(normalize-space(.), 'Stages')]")
    stages = browser.find_element(By.ID, label.get_attribute("for"))

    def ticked() -> list[str]:
        return [v for e in browser.find_elements(By.NAME, "element_stages") if (v := e.get_attribute("value"))]

    # Empty the multi-select with Backspace, then pick the wanted stages by typing each name and Enter, as a
    # keyboard user would (a mouse click on the field lands on a chip once the chips wrap).
    for _ in range(3 * len(TICKED) + 10):
        if not ticked():
            break
        before = len(ticked())
        stages.send_keys(Keys.BACKSPACE)
        wait.until(lambda _d, before=before: len(ticked()) < before)
    assert ticked() == []
    for picked, stage in enumerate(TICKED, start=1):
        stages.send_keys(stage)
        stages.send_keys(Keys.ENTER)
        wait.until(lambda _d, picked=picked: len(ticked()) == picked)
    # Leave the field by clicking the dialog's title: Tab would pick the highlighted option, Escape close the dialog.
    browser.find_element(By.XPATH, "//*[starts-with(normalize-space(text()), 'Trigger Dag')]").click()
    browser.find_element(By.NAME, "element_run_date").send_keys("01012024")   # the date picker's mm/dd/yyyy
    assert ticked() == TICKED
    shot("03-trigger-form")
    browser.find_elements(By.XPATH, "//button[normalize-space(.)='Trigger']")[-1].click()

    def finished_run() -> str | None:
        browser.get(f"{url}/dags/reviewlake_manual/runs")
        time.sleep(1.5)
        text = browser.find_element(By.TAG_NAME, "body").text
        assert "Failed" not in text, text
        return text if re.search(r"manual__\S+", text) and "Success" in text else None

    page = _wait(finished_run, 1500, step=10, what="the triggered run to succeed")
    shot("04-run-succeeded")
    run_id = re.search(r"manual__\S+", page).group(0)
    browser.get(f"{url}/dags/reviewlake_manual/runs/{run_id}")
    time.sleep(3)
    shot("05-run-grid")

    ledger = DeltaTable(str(airflow_ui["lake"] / "ops" / "pipeline_runs")).to_pandas()
    assert sorted(ledger["job"]) == sorted(TICKED) and set(ledger["status"]) == {"succeeded"}
    assert set(ledger["run_id"]) == {run_id}
    assert {json.loads(p)["run_date"] for p in ledger["params"]} == {"2024-01-01"}
    assert all((tmp_path / f"{name}.png").stat().st_size > 10_000 for name in
               ("01-login", "02-manual-dag", "03-trigger-form", "04-run-succeeded", "05-run-grid"))

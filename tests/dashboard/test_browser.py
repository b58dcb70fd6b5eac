"""The dashboard in a real headless Chromium (Debian's chromium and chromium-driver, driven by Selenium with the
driver's path given, so nothing is downloaded): what a person sees on each page of a lakehouse with known anomalies.

One server (started through ./spark-submit.sh dashboard) and one browser serve the whole module. Screenshots go to
the test's temporary folder and, when $LAKEWATCH_SCREENSHOTS names a folder, are copied there.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from lakewatch.dashboard import data as lake
from lakewatch.event_ids import event_id
from tests.dashboard import lakehouse as known
from tests.dashboard import server

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
NOTE = "sensor recalibrated, see *ticket* [42](x) :red[no]"
WAIT = 60  # seconds; generous, so a loaded CI machine (2 cores) does not fail a page that is only slow

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip(f"Debian's chromium and chromium-driver are not installed ({CHROMIUM}, {CHROMEDRIVER}): "
                "apt-get install -y chromium chromium-driver", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def dashboard(known_lake, tmp_path_factory):
    """The dashboard served on `known_lake`, re-reading its tables every 3 seconds."""
    process, url = server.start(known_lake, tmp_path_factory.mktemp("server") / "dashboard.log", refresh=3)
    yield url
    server.stop(process)


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1300",
                     "--disable-gpu", "--hide-scrollbars"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def open_page(browser, url: str) -> None:
    """Load `url` and wait until the app has run its script (its status widget stops showing it running)."""
    browser.get(url)
    WebDriverWait(browser, WAIT).until(lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="stMain"] h1'))
    settled(browser)
    dialogs = [d.text for d in browser.find_elements(By.CSS_SELECTOR, '[role="dialog"]')]
    assert not dialogs, f"{url} opened with a dialog: {dialogs}"  # e.g. Streamlit's "Page not found"


def settled(browser) -> None:
    WebDriverWait(browser, WAIT).until(
        lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"] [data-testid="stSpinner"]'))
    time.sleep(0.5)


def until(browser, condition, message: str, timeout: float = WAIT):
    """Wait for `condition(browser)` to be truthy, retrying when the page re-renders an element under it."""
    def check(driver):
        try:
            return condition(driver)
        except StaleElementReferenceException:
            return False
    try:
        return WebDriverWait(browser, timeout).until(check)
    except TimeoutException:
        shown = browser.find_element(By.TAG_NAME, "body").text[:2000]
        raise AssertionError(f"{message} (page text: {shown!r})") from None


def metric(browser, label: str) -> str | None:
    for box in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]'):
        if box.find_element(By.CSS_SELECTOR, '[data-testid="stMetricLabel"]').text.strip() == label:
            return box.find_element(By.CSS_SELECTOR, '[data-testid="stMetricValue"]').text.strip()
    return None


def plots(browser) -> list:
    """The plotly charts drawn (a main SVG inside each chart's div)."""
    return [p for p in browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")
            if p.find_elements(By.CSS_SELECTOR, "svg.main-svg")]


def screenshot(browser, shots: Path, name: str) -> Path:
    # The whole page: widen the window to the document's height first.
    height = browser.execute_script(
        "const m = document.querySelector('[data-testid=\"stMain\"]'); return m ? m.scrollHeight : 1300;")
    browser.set_window_size(1600, max(1300, min(int(height) + 200, 6000)))
    time.sleep(0.8)
    path = shots / f"{name}.png"
    browser.save_screenshot(str(path))
    browser.set_window_size(1600, 1300)
    target = os.environ.get("LAKEWATCH_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)
    return path


def sql(config, query: str, params=()) -> int:
    data = lake.open_data(config)
    try:
        return int(data.query(query, list(params), a="gold_anomalies").iloc[0, 0])
    finally:
        data.reader.close()


def page_text(browser) -> str:
    return browser.find_element(By.CSS_SELECTOR, '[data-testid="stMain"]').text


def test_overview(browser, dashboard, known_lake, shots):
    open_page(browser, f"{dashboard}/")
    expected = str(sql(known_lake, "SELECT count(*) FROM {a}"))
    until(browser, lambda d: metric(d, "Anomaly events") == expected, f"Anomaly events should show {expected}")
    assert metric(browser, "Open events") == str(sql(known_lake, "SELECT count(*) FROM {a} WHERE is_open"))
    until(browser, lambda d: len(plots(d)) == 2, "two charts should be drawn")
    bars = browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .barlayer .point path")
    assert len(bars) >= 3
    assert "Traceback" not in page_text(browser)
    screenshot(browser, shots, "1-overview")


def test_series_explorer(browser, dashboard, shots):
    open_page(browser, f"{dashboard}/series?series=machine_temp")
    until(browser, lambda d: len(plots(d)) == 1, "the series chart should be drawn")
    until(browser, lambda d: metric(d, "Flagged points") == "5", "5 flagged points")
    chart = plots(browser)[0]
    legend = [t.text for t in chart.find_elements(By.CSS_SELECTOR, ".legendtext")]
    assert {"value", "score", "flagged points", "anomaly event", "labelled window"} <= set(legend)
    lines = chart.find_elements(By.CSS_SELECTOR, ".scatterlayer .trace .lines path")
    assert lines and all(len(p.get_attribute("d") or "") > 1000 for p in lines[:2])  # 864 points per line
    assert len(chart.find_elements(By.CSS_SELECTOR, ".shapelayer path")) >= 6  # events and label, both panels
    assert "threshold 0.503" in chart.text
    screenshot(browser, shots, "2-series-explorer")


def test_series_explorer_unknown_series(browser, dashboard, shots):
    open_page(browser, f"{dashboard}/series?series=no-such-series")
    alert = until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '[data-testid="stAlert"]'), "an error box")
    assert "No such series: 'no-such-series'" in alert[0].text
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    assert not plots(browser)
    screenshot(browser, shots, "3-no-such-series")


def choose(browser, label: str, option_text: str) -> None:
    """Pick the option containing `option_text` in the selectbox labelled `label`; a page that re-renders under
    the click (the app re-runs after the previous choice) is tried again, up to five times."""
    for attempt in range(5):
        settled(browser)
        try:
            _choose_once(browser, label, option_text)
            break
        except StaleElementReferenceException:
            if attempt == 4:
                raise
    settled(browser)


def _choose_once(browser, label: str, option_text: str) -> None:
    for box in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stSelectbox"]'):
        if box.find_element(By.CSS_SELECTOR, "label").text.strip() == label:
            box.find_element(By.CSS_SELECTOR, "input").click()
            break
    else:
        raise AssertionError(f"no selectbox labelled {label!r}")
    option = until(browser, lambda d: [o for o in d.find_elements(By.CSS_SELECTOR, '[role="option"]')
                                       if option_text in o.text], f"an option with {option_text!r}")
    option[0].click()


def test_anomaly_review(browser, dashboard, known_lake, shots):
    open_page(browser, f"{dashboard}/review")
    total = sql(known_lake, "SELECT count(*) FROM {a}")
    until(browser, lambda d: f"{total} events match" in page_text(d), f"the page should say {total} events")
    grid = browser.find_element(By.CSS_SELECTOR, '[data-testid="stDataFrame"] [aria-rowcount]')
    assert int(grid.get_attribute("aria-rowcount")) == total + 1  # the header row and one row per event
    choose(browser, "Series", "machine_temp")
    until(browser, lambda d: "2 events match" in page_text(d), "2 events of machine_temp")
    choose(browser, "Event", f"{known.SPIKE.start:%Y-%m-%d %H:%M}")
    until(browser, lambda d: len(plots(d)) == 2, "the context and SHAP charts")

    def top_bar_label(driver) -> str:
        shap = next(p for p in plots(driver) if "SHAP" in p.text)
        ticks = shap.find_elements(By.CSS_SELECTOR, ".yaxislayer-above .ytick text")
        return min(ticks, key=lambda t: t.location["y"]).text  # the top bar's label

    until(browser, lambda d: top_bar_label(d) == "value[t]", "the top SHAP bar should name value[t]")
    assert metric(browser, "Model version") == known.MODEL_VERSION and metric(browser, "Threshold") == "0.500"
    screenshot(browser, shots, "4-anomaly-review")
    # The verdict buttons: mark the spike a false positive, with a reviewer and a note.
    spike_id = event_id(known.SPIKE.series_id, known.SPIKE.channel, known.SPIKE.start, known.DETECTOR,
                        known.MODEL_VERSION)
    until(browser, lambda d: f"Verdict: none yet on event {spike_id}" in page_text(d), "no verdict yet")
    type_into(browser, "Reviewer (optional)", "selenium")
    type_into(browser, "Note (optional)", NOTE)
    click_button(browser, "False positive")
    until(browser, lambda d: "Verdict: false positive by selenium" in page_text(d), "the verdict just given")
    assert f"\u201c{NOTE}\u201d" in page_text(browser)  # shown as typed, not as markdown
    rows = DeltaTable(known_lake.lakehouse.table(known_lake.tables.gold_feedback)).to_pyarrow_table().to_pylist()
    assert [(r["event_id"], r["label"], r["reviewer"], r["note"], r["source"]) for r in rows] == [
        (spike_id, "false_positive", "selenium", NOTE, "dashboard")]
    screenshot(browser, shots, "4b-anomaly-review-verdict")


def type_into(browser, label: str, text: str) -> None:
    """Type `text` into the text input labelled `label` (retried when the page re-renders under it)."""
    def typed(driver) -> bool:
        for box in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stTextInput"]'):
            if box.find_element(By.CSS_SELECTOR, "label").text.strip() == label:
                field = box.find_element(By.CSS_SELECTOR, "input")
                field.clear()
                field.send_keys(text)
                return field.get_attribute("value") == text
        return False
    until(browser, typed, f"a text input labelled {label!r} holding {text!r}")


def click_button(browser, label: str) -> None:
    """Click the button whose text is `label` (retried when the page re-renders under it)."""
    def clicked(driver) -> bool:
        for button in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMain"] button'):
            if button.text.strip().endswith(label):
                button.click()
                return True
        return False
    until(browser, clicked, f"a button {label!r}")


def test_data_quality(browser, dashboard, shots):
    open_page(browser, f"{dashboard}/quality")
    until(browser, lambda d: metric(d, "Failed") == "1", "one failed validation run")
    until(browser, lambda d: len(plots(d)) == 1, "the quarantine chart")
    legend = {t.text for t in plots(browser)[0].find_elements(By.CSS_SELECTOR, ".legendtext")}
    assert legend == set(known.QUARANTINE_REASONS)
    screenshot(browser, shots, "5-data-quality")


def test_models(browser, dashboard, shots):
    open_page(browser, f"{dashboard}/models")
    until(browser, lambda d: "No MLflow store yet" in page_text(d), "the missing MLflow store explained")
    until(browser, lambda d: len(plots(d)) == 1, "the scoreboard chart")
    assert "lakewatch:lakewatch_nab" in plots(browser)[0].text
    screenshot(browser, shots, "6-models")


def test_drift(browser, dashboard, shots):
    open_page(browser, f"{dashboard}/drift")
    until(browser, lambda d: metric(d, "Drifted now") == "2", "two series drifted in the latest window")
    assert metric(browser, "Open retrain requests") == "1"
    until(browser, lambda d: len(plots(d)) == 1, "the drift chart")
    chart = plots(browser)[0]
    legend = {t.text for t in chart.find_elements(By.CSS_SELECTOR, ".legendtext")}
    assert {"value", "drifted window", "retrain request"} <= legend
    assert "threshold 0.2" in chart.text and "retrain done: kept_champion" in chart.text
    assert len(chart.find_elements(By.CSS_SELECTOR, ".scatterlayer .trace .lines path")) >= 5  # one per panel
    screenshot(browser, shots, "6b-drift")


def test_overview_follows_the_stream(browser, dashboard, known_lake, shots):
    open_page(browser, f"{dashboard}/")
    until(browser, lambda d: metric(d, "Anomaly events") == "4", "4 events before the write")
    start = known.START + timedelta(days=2, hours=20)
    schema = lake_schema()
    row = {name: [None] for name in schema.names}
    row.update({"series_id": ["cpu_util"], "channel": ["value"], "start": [start], "end": [start], "peak_at": [start],
                "peak_score": [0.95], "points": [1], "threshold": [0.5], "is_open": [True],
                "detector": [known.DETECTOR], "model_version": [known.MODEL_VERSION], "batch_id": [99],
                "updated_at": [start]})
    write_deltalake(known_lake.lakehouse.table(known_lake.tables.gold_anomalies), pa.table(row, schema=schema),
                    mode="append")
    until(browser, lambda d: metric(d, "Anomaly events") == "5" and metric(d, "Open events") == "2",
          "the new event should appear without reloading the page", timeout=30)
    screenshot(browser, shots, "7-overview-after-a-write")


def test_empty_lakehouse_is_explained(browser, empty_lake, tmp_path, shots):
    process, url = server.start(empty_lake, tmp_path / "empty.log")
    try:
        for path, name in (("/", "8-empty-overview"), ("/review", "9-empty-review")):
            open_page(browser, f"{url}{path}")
            until(browser, lambda d: "does not exist yet" in page_text(d), f"{path} should explain the empty tables")
            assert "spark-submit.sh score_stream" in page_text(browser)
            assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
            screenshot(browser, shots, name)
    finally:
        server.stop(process)


def lake_schema() -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema

    from lakewatch.schemas import GOLD_ANOMALIES

    return to_arrow_schema(GOLD_ANOMALIES)

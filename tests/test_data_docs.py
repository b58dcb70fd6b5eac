"""Great Expectations Data Docs render offline: styles applied and both index tables filled, in headless Chromium
that can resolve no host name (a plant network), after a tiny validation run."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import great_expectations as gx
import pytest

from lakewatch.data_docs import CDN_ASSETS, DataDocsError, external_assets, make_offline
from lakewatch.validation import SuiteRunner

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
GE_TEMPLATES = Path(gx.__file__).parent / "render" / "view" / "templates"
# The browser's default sans-less font: what an unstyled page computes for <body>.
DEFAULT_FONT = '"Times New Roman"'


@pytest.fixture(scope="module")
def site(spark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GX file context with two validated suites (one passing, one failing); its Data Docs site folder."""
    runner = SuiteRunner(tmp_path_factory.mktemp("gx"))
    df = spark.createDataFrame([("a", 1.0), ("b", None), ("c", 3.0)], "series_id string, value double")
    ok, _, _ = runner.run(df, "tiny", "tiny_ids", [gx.expectations.ExpectColumnValuesToNotBeNull(column="series_id")])
    bad, failures, _ = runner.run(df, "tiny_values", "tiny_values",
                                  [gx.expectations.ExpectColumnValuesToNotBeNull(column="value")])
    assert ok and not bad and failures[0].unexpected_count == 1
    return Path(runner.docs_index()).parent


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(f"{CHROMIUM} and {CHROMEDRIVER} are needed (apt-get install -y chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,900", "--host-resolver-rules=MAP * ~NOTFOUND"):  # no network, like a plant's
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _page_state(browser, index: Path) -> dict:
    browser.get(index.as_uri())
    return browser.execute_script("""
        const tables = Array.from(document.querySelectorAll('table[id$="-body-table"]'));
        return {font: getComputedStyle(document.body).fontFamily,
                tables: tables.map(t => t.querySelectorAll('tbody tr:not(.no-records-found)').length),
                text: document.body.innerText};
    """)


def test_every_cdn_asset_of_ges_templates_has_a_local_copy() -> None:
    loaded = set()
    for template in GE_TEMPLATES.glob("*.j2"):
        loaded |= set(external_assets(template.read_text()))
    loaded = {u for u in loaded if "{{" not in u and "great-expectations-web-assets" not in u}
    assert loaded and loaded <= set(CDN_ASSETS), sorted(loaded - set(CDN_ASSETS))


def test_make_offline_names_a_site_that_was_not_built(tmp_path: Path) -> None:
    with pytest.raises(DataDocsError, match=r"no index.html"):
        make_offline(tmp_path)


def test_the_site_loads_nothing_from_the_network(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 5  # index, two suites, two validation results
    for page in pages:
        html = page.read_text()
        assert external_assets(html) == [], page
        for local in re.findall(r'(?:src|href)="([^"]*static/vendor/[^"]+)"', html):
            assert (page.parent / local).resolve().is_file(), (page, local)
    assert make_offline(site) == []  # already offline: nothing to rewrite


def test_data_docs_render_offline_in_chromium(site: Path, browser, tmp_path: Path) -> None:
    # GE's own rendering of the same site, as it loads from the CDNs: no styles, empty tables.
    raw = tmp_path / "raw_site"
    shutil.copytree(site, raw, ignore=shutil.ignore_patterns("vendor"))
    for page in raw.rglob("*.html"):
        html = page.read_text()
        for url, local in CDN_ASSETS.items():
            html = re.sub(rf'"[./]*static/vendor/{re.escape(local)}"', f'"{url}"', html)
        page.write_text(html)
    before = _page_state(browser, raw / "index.html")
    assert before["font"] == DEFAULT_FONT and sum(before["tables"]) == 0

    after = _page_state(browser, site / "index.html")
    shot = Path(os.environ.get("LAKEWATCH_SCREENSHOTS", tmp_path)) / "data_docs_offline.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    assert after["font"] != DEFAULT_FONT and "Segoe UI" in after["font"]  # Bootstrap's font stack
    assert after["tables"] == [2, 2], after  # Validation Results and Expectation Suites, two rows each
    assert "tiny_values" in after["text"] and "Showing 1 to 2 of 2 rows" in after["text"]

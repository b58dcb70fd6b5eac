"""``./spark-submit.sh report``: the period, what the report gathers from a lakehouse of known rows, the HTML with its
sections and embedded charts, and the PDF's pages rendered to PNG with poppler's pdftoppm (each page has content,
chart pages have the charts' colours); an empty lakehouse gives a report of notes, a bad --since a usage error."""

from __future__ import annotations

import base64
import copy
import io
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from lakewatch.dashboard.data import open_data
from lakewatch.jobs import report as job
from lakewatch.reporting import gather, parse_period
from lakewatch.reporting.html import HTML_ROWS, render_html
from lakewatch.reporting.period import BadPeriod
from tests.dashboard.conftest import job_options
from tests.dashboard.lakehouse import EVENTS, QUARANTINE_REASONS, SPIKE
from tests.jobs_harness import run_job
from tests.reporting.conftest import RETRAIN

SINCE, UNTIL = "2026-03-01", "2026-03-05"
SECTIONS = ("summary", "top-anomalies", "data-quality", "drift")
NOTE_KEYS = ("readings", "anomalies", "top", "feedback", "validations", "quarantine", "drift", "retrains")
#: Pages of the known lakehouse's PDF: summary, one per event (all four are in the top 5), data quality, drift.
PAGES = 1 + len(EVENTS) + 2


# ----------------------------------------------------------------------------------------------- period
@pytest.mark.parametrize(("since", "until", "start", "end"), [
    ("7d", None, datetime(2026, 3, 3, 12, tzinfo=UTC), datetime(2026, 3, 10, 12, tzinfo=UTC)),
    ("36h", "2026-03-05", datetime(2026, 3, 3, 12, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC)),
    ("2W", None, datetime(2026, 2, 24, 12, tzinfo=UTC), datetime(2026, 3, 10, 12, tzinfo=UTC)),
    ("90m", None, datetime(2026, 3, 10, 10, 30, tzinfo=UTC), datetime(2026, 3, 10, 12, tzinfo=UTC)),
    ("2026-03-01T06:00+01:00", None, datetime(2026, 3, 1, 5, tzinfo=UTC), datetime(2026, 3, 10, 12, tzinfo=UTC)),
])
def test_since_is_a_duration_back_from_the_end_or_a_time(since, until, start, end):
    period = parse_period(since, until, now=datetime(2026, 3, 10, 12, tzinfo=UTC))
    assert (period.start, period.end) == (start, end)


@pytest.mark.parametrize(("since", "until", "message"), [
    ("7x", None, "--since '7x': expected a duration such as 7d"),
    ("last week", None, "--since 'last week': expected a duration"),
    ("0d", None, "--since '0d': the period is empty"),
    ("2026-03-06", "2026-03-05", "--since '2026-03-06' is not before the end of the period (2026-03-05 00:00 UTC)"),
    ("7d", "tomorrow", "--until 'tomorrow': expected"),
])
def test_a_bad_period_names_the_option_and_value(since, until, message):
    with pytest.raises(BadPeriod, match=re.escape(message)):
        parse_period(since, until)


@pytest.mark.parametrize(("argv", "message"), [
    (["--since", "7x"], "error: --since '7x': expected a duration such as 7d, 36h, 2w or 90m"),
    (["--until", "2026-02-30"], "error: --until '2026-02-30': expected"),
    (["--top", "-1"], "error: --top -1: expected a number of events from 0 to 50"),
])
def test_bad_options_are_usage_errors_naming_them(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        job.main(["--out", str(tmp_path / "out"), *argv])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------------------- content
@pytest.fixture(scope="module")
def report(report_lake):
    data = open_data(report_lake)
    try:
        yield gather(data, parse_period(SINCE, UNTIL), top=5)
    finally:
        data.reader.close()


def test_the_summary_counts_the_period(report):
    assert report.readings == {"readings": 4 * 3 * 24 * 12, "series": 3, "channels": 4,
                               "scored": 4 * 3 * 24 * 12, "flagged": sum(e.points for e in EVENTS)}
    assert report.by_day.to_dict("list") == {"day": ["2026-03-01", "2026-03-02", "2026-03-03"], "events": [1, 1, 2]}
    expected = pd.DataFrame({"series_id": ["machine_temp", "cpu_util", "pump"],
                             "channel": ["value", "value", "pressure"], "events": [2, 1, 1],
                             "open_events": [0, 0, 1], "peak_score": [0.9, 0.9, 0.9]})
    pd.testing.assert_frame_equal(report.by_series, expected, check_dtype=False)


def test_precision_counts_each_reviewed_events_newest_verdict(report):
    # cpu_util's event was marked false, then true; machine_temp has one true and one false positive.
    expected = pd.DataFrame({"series_id": ["machine_temp", "cpu_util"], "channel": ["value", "value"],
                             "verdicts": [2, 1], "true_positives": [1, 1], "false_positives": [1, 0],
                             "precision": [0.5, 1.0]})
    pd.testing.assert_frame_equal(report.feedback, expected, check_dtype=False)
    assert report.precision == {"verdicts": 3, "true_positives": 2, "false_positives": 1, "precision": 2 / 3}


def test_top_anomalies_carry_their_points_shap_and_verdict(report):
    assert [t.event["series_id"] for t in report.top] == ["cpu_util", "pump", "machine_temp", "machine_temp"]
    spike = next(t for t in report.top if pd.Timestamp(t.event["start"]) == SPIKE.start)
    assert spike.contributions.to_dict("list") == {"input": [n for n, _ in SPIKE.top_inputs],
                                                   "shap": [v for _, v in SPIKE.top_inputs]}
    assert spike.base_value == pytest.approx(0.1) and spike.verdict == "true positive"
    flagged = spike.points[spike.points["flag"]]
    assert list(pd.to_datetime(flagged["timestamp"], utc=True)) == \
        [SPIKE.start + timedelta(minutes=5 * i) for i in range(SPIKE.points)]
    assert pd.to_datetime(spike.points["timestamp"], utc=True).min() <= SPIKE.start - timedelta(hours=6)
    assert [t.verdict for t in report.top if t.event["series_id"] == "pump"] == [None]


def test_quality_and_drift_sections(report):
    assert report.quarantine.to_dict("list") == {"reason": list(QUARANTINE_REASONS),
                                                 "rows": list(QUARANTINE_REASONS.values())}
    assert report.validations[["suite", "success", "expectations_failed"]].to_dict("records") == \
        [{"suite": "silver_readings", "success": False, "expectations_failed": 1}]
    drift = report.drift[["series_id", "channel", "windows", "drifted_windows", "reason"]]
    assert drift.to_dict("records") == [
        {"series_id": "pump", "channel": "pressure", "windows": 3, "drifted_windows": 2, "reason": "psi 0.90 > 0.25"},
        {"series_id": "cpu_util", "channel": "value", "windows": 2, "drifted_windows": 0, "reason": None}]
    assert report.retrains[["series_id", "decision", "details"]].to_dict("records") == \
        [{"series_id": "pump", "decision": RETRAIN["decision"], "details": RETRAIN["details"]}]
    assert report.notes == {}


def test_a_period_before_the_data_has_a_note_per_section_instead_of_numbers(report_lake):
    data = open_data(report_lake)
    try:
        empty = gather(data, parse_period("2025-01-01", "2025-02-01"))
    finally:
        data.reader.close()
    assert empty.events.empty and not empty.top
    assert empty.notes["anomalies"] == "no anomaly events between 2025-01-01 00:00 and 2025-02-01 00:00 UTC"
    assert set(empty.notes) == set(NOTE_KEYS) - {"feedback"}, "feedback is precision so far, not of the period"


def test_long_tables_show_their_first_rows_and_count_the_rest(report):
    many = copy.copy(report)
    many.top = []
    many.by_series = pd.DataFrame({"series_id": [f"s{i:03d}" for i in range(HTML_ROWS + 7)], "channel": "value",
                                   "events": 1, "open_events": 0, "peak_score": 0.7})
    html = render_html(many)
    assert f"first {HTML_ROWS} of {HTML_ROWS + 7} rows" in html
    assert f"<td>s{HTML_ROWS - 1:03d}</td>" in html and f"<td>s{HTML_ROWS:03d}</td>" not in html


# ----------------------------------------------------------------------------------------------- files
def _pngs(html: str) -> list[Image.Image]:
    found = re.findall(r'<img class="chart" alt="[^"]*" src="data:image/png;base64,([^"]+)">', html)
    return [Image.open(io.BytesIO(base64.b64decode(b))).convert("RGB") for b in found]


def _coloured(image: Image.Image) -> np.ndarray:
    """Pixels whose channels differ by more than 60: colour, not black, grey or white."""
    pixels = np.asarray(image.convert("RGB"), dtype=int)
    return (pixels.max(axis=2) - pixels.min(axis=2)) > 60


def _reddish(image: Image.Image) -> int:
    r, g, b = np.moveaxis(np.asarray(image.convert("RGB"), dtype=int), 2, 0)
    return int(((r > 170) & (g < 110) & (b < 110)).sum())


def _render(pdf: Path, folder: Path) -> list[Image.Image]:
    if shutil.which("pdftoppm") is None:
        pytest.skip("poppler's pdftoppm is not installed (./spark-submit.sh test installs Debian's poppler-utils)")
    folder.mkdir(exist_ok=True)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(folder / "page")], check=True, timeout=120)
    return [Image.open(p).convert("RGB") for p in sorted(folder.glob("page-*.png"))]


@pytest.fixture(scope="module")
def written(report_lake, tmp_path_factory):
    """The known lakehouse's report, written by the launcher as the README says."""
    out = tmp_path_factory.mktemp("report") / "out"
    done = run_job(["report", "--since", SINCE, "--until", UNTIL, "--out", str(out), *job_options(report_lake)],
                   timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"report.pdf ({PAGES} pages, {len(EVENTS)} events, {len(EVENTS)} charted)" in done.stderr
    return out


def test_the_html_is_one_file_with_every_section_and_its_charts_embedded(written):
    html = (written / "report.html").read_text()
    for section in SECTIONS:
        assert f'<section id="{section}">' in html
    assert "66.7% (2 of 3 reviewed events)" in html and RETRAIN["decision"] in html and "bad_timestamp" in html
    assert 'data-empty="' not in html, "every section of the known lakehouse has something to show"
    assert not re.search(r'(src|href)="(https?:|//|file:)', html), "the report must open offline"
    images = _pngs(html)
    # per day, per series, each event's chart and SHAP bars, quarantine, drift
    assert len(images) == 2 + 2 * len(EVENTS) + 2
    for image in images:
        assert image.width > 500 and _coloured(image).sum() > 300


def test_every_pdf_page_has_content_and_the_chart_pages_their_colours(written, tmp_path):
    pages = _render(written / "report.pdf", tmp_path / "pages")
    assert len(pages) == PAGES
    for number, page in enumerate(pages, 1):
        ink = (np.asarray(page, dtype=int).min(axis=2) < 200).mean()
        assert ink > 0.01, f"page {number} is (nearly) blank: {ink:.2%} ink"
        assert _coloured(page).sum() > 500, f"page {number} has no chart colours"
    # red: the events per day bars, the event spans, flagged points and thresholds, the drifted windows
    for number in [1, *range(2, 2 + len(EVENTS)), PAGES]:
        assert _reddish(pages[number - 1]) > 200, f"page {number} lacks its red chart marks"


def test_an_empty_lakehouse_gives_a_report_of_notes(empty_lake, tmp_path):
    out = tmp_path / "out"
    assert job.main(["--out", str(out), "--since", "30d", *job_options(empty_lake)]) == 0
    html = (out / "report.html").read_text()
    for key in NOTE_KEYS:
        assert f'data-empty="{key}"' in html, key
    assert f"table {empty_lake.tables.gold_drift_metrics} does not exist yet" in html
    assert "run ./spark-submit.sh drift to create it" in html
    assert not _pngs(html)
    pages = _render(out / "report.pdf", tmp_path / "pages")
    assert len(pages) == 4
    for page in pages:
        assert (np.asarray(page, dtype=int).min(axis=2) < 200).mean() > 0.005


def test_an_unwritable_out_folder_is_a_clear_error(report_lake, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert job.main(["--out", str(blocker / "report"), "--since", SINCE, "--until", UNTIL,
                     *job_options(report_lake)]) == 1
    assert f"error: --out {blocker / 'report'}: cannot write the report there" in capsys.readouterr().err

"""The report as one self-contained HTML file: Jinja2 (autoescaped) with every chart embedded as a base64 PNG, so
it opens offline and travels as a single attachment."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass

import jinja2
from matplotlib.figure import Figure

from lakewatch.reporting import charts
from lakewatch.reporting.cells import headings, rows
from lakewatch.reporting.content import (
    DRIFT,
    FEEDBACK,
    QUARANTINE_COLUMNS,
    RETRAINS,
    SERIES_COLUMNS,
    VALIDATION_COLUMNS,
    Report,
    TopAnomaly,
    event_facts,
    summary,
)
from lakewatch.reporting.template import REPORT_HTML

TITLE = "lakewatch report"
DPI = 110


@dataclass(frozen=True)
class Table:
    """A table as the template shows it: headings and rows of text cells."""

    headings: list[str]
    rows: list[list[str]]
    total: int


#: The most rows an HTML table shows (the rest are counted under it).
HTML_ROWS = 50


def _table(frame, columns: list[str], width: int | None = None) -> Table:
    return Table(headings(columns), rows(frame, columns, HTML_ROWS, width) if not frame.empty else [], len(frame))


def png(draw: Callable[[Figure], None], size: tuple[float, float]) -> str:
    """A chart drawn by `draw` on a new figure of `size` inches, as base64 PNG text."""
    fig = Figure(figsize=size, layout="constrained")
    draw(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _event_png(top: TopAnomaly) -> str:
    def draw(fig: Figure) -> None:
        value_ax, score_ax = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
        charts.event_chart(value_ax, score_ax, top.points, top.event)
    return png(draw, (10, 4.2))


def _shap_png(top: TopAnomaly) -> str | None:
    if top.contributions.empty:
        return None
    return png(lambda fig: charts.shap_bars(fig.subplots(), top.contributions, top.base_value),
               (10, 0.6 + 0.3 * len(top.contributions)))


def render_html(report: Report) -> str:
    """The report as HTML text."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    chart_pngs = {
        "by_day": None if report.by_day.empty else png(lambda f: charts.events_per_day(f.subplots(), report.by_day),
                                                         (10, 3)),
        "by_series": None if report.by_series.empty else png(
            lambda f: charts.events_per_series(f.subplots(), report.by_series),
            (10, 1 + 0.3 * min(len(report.by_series), 12))),
        "quarantine": None if report.quarantine.empty else png(
            lambda f: charts.quarantine_by_reason(f.subplots(), report.quarantine),
            (10, 1 + 0.3 * len(report.quarantine))),
        "drift": None if report.drift.empty else png(lambda f: charts.drift_windows(f.subplots(), report.drift),
                                                       (10, 1 + 0.3 * min(len(report.drift), 12))),
    }
    top = [{"title": f"{t.event['series_id']} / {t.event['channel']}, peak score {float(t.event['peak_score']):.3f}",
            "facts": event_facts(t), "chart": _event_png(t), "shap": _shap_png(t)} for t in report.top]
    return env.from_string(REPORT_HTML).render(
        title=TITLE, period=str(report.period), generated_at=f"{report.generated_at:%Y-%m-%d %H:%M} UTC",
        table_root=report.table_root, stats=summary(report), notes=report.notes, charts=chart_pngs,
        by_series=_table(report.by_series, SERIES_COLUMNS),
        feedback=_table(report.feedback, FEEDBACK),
        top=top,
        validations=_table(report.validations, VALIDATION_COLUMNS),
        quarantine=_table(report.quarantine, QUARANTINE_COLUMNS),
        drift=_table(report.drift, DRIFT, width=80),
        retrains=_table(report.retrains, RETRAINS, width=80))

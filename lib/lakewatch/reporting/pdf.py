"""The report as a PDF of the same content as the HTML, drawn page by page with matplotlib (PdfPages): a summary
page, one page per top anomaly, a data quality page and a drift page, A4 landscape, charts as vectors."""

from __future__ import annotations

import textwrap
from datetime import UTC
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
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

A4_LANDSCAPE = (11.69, 8.27)
TABLE_ROWS = 14
TITLE = "lakewatch report"


def _page(report: Report, heading: str) -> Figure:
    fig = Figure(figsize=A4_LANDSCAPE, layout="constrained")
    fig.get_layout_engine().set(h_pad=0.12, w_pad=0.12)
    fig.suptitle(f"{TITLE}: {heading}", x=0.01, ha="left", fontsize=14, fontweight="bold")
    fig.text(0.99, 0.005, f"{report.period}  ·  {report.table_root}", ha="right", va="bottom", fontsize=7,
             color=charts.NEUTRAL)
    return fig


def _note(ax: Axes, title: str, text: str, wrap: int = 150) -> None:
    ax.axis("off")
    ax.set_title(title, fontsize=10, loc="left")
    ax.text(0, 0.95, textwrap.fill(text, wrap), va="top", fontsize=8, color="#8a5300",
            bbox={"facecolor": "#fff8e1", "edgecolor": charts.OPEN_EVENT, "boxstyle": "round,pad=0.5"},
            transform=ax.transAxes)


def _table(ax: Axes, title: str, frame, columns: list[str], note: str | None, width: int = 40, wrap: int = 150
           ) -> None:
    if frame.empty:
        _note(ax, title, note or "nothing to show", wrap)
        return
    ax.axis("off")
    more = f" (first {TABLE_ROWS} of {len(frame)})" if len(frame) > TABLE_ROWS else ""
    ax.set_title(title + more, fontsize=10, loc="left")
    table = ax.table(cellText=rows(frame, columns, TABLE_ROWS, width), colLabels=headings(columns),
                     loc="upper left", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.auto_set_column_width(list(range(len(columns))))
    for (row, _), cell in table.get_celld().items():
        cell.set_edgecolor("#dddddd")
        if row == 0:
            cell.set_facecolor("#f0f0f0")


def _facts(ax: Axes, title: str, facts: list[tuple[str, str]], columns: int = 3) -> None:
    ax.axis("off")
    ax.set_title(title, fontsize=11, loc="left", fontweight="bold")
    per_column = -(-len(facts) // columns)
    for i, (label, value) in enumerate(facts):
        x, y = (i // per_column) / columns, 0.9 - (i % per_column) * (0.8 / max(per_column, 1))
        ax.text(x, y, f"{label}: {value}", fontsize=8, va="top", transform=ax.transAxes)


def _summary_page(report: Report) -> Figure:
    fig = _page(report, "summary")
    grid = fig.add_gridspec(3, 2, height_ratios=[1.1, 2, 2])
    _facts(fig.add_subplot(grid[0, :]), "Summary statistics", summary(report))
    if report.by_day.empty:
        _note(fig.add_subplot(grid[1, :]), "Anomaly events", report.notes.get("anomalies", ""))
    else:
        charts.events_per_day(fig.add_subplot(grid[1, 0]), report.by_day)
        charts.events_per_series(fig.add_subplot(grid[1, 1]), report.by_series)
    _table(fig.add_subplot(grid[2, 0]), "Events per series", report.by_series, SERIES_COLUMNS,
           report.notes.get("anomalies"), wrap=70)
    _table(fig.add_subplot(grid[2, 1]), "Precision from feedback so far", report.feedback, FEEDBACK,
           report.notes.get("feedback"), wrap=70)
    return fig


def _anomaly_page(report: Report, rank: int, top: TopAnomaly) -> Figure:
    e = top.event
    fig = _page(report, f"top anomaly {rank}")
    grid = fig.add_gridspec(4, 1, height_ratios=[0.9, 3, 2, 0.6 + 0.25 * max(len(top.contributions), 2)])
    _facts(fig.add_subplot(grid[0]), f"{e['series_id']} / {e['channel']}, peak score {float(e['peak_score']):.3f}",
           event_facts(top))
    value_ax = fig.add_subplot(grid[1])
    charts.event_chart(value_ax, fig.add_subplot(grid[2], sharex=value_ax), top.points, e)
    if top.contributions.empty:
        _note(fig.add_subplot(grid[3]), "SHAP contributions", "no SHAP explanation recorded for this event")
    else:
        charts.shap_bars(fig.add_subplot(grid[3]), top.contributions, top.base_value)
    return fig


def _no_anomalies_page(report: Report) -> Figure:
    fig = _page(report, "top anomalies")
    _note(fig.add_subplot(), "Top anomalies", report.notes.get("top", "no anomaly events in the period"))
    return fig


def _quality_page(report: Report) -> Figure:
    fig = _page(report, "data quality")
    grid = fig.add_gridspec(2, 2, height_ratios=[3, 2])
    _table(fig.add_subplot(grid[0, :]), "Validation runs", report.validations, VALIDATION_COLUMNS,
           report.notes.get("validations"))
    if report.quarantine.empty:
        _note(fig.add_subplot(grid[1, 0]), "Rows quarantined by reason", report.notes.get("quarantine", ""), 70)
    else:
        charts.quarantine_by_reason(fig.add_subplot(grid[1, 0]), report.quarantine)
    if not report.quarantine.empty:
        _table(fig.add_subplot(grid[1, 1]), "Quarantine by reason", report.quarantine, QUARANTINE_COLUMNS, None)
    return fig


def _drift_page(report: Report) -> Figure:
    fig = _page(report, "drift and retraining")
    grid = fig.add_gridspec(3, 1, height_ratios=[2, 2, 2])
    if report.drift.empty:
        _note(fig.add_subplot(grid[0]), "Series drifted", report.notes.get("drift", ""))
    else:
        charts.drift_windows(fig.add_subplot(grid[0]), report.drift)
    _table(fig.add_subplot(grid[1]), "Series drifted", report.drift, DRIFT, report.notes.get("drift"), width=60)
    _table(fig.add_subplot(grid[2]), "Retrains and their outcome", report.retrains, RETRAINS,
           report.notes.get("retrains"), width=60)
    return fig


def write_pdf(report: Report, path: Path) -> int:
    """Write the report's PDF to `path`; the number of pages written."""
    pages = [_summary_page(report)]
    pages += [_anomaly_page(report, i + 1, t) for i, t in enumerate(report.top)] or [_no_anomalies_page(report)]
    pages += [_quality_page(report), _drift_page(report)]
    with PdfPages(path, metadata={"Title": f"{TITLE}, {report.period}", "Creator": "lakewatch",
                                  "CreationDate": report.generated_at.astimezone(UTC)}) as pdf:
        for fig in pages:
            pdf.savefig(fig)
    return len(pages)

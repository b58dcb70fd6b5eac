"""The report's charts, drawn with matplotlib on axes the caller gives, so the HTML (one figure per chart) and the
PDF (several charts on a page) draw exactly the same ones. Colours follow the dashboard's (lakewatch.dashboard.charts).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display: the report is written from jobs and tests

import matplotlib.dates as mdates
import pandas as pd
from matplotlib.axes import Axes

EVENT = "#d62728"
OPEN_EVENT = "#ff7f0e"
VALUE = "#1f77b4"
SCORE = "#9467bd"
POSITIVE, NEGATIVE = "#d62728", "#1f77b4"
NEUTRAL = "#7f7f7f"


def _style(ax: Axes, title: str) -> None:
    ax.set_title(title, fontsize=10, loc="left")
    ax.tick_params(labelsize=8)
    ax.grid(axis="both", alpha=0.25)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def events_per_day(ax: Axes, by_day: pd.DataFrame) -> None:
    """Bars of anomaly events per UTC day (columns day as YYYY-MM-DD, events)."""
    ax.bar(by_day["day"].astype(str), by_day["events"], color=EVENT)
    ax.set_ylabel("events", fontsize=8)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.tick_params(axis="x", labelrotation=30)
    _style(ax, "Anomaly events per day")


def events_per_series(ax: Axes, by_series: pd.DataFrame, limit: int = 12) -> None:
    """Horizontal bars of events per series and channel, open ones in orange (columns series_id, channel, events,
    open_events); the `limit` series with most events."""
    shown = by_series.head(limit).iloc[::-1]
    names = shown["series_id"] + " / " + shown["channel"]
    closed = shown["events"] - shown["open_events"]
    ax.barh(names, closed, color=EVENT, label="closed")
    ax.barh(names, shown["open_events"], left=closed, color=OPEN_EVENT, label="open")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=7, loc="lower right")
    _style(ax, "Anomaly events per series")


def event_chart(value_ax: Axes, score_ax: Axes, points: pd.DataFrame, event: dict) -> None:
    """One event in its series: values (top) and scores with the event's threshold (bottom), the event's span
    shaded on both and its flagged points marked (points: timestamp, value, score, flag)."""
    stamps = pd.to_datetime(points["timestamp"], utc=True)
    flagged = points["flag"].fillna(False).astype(bool)
    colour = OPEN_EVENT if event.get("is_open") else EVENT
    start, end = pd.Timestamp(event["start"]), pd.Timestamp(event["end"])
    value_ax.plot(stamps, points["value"], color=VALUE, linewidth=1, label="value")
    value_ax.scatter(stamps[flagged], points["value"][flagged], color=EVENT, s=14, zorder=3, label="flagged")
    score_ax.plot(stamps, points["score"], color=SCORE, linewidth=1, label="score")
    score_ax.axhline(float(event["threshold"]), color=EVENT, linestyle="--", linewidth=1,
                     label=f"threshold {float(event['threshold']):.3f}")
    for ax in (value_ax, score_ax):
        # A one-point event still gets a visible band: at least one step of the series wide.
        step = stamps.diff().median() if len(stamps) > 1 else pd.Timedelta(minutes=1)
        ax.axvspan(start - step / 2, end + step / 2, color=colour, alpha=0.18, label="event")
        ax.legend(fontsize=7, loc="best", ncols=4, framealpha=0.8)
    score_ax.set_ylim(0, 1.05)
    value_ax.set_ylabel(str(event["channel"]), fontsize=8)
    score_ax.set_ylabel("score", fontsize=8)
    locator = mdates.AutoDateLocator(maxticks=8)
    score_ax.xaxis.set_major_locator(locator)
    score_ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    value_ax.tick_params(labelbottom=False)
    _style(value_ax, f"{event['series_id']} / {event['channel']}: values")
    _style(score_ax, "score and threshold")


def shap_bars(ax: Axes, contributions: pd.DataFrame, base_value: float | None) -> None:
    """Horizontal SHAP bars of an event's peak (columns input, shap; largest first): red pushes the score up,
    blue down."""
    shown = contributions.iloc[::-1]
    colours = [POSITIVE if v >= 0 else NEGATIVE for v in shown["shap"]]
    ax.barh(shown["input"].astype(str), shown["shap"], color=colours)
    ax.axvline(0, color=NEUTRAL, linewidth=0.8)
    base = "" if base_value is None else f" (base value {base_value:.3f})"
    _style(ax, f"SHAP contributions at the peak{base}")


def quarantine_by_reason(ax: Axes, quarantine: pd.DataFrame) -> None:
    """Horizontal bars of quarantined rows per reason (columns reason, rows)."""
    shown = quarantine.iloc[::-1]
    ax.barh(shown["reason"].astype(str), shown["rows"], color=OPEN_EVENT)
    ax.xaxis.get_major_locator().set_params(integer=True)
    _style(ax, "Rows quarantined by reason")


def drift_windows(ax: Axes, drift: pd.DataFrame, limit: int = 12) -> None:
    """Horizontal bars of windows measured per series and channel, the drifted ones in red (columns series_id,
    channel, windows, drifted_windows); the `limit` most drifted."""
    shown = drift.head(limit).iloc[::-1]
    names = shown["series_id"] + " / " + shown["channel"]
    ax.barh(names, shown["windows"] - shown["drifted_windows"], color=VALUE, label="stable")
    ax.barh(names, shown["drifted_windows"], left=shown["windows"] - shown["drifted_windows"], color=EVENT,
            label="drifted")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=7, loc="lower right")
    _style(ax, "Drift windows per series")

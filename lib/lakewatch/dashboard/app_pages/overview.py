"""Overview: anomalies per day and per series, open events, the stream's freshness and lag, the last pipeline runs."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from lakewatch.dashboard import charts
from lakewatch.dashboard.loaders import chart, explain_missing, live, load, table


def _duration(delta: timedelta | None) -> str:
    if delta is None:
        return "-"
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds} s"


def body() -> None:
    """The page, re-read every refresh while Live is on."""
    per_day = load("anomalies_per_day")
    per_series = load("anomalies_per_series")
    fresh = load("freshness")
    open_events = load("open_events")
    cols = st.columns(5)
    cols[0].metric("Anomaly events", int(per_day["events"].sum()) if not per_day.empty else 0)
    cols[1].metric("Open events", len(open_events))
    cols[2].metric("Series with events", len(per_series))
    cols[3].metric("Scores written", f"{_duration(fresh.age())} ago" if fresh.newest_scored_at else "never",
                   help=f"newest scored_at in gold.anomaly_scores: {fresh.newest_scored_at or '-'}")
    cols[4].metric("Scoring lag", _duration(fresh.lag),
                   help="newest reading in silver.readings minus the newest scored reading")
    if fresh.scored_rows == 0:
        explain_missing("gold_anomaly_scores", "gold_anomalies")
    left, right = st.columns(2)
    with left:
        if per_day.empty:
            st.caption("No anomaly events yet.")
        else:
            chart(charts.events_per_day(per_day), "events_per_day")
    with right:
        if not per_series.empty:
            chart(charts.events_per_series(per_series), "events_per_series")
    st.subheader(f"Open events ({len(open_events)})")
    if open_events.empty:
        st.caption("No open anomaly events.")
    else:
        table(open_events, "open_events")
    st.subheader("Series health")
    health = load("series_health")
    if health.empty:
        st.caption("No series yet.")
    else:
        table(health, "series_health")
    st.subheader("Last pipeline runs")
    runs = load("last_runs")
    if runs.empty:
        explain_missing("ops_pipeline_runs", otherwise="No pipeline runs recorded yet.")
    else:
        table(runs, "last_runs")
    if fresh.newest_reading is not None:
        st.caption(f"Stream: {fresh.scored_rows:,} scored rows; the newest reading scored is of "
                   f"{fresh.newest_reading:%Y-%m-%d %H:%M:%S} UTC.")


st.title("Overview")
live(body)

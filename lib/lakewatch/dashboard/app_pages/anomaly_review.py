"""Anomaly review: a filterable list of anomaly events; one event's values around it, SHAP contributions, detector,
model version and threshold."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pandas as pd
import streamlit as st

from lakewatch.dashboard import charts
from lakewatch.dashboard import data as lake
from lakewatch.dashboard.loaders import chart, explain_missing, live, load, table

ALL = "(all series)"


def _label(event: pd.Series) -> str:
    state = "open" if event["is_open"] else "closed"
    return (f"{event['series_id']} / {event['channel']}  {event['start']:%Y-%m-%d %H:%M}  "
            f"peak {event['peak_score']:.2f}  ({state})")


def _filters(everything: pd.DataFrame) -> dict:
    cols = st.columns([3, 2, 2, 3])
    names = [ALL, *sorted(everything["series_id"].unique())]
    series = cols[0].selectbox("Series", names, key="review_series")
    status = cols[1].radio("Status", ["all", "open", "closed"], horizontal=True, key="review_status")
    min_score = cols[2].slider("Peak score at least", 0.0, 1.0, 0.0, 0.05, key="review_min_score")
    first, last = everything["start"].min().date(), everything["end"].max().date()
    days = cols[3].date_input("Started between (UTC days)", value=(first, last), min_value=first, max_value=last,
                              key="review_days")
    start = end = None
    if isinstance(days, tuple) and len(days) == 2:
        start = datetime.combine(days[0], time(0), tzinfo=UTC)
        end = datetime.combine(days[1], time(0), tzinfo=UTC) + timedelta(days=1)
    return {"series": None if series == ALL else series, "status": status, "min_score": min_score,
            "start": start, "end": end}


def _detail(event: pd.Series) -> None:
    cols = st.columns(3)
    cols[0].metric("Detector", event["detector"])
    cols[1].metric("Model version", event["model_version"])
    cols[2].metric("Status", "open" if event["is_open"] else "closed")
    cols = st.columns(3)
    cols[0].metric("Threshold", f"{event['threshold']:.3f}")
    cols[1].metric("Peak score", f"{event['peak_score']:.3f}")
    cols[2].metric("Points", int(event["points"]))
    margin = timedelta(hours=st.slider("Hours shown either side", 1, 48, 6, key="review_margin"))
    start, end = lake.event_window(event, margin)
    channels = [event["channel"]]
    points = load("series_points", event["series_id"], channels, start, end)
    events = load("series_events", event["series_id"], channels, start, end)
    labels = load("series_labels", event["series_id"], start, end)
    left, right = st.columns([3, 2])
    with left:
        title = f"{event['series_id']} / {event['channel']} around {event['start']:%Y-%m-%d %H:%M}"
        chart(charts.series_chart(points, events, labels, float(event["threshold"]), title,
                                            highlight=event), "event_chart", toolbar=True)
    with right:
        contributions, base = load("event_contributions", event)
        if contributions.empty:
            st.info("This event has no SHAP explanation (streaming.explain was off, or the detector has none).")
        else:
            chart(charts.contributions_chart(contributions, base), "shap_chart")
            table(contributions, "shap_table")


def body() -> None:
    """The list and the detail of the chosen event."""
    everything = load("events")
    if everything.empty:
        explain_missing("gold_anomalies", otherwise="No anomaly events yet: the detector has flagged nothing.")
        return
    f = _filters(everything)
    found = load("events", f["series"], f["status"] == "open", f["min_score"], f["start"], f["end"])
    if f["status"] == "closed":
        found = found[~found["is_open"].astype(bool)].reset_index(drop=True)
    st.markdown(f"**{len(found)} events** match ({len(everything)} in all).")
    if found.empty:
        return
    table(found, "events_table")
    labels = [_label(row) for _, row in found.iterrows()]
    chosen = st.selectbox("Event", range(len(found)), format_func=lambda i: labels[i], key="review_event")
    st.subheader("Event detail")
    _detail(found.iloc[chosen])


st.title("Anomaly review")
live(body)

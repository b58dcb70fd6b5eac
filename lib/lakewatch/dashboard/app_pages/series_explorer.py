"""Series explorer: one series' values, score, threshold, flagged points, anomaly event spans and labelled windows."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import streamlit as st

from lakewatch.dashboard import charts
from lakewatch.dashboard import data as lake
from lakewatch.dashboard.loaders import chart, current, explain_missing, live, load, load_slowly, table
from lakewatch.errors import NoSuchSeries


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def body() -> None:
    """The page for the series in the URL (``?series=...``) or the one chosen."""
    catalog = load_slowly("series_catalog")
    if catalog.empty:
        explain_missing("gold_anomaly_scores", otherwise="No scored series yet.")
        return
    names = sorted(catalog["series_id"].unique())
    asked = st.query_params.get("series")
    if asked is not None and asked not in names:
        st.error(f"No such series: {asked!r} is not in {current().config.tables.gold_anomaly_scores}. "
                 f"Known series: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}.",
                 icon=":material/error:")
        return
    left, middle, right = st.columns([2, 2, 3])
    series_id = left.selectbox("Series", names, index=names.index(asked) if asked else 0, key="series_id")
    st.query_params["series"] = series_id
    rows = catalog[catalog["series_id"] == series_id]
    channels_all = rows["channel"].tolist()
    chosen = middle.multiselect("Channels", channels_all, default=channels_all, key=f"channels_{series_id}")
    first, last = rows["first"].min().date(), rows["last"].max().date()
    default = (max(first, last - timedelta(days=lake.EXPLORER_DAYS - 1)), last)
    picked = right.date_input("Time range (UTC days)", value=default, min_value=first, max_value=last,
                              key=f"range_{series_id}")
    if not isinstance(picked, tuple) or len(picked) != 2:
        st.caption("Choose the last day of the range.")
        return
    start, end = _day_start(picked[0]), _day_start(picked[1]) + timedelta(days=1)
    try:
        channels = lake.check_series(catalog, series_id, chosen)
    except NoSuchSeries as exc:
        st.error(str(exc), icon=":material/error:")
        return
    if not chosen:
        st.caption("Choose at least one channel.")
        return
    points = load("series_points", series_id, channels, start, end)
    events = load("series_events", series_id, channels, start, end)
    labels = load("series_labels", series_id, start, end)
    threshold = lake.stream_threshold(current().config)
    flagged = int(points["flag"].sum()) if not points.empty else 0
    cols = st.columns(4)
    cols[0].metric("Points", f"{len(points):,}")
    cols[1].metric("Flagged points", flagged)
    cols[2].metric("Anomaly events", len(events))
    cols[3].metric("Labelled windows", len(labels))
    if points.empty:
        st.info(f"No scores for {series_id} between {start:%Y-%m-%d} and {end:%Y-%m-%d}.")
        return
    title = f"{series_id} ({', '.join(channels)}), {picked[0]} to {picked[1]}"
    chart(charts.series_chart(points, events, labels, threshold, title), "series_chart", toolbar=True)
    if not events.empty:
        st.subheader("Anomaly events in range")
        table(events, "series_events")


st.title("Series explorer")
live(body)

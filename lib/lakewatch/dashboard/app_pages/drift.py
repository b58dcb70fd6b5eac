"""Drift: which series drifted, each drift statistic over time against its threshold, and the retrain requests
with their status and decision (gold.drift_metrics and ops.retrain_requests, written by ``./spark-submit.sh drift``
and the retrain job)."""

from __future__ import annotations

import streamlit as st

from lakewatch.dashboard import charts
from lakewatch.dashboard import data as lake
from lakewatch.dashboard.loaders import chart, current, explain_missing, live, load, table
from lakewatch.drift.settings import drift_settings
from lakewatch.errors import ConfigError

NO_DRIFT = ("No drift measured yet: `./spark-submit.sh drift` compares each series' last `drift.window` (24h) with "
            "its reference period (`drift.reference`, 30d) and writes a row per series and channel here; schedule it "
            "(conf/workflows.yaml) to follow drift over time.")


def _thresholds() -> tuple[dict[str, float | None], int | None]:
    """The configured threshold of each statistic (by gold.drift_metrics column) and consecutive_windows."""
    try:
        settings = drift_settings(current().config)
    except ConfigError as exc:
        st.warning(f"The drift thresholds are not shown: {exc}", icon=":material/warning:")
        return {}, None
    limits = {column: getattr(settings.thresholds, key) for key, column in lake.DRIFT_STATISTICS.items()}
    return limits, settings.consecutive_windows


def _series(summary) -> str | None:
    """The series of the URL (``?series=...``) or the one chosen (drifted ones first); None for an unknown one."""
    names = list(dict.fromkeys(summary["series_id"]))
    asked = st.query_params.get("series")
    if asked is not None and asked not in names:
        st.error(f"No such series: {asked!r} has no row in {current().config.tables.gold_drift_metrics}. "
                 f"Measured series: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}.",
                 icon=":material/error:")
        return None
    series_id = st.selectbox("Series", names, index=names.index(asked) if asked else 0, key="drift_series")
    st.query_params["series"] = series_id
    return series_id


def body() -> None:
    """The drift summary per series, the chosen series' statistics over time and every retrain request."""
    summary = load("drift_summary")
    if summary.empty:
        explain_missing("gold_drift_metrics", otherwise=NO_DRIFT)
        return
    limits, windows = _thresholds()
    requests = load("retrain_requests")
    drifted = summary[summary["latest_drifted"].astype(bool)]
    cols = st.columns(4)
    cols[0].metric("Series measured", summary["series_id"].nunique())
    cols[1].metric("Drifted now", drifted["series_id"].nunique(),
                   help="series whose latest window drifted on some channel (or jointly, channel *)")
    cols[2].metric("Open retrain requests", int((requests["status"] == "open").sum()) if not requests.empty else 0)
    cols[3].metric("Latest window", f"{summary['latest_window_end'].max():%Y-%m-%d %H:%M}")
    table(summary, "drift_summary")
    if windows is not None:
        st.caption(f"A window drifted when any statistic reaches its threshold (`drift.thresholds`); {windows} "
                   "drifted windows in a row open a retrain request (`drift.consecutive_windows`). Channel `*` is a "
                   "multichannel entity's joint distribution (MMD).")
    series_id = _series(summary)
    if series_id is None:
        return
    metrics = load("drift_metrics", series_id)
    mine = requests[requests["series_id"] == series_id] if not requests.empty else requests
    chart(charts.drift_chart(metrics, limits, mine, f"Drift of {series_id}, window by window"), "drift_chart",
          toolbar=True)
    st.subheader("Retrain requests")
    if requests.empty:
        explain_missing("ops_retrain_requests", otherwise="No retrain requests: no series has drifted for "
                        f"{windows or 'enough'} windows in a row.")
    else:
        table(requests, "retrain_requests")


st.title("Drift")
live(body)

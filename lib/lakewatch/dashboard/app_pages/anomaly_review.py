"""Anomaly review: a filterable list of anomaly events; one event's values around it, SHAP contributions, detector,
model version and threshold; its latest verdict and buttons to mark it a true or false positive (gold.feedback)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pandas as pd
import streamlit as st

from lakewatch.dashboard import charts
from lakewatch.dashboard import data as lake
from lakewatch.dashboard.loaders import chart, current, explain_missing, live, load, load_now, table

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


OUTCOME = "verdict_outcome"  # session state: what the last click did, shown by the next run
_MARKDOWN = str.maketrans({c: f"\\{c}" for c in "\\`*_{}[]()#+-.!|<>~$:"})


def _plain(text: str) -> str:
    """`text` a reviewer typed, shown as typed inside markdown (no emphasis, links, colours or formulas)."""
    return text.translate(_MARKDOWN)


def _record(event: dict, is_true_positive: bool) -> None:
    """The buttons' callback: append the verdict, with the form's note and reviewer, to gold.feedback (source
    'dashboard'). It runs before the page is drawn again, so the events table and the detail show it at once."""
    # Imported on the first verdict: lakewatch.api loads FastAPI and the scoring code, seconds the page need not wait.
    from lakewatch.api.feedback import append_feedback, feedback_row

    note = str(st.session_state.get(f"verdict_note_{event['event_id']}") or "").strip()
    reviewer = str(st.session_state.get("verdict_reviewer") or "").strip()
    reader = current().reader
    row = feedback_row(event, is_true_positive, note or None, reviewer or None, source="dashboard")
    try:
        append_feedback(reader, row)
    except Exception as exc:  # deltalake raises DeltaError, OSError, and a bare Exception for a cast error
        st.session_state[OUTCOME] = ("error", f"The verdict was not recorded in {reader.tables['gold_feedback']} "
                                     f"({reader.location('gold_feedback')}): {type(exc).__name__}: {exc}")
        return
    st.session_state[OUTCOME] = ("ok", f"Recorded: {row['label'].replace('_', ' ')} on event {event['event_id']}")


def _verdict(row: pd.Series) -> None:
    """The event's latest verdict and the form that records a new one (a note and the reviewer optional)."""
    event = lake.event_key(row)
    shown = st.container()
    with st.form("verdict_form", border=True):
        cols = st.columns([4, 2, 1.3, 1.3], vertical_alignment="bottom")
        cols[0].text_input("Note (optional)", key=f"verdict_note_{event['event_id']}", max_chars=500,
                           placeholder="e.g. planned maintenance")
        cols[1].text_input("Reviewer (optional)", key="verdict_reviewer", max_chars=200)
        cols[2].form_submit_button("True positive", key="verdict_tp", icon=":material/check_circle:", width="stretch",
                                   on_click=_record, args=(event, True))
        cols[3].form_submit_button("False positive", key="verdict_fp", icon=":material/cancel:", width="stretch",
                                   on_click=_record, args=(event, False))
    kind, message = st.session_state.pop(OUTCOME, (None, None))
    if kind == "error":
        st.error(message, icon=":material/error:")
    elif kind == "ok":
        st.toast(message, icon=":material/check:")
    verdicts = load_now("event_verdicts", event["event_id"])
    with shown:
        if verdicts.empty:
            st.markdown(f"**Verdict:** none yet on event `{event['event_id']}`.")
            return
        latest = verdicts.iloc[0]
        words = ":green[true positive]" if bool(latest["is_true_positive"]) else ":red[false positive]"
        by = f" by {_plain(latest['reviewer'])}" if isinstance(latest["reviewer"], str) else ""
        note_text = f": \u201c{_plain(latest['note'])}\u201d" if isinstance(latest["note"], str) else ""
        more = f" ({len(verdicts)} verdicts in all; the newest counts)" if len(verdicts) > 1 else ""
        st.markdown(f"**Verdict:** {words}{by}, {latest['created_at']:%Y-%m-%d %H:%M:%S} UTC via {latest['source']}"
                    f"{note_text}{more}. Event `{event['event_id']}`.")


def _detail(event: pd.Series) -> None:
    cols = st.columns(3)
    cols[0].metric("Detector", event["detector"])
    cols[1].metric("Model version", event["model_version"])
    cols[2].metric("Status", "open" if event["is_open"] else "closed")
    cols = st.columns(3)
    cols[0].metric("Threshold", f"{event['threshold']:.3f}")
    cols[1].metric("Peak score", f"{event['peak_score']:.3f}")
    cols[2].metric("Points", int(event["points"]))
    _verdict(event)
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
    table(lake.with_verdicts(found, load_now("latest_verdicts")), "events_table",
          verdict=st.column_config.TextColumn("verdict", width="medium", help="the latest verdict (gold.feedback)"))
    labels = [_label(row) for _, row in found.iterrows()]
    chosen = st.selectbox("Event", range(len(found)), format_func=lambda i: labels[i], key="review_event")
    st.subheader("Event detail")
    _detail(found.iloc[chosen])


st.title("Anomaly review")
live(body)

"""What a report holds, gathered once from the lakehouse and then rendered twice (HTML and PDF).

Events, points, SHAP contributions, validation runs and quarantine counts come from the dashboard's data functions
(lakewatch.dashboard.data), so the report and the dashboard count the same way; the few figures the dashboard does
not show (readings in a period, precision from feedback, drift and retrains) are queried here, through the same
:class:`~lakewatch.dashboard.data.DashboardData`. A table that does not exist yet, or has nothing in the period,
leaves its part of the report empty with a note saying why (``Report.notes``), never an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pandas as pd

from lakewatch.dashboard import data as lake
from lakewatch.event_ids import event_id
from lakewatch.reporting.period import Period

#: How much of the series a top anomaly's chart shows either side of the event: at least this much, or 3 spans.
CHART_MARGIN = timedelta(hours=6)
VERDICTS = {True: "true positive", False: "false positive"}


@dataclass(frozen=True)
class TopAnomaly:
    """One of the period's highest-scoring events: its gold.anomalies row (the dashboard's EVENTS columns), its id,
    the scored points around it (timestamp, channel, value, score, flag), its SHAP contributions (input, shap,
    largest first) with their base value, and the newest reviewer verdict on it (None when nobody reviewed it)."""

    event: dict
    event_id: str
    points: pd.DataFrame
    contributions: pd.DataFrame
    base_value: float | None
    verdict: str | None


@dataclass
class Report:
    """Everything a report shows. Frames are empty (never None) when there is nothing to show; ``notes`` then says
    why, by section: readings, anomalies, feedback, top, validations, quarantine, drift, retrains."""

    period: Period
    generated_at: datetime
    table_root: str
    readings: dict[str, int] = field(default_factory=dict)
    events: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_day: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_series: pd.DataFrame = field(default_factory=pd.DataFrame)
    feedback: pd.DataFrame = field(default_factory=pd.DataFrame)
    top: list[TopAnomaly] = field(default_factory=list)
    validations: pd.DataFrame = field(default_factory=pd.DataFrame)
    quarantine: pd.DataFrame = field(default_factory=pd.DataFrame)
    drift: pd.DataFrame = field(default_factory=pd.DataFrame)
    retrains: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def precision(self) -> dict[str, float | int | None]:
        """Precision from feedback so far over every reviewed event: verdicts, true_positives, false_positives and
        precision (None before the first verdict)."""
        tp = int(self.feedback["true_positives"].sum()) if not self.feedback.empty else 0
        fp = int(self.feedback["false_positives"].sum()) if not self.feedback.empty else 0
        return {"verdicts": tp + fp, "true_positives": tp, "false_positives": fp,
                "precision": tp / (tp + fp) if tp + fp else None}


def gather(data: lake.DashboardData, period: Period, top: int = 5, now: datetime | None = None) -> Report:
    """The Report of `period` on `data`'s lakehouse, with the `top` highest-scoring events of the period charted."""
    report = Report(period, now or datetime.now(UTC), data.config.table_root)
    _readings(data, report)
    _anomalies(data, report, top)
    _feedback(data, report)
    _quality(data, report)
    _drift(data, report)
    return report


def _why_empty(data: lake.DashboardData, what: str, period: Period, *keys: str) -> str:
    return data.empty_because(*keys) or f"no {what} between {period.start:%Y-%m-%d %H:%M} and " \
                                        f"{period.end:%Y-%m-%d %H:%M} UTC"


def _readings(data: lake.DashboardData, report: Report) -> None:
    p = report.period
    row = data.query('SELECT count(*) AS readings, count(DISTINCT series_id) AS series, '
                     'count(DISTINCT (series_id, channel)) AS channels FROM {r} WHERE "timestamp" >= ? '
                     'AND "timestamp" < ?', [p.start, p.end], r="silver_readings").iloc[0]
    scored = data.query('SELECT count(*) AS scored, count(*) FILTER (WHERE flag) AS flagged FROM {s} '
                        'WHERE "timestamp" >= ? AND "timestamp" < ?', [p.start, p.end], s="gold_anomaly_scores"
                        ).iloc[0]
    report.readings = {k: int(v) for k, v in {**row.to_dict(), **scored.to_dict()}.items()}
    if not report.readings["readings"]:
        report.notes["readings"] = _why_empty(data, "readings", p, "silver_readings")


def _anomalies(data: lake.DashboardData, report: Report, top: int) -> None:
    p = report.period
    events = lake.events(data, start=p.start, end=p.end)
    report.events = events
    if events.empty:
        report.notes["anomalies"] = report.notes["top"] = _why_empty(data, "anomaly events", p, "gold_anomalies")
        report.by_day, report.by_series = pd.DataFrame(columns=lake.EVENTS_PER_DAY), pd.DataFrame()
        return
    days = pd.to_datetime(events["start"], utc=True).dt.floor("D")
    # Every day from the first event's to the last's, quiet ones as 0, so the bars read as a time line.
    every_day = pd.date_range(days.min(), days.max(), freq="D")
    counts = days.value_counts().reindex(every_day, fill_value=0)
    report.by_day = pd.DataFrame({"day": every_day.strftime("%Y-%m-%d"), "events": counts.to_numpy()})
    report.by_series = (events.assign(open=events["is_open"].astype(bool))
                        .groupby(["series_id", "channel"], as_index=False)
                        .agg(events=("start", "size"), open_events=("open", "sum"), peak_score=("peak_score", "max"))
                        .sort_values(["events", "peak_score", "series_id"], ascending=[False, False, True],
                                     ignore_index=True))
    verdicts = _verdicts(data)
    ranked = events.sort_values(["peak_score", "points", "start"], ascending=[False, False, True]).head(top)
    for _, event in ranked.iterrows():
        span = pd.Timestamp(event["end"]) - pd.Timestamp(event["start"])
        start, end = lake.event_window(event, max(CHART_MARGIN, 3 * span.to_pytimedelta()))
        points = lake.series_points(data, event["series_id"], [event["channel"]], start, end)
        contributions, base = lake.event_contributions(data, event)
        eid = event_id(event["series_id"], event["channel"], pd.Timestamp(event["start"]).to_pydatetime(),
                       event["detector"], event["model_version"])
        report.top.append(TopAnomaly(event.to_dict(), eid, points, contributions, base, verdicts.get(eid)))


def _verdicts(data: lake.DashboardData) -> dict[str, str]:
    newest = data.query("SELECT event_id, arg_max(is_true_positive, created_at) AS tp FROM {f} GROUP BY 1",
                        f="gold_feedback")
    return {str(r.event_id): VERDICTS[bool(r.tp)] for r in newest.itertuples()}


FEEDBACK = ["series_id", "channel", "verdicts", "true_positives", "false_positives", "precision"]


def _feedback(data: lake.DashboardData, report: Report) -> None:
    """Precision so far per series and channel, from each reviewed event's newest verdict (all of gold.feedback:
    reviews trickle in after the events, so the period would hide most of them)."""
    report.feedback = data.query(
        "SELECT series_id, channel, count(*) AS verdicts, count(*) FILTER (WHERE tp) AS true_positives, "
        "count(*) FILTER (WHERE NOT tp) AS false_positives, "
        "count(*) FILTER (WHERE tp) / count(*) AS precision "
        "FROM (SELECT event_id, arg_max(series_id, created_at) AS series_id, arg_max(channel, created_at) AS channel, "
        "arg_max(is_true_positive, created_at) AS tp FROM {f} GROUP BY event_id) "
        "GROUP BY 1, 2 ORDER BY precision, series_id, channel", f="gold_feedback")
    if report.feedback.empty:
        report.notes["feedback"] = data.empty_because("gold_feedback") or \
            "no reviewer verdicts yet (POST /feedback, the dashboard's review buttons or ./spark-submit.sh feedback)"


def _quality(data: lake.DashboardData, report: Report) -> None:
    p = report.period
    runs = lake.validation_runs(data, limit=1000)
    stamps = pd.to_datetime(runs["validated_at"], utc=True)
    report.validations = runs[(stamps >= p.start) & (stamps < p.end)].reset_index(drop=True)
    if report.validations.empty:
        report.notes["validations"] = _why_empty(data, "validation runs", p, "ops_validation_runs")
    daily = lake.quarantine_by_reason(data)
    days = pd.to_datetime(daily["day"]).dt.date
    touched = daily[(days >= p.start.date()) & (days <= (p.end - timedelta(microseconds=1)).date())]
    report.quarantine = (touched.groupby("reason", as_index=False)["rows"].sum()
                         .sort_values(["rows", "reason"], ascending=[False, True], ignore_index=True))
    if report.quarantine.empty:
        report.notes["quarantine"] = _why_empty(data, "quarantined rows", p, "silver_quarantine")


DRIFT = ["series_id", "channel", "windows", "drifted_windows", "last_drifted", "max_psi", "max_ks", "reason"]
RETRAINS = ["series_id", "channel", "requested_at", "reason", "status", "decision", "decided_at", "details"]


def _drift(data: lake.DashboardData, report: Report) -> None:
    """Drift measured in the period (windows ending in it), per series and channel, drifted ones first; and the
    retrain requests made or decided in the period with their outcome."""
    p = report.period
    report.drift = data.query(
        "SELECT series_id, channel, count(DISTINCT window_end) AS windows, "
        "count(DISTINCT window_end) FILTER (WHERE drifted) AS drifted_windows, "
        "max(window_end) FILTER (WHERE drifted) AS last_drifted, max(psi) AS max_psi, max(ks_statistic) AS max_ks, "
        "arg_max(reason, window_end) FILTER (WHERE drifted) AS reason "
        "FROM {d} WHERE window_end > ? AND window_end <= ? GROUP BY 1, 2 "
        "ORDER BY drifted_windows DESC, series_id, channel", [p.start, p.end], d="gold_drift_metrics")
    if report.drift.empty:
        report.notes["drift"] = _why_empty(data, "drift measurements", p, "gold_drift_metrics")
    columns = ", ".join(RETRAINS)
    report.retrains = data.query(
        f"SELECT {columns} FROM {{r}} WHERE (requested_at >= ? AND requested_at < ?) "
        "OR (decided_at >= ? AND decided_at < ?) ORDER BY requested_at DESC, series_id, channel",
        [p.start, p.end, p.start, p.end], r="ops_retrain_requests")
    if report.retrains.empty:
        report.notes["retrains"] = _why_empty(data, "retrain requests", p, "ops_retrain_requests")


# ----------------------------------------------------------------------------------------------- shared by renderers
#: The columns each table of the report shows, in the HTML and the PDF alike.
SERIES_COLUMNS = ["series_id", "channel", "events", "open_events", "peak_score"]
VALIDATION_COLUMNS = ["validated_at", "suite", "table_name", "success", "expectations_evaluated",
                      "expectations_failed"]
QUARANTINE_COLUMNS = ["reason", "rows"]


def summary(report: Report) -> list[tuple[str, str]]:
    """The summary statistics as (label, text) pairs, in the order both renderers show them."""
    r, p = report.readings, report.precision
    precision = (f"{p['precision']:.1%} ({p['true_positives']} of {p['verdicts']} reviewed events)"
                 if p["precision"] is not None else "no verdicts yet")
    events = report.events
    failed = int((~report.validations["success"].astype(bool)).sum()) if not report.validations.empty else 0
    drifted = int((report.drift["drifted_windows"] > 0).sum()) if not report.drift.empty else 0
    open_events = int(events["is_open"].astype(bool).sum()) if len(events) else 0
    return [("Readings", f"{r.get('readings', 0):,}"),
            ("Series (channels)", f"{r.get('series', 0):,} ({r.get('channels', 0):,})"),
            ("Scored readings (flagged)", f"{r.get('scored', 0):,} ({r.get('flagged', 0):,})"),
            ("Anomaly events (open)", f"{len(events):,} ({open_events:,})"),
            ("Precision from feedback so far", precision),
            ("Validation runs (failed)", f"{len(report.validations):,} ({failed:,})"),
            ("Rows quarantined", f"{int(report.quarantine['rows'].sum()) if not report.quarantine.empty else 0:,}"),
            ("Series drifted (of measured)", f"{drifted:,} ({len(report.drift):,})"),
            ("Retrain requests", f"{len(report.retrains):,}")]


def event_facts(top: TopAnomaly) -> list[tuple[str, str]]:
    """What the report says of one top anomaly beside its charts, as (label, text) pairs."""
    from lakewatch.reporting.cells import cell

    e = top.event
    return [("event id", top.event_id), ("span", f"{cell(e['start'])} to {cell(e['end'])} ({e['points']} points)"),
            ("peak", f"{float(e['peak_score']):.3f} at {cell(e['peak_at'])}"),
            ("threshold", f"{float(e['threshold']):.3f}"), ("state", "open" if e["is_open"] else "closed"),
            ("detector", f"{e['detector']} ({e['model_version']})"),
            ("verdict", top.verdict or "not reviewed")]

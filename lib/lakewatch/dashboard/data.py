"""The dashboard's data access: pandas frames from the lakehouse's Delta tables, read without Spark.

Every function takes a :class:`DashboardData` (the config and a table reader) and returns a frame whose columns its
docstring names; a table that does not exist yet reads as an empty frame with those columns, so an empty lakehouse
gives an empty dashboard instead of an error. Nothing here imports Streamlit: the pages call these functions
through the cached loaders in :mod:`lakewatch.dashboard.loaders`, and the tests call them directly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from lakewatch.config import LakewatchConfig, project_root
from lakewatch.errors import LakewatchError, NoSuchSeries
from lakewatch.event_ids import event_id
from lakewatch.readers import LakeReader
from lakewatch.readers.duck import quote_identifier

DEFAULT_THRESHOLD = 0.5
EXPLORER_DAYS = 30  # the series explorer's default time range: the last 30 days of the series


@dataclass
class DashboardData:
    """The config and the LakeReader the data functions query; build one per lakehouse with :func:`open_data`."""

    config: LakewatchConfig
    reader: LakeReader

    def relation(self, key: str) -> str:
        """The DuckDB relation of config table or curated view `key` (``gold_anomalies``, ``open_anomalies``)."""
        name = self.reader.tables.get(key) or self.reader.views[key]
        return ".".join(quote_identifier(part) for part in name.split("."))

    def query(self, sql: str, params: list | None = None, **relations: str) -> pd.DataFrame:
        """Run DuckDB `sql` in which ``{name}`` stands for table or view `relations[name]`; a pandas frame."""
        text = sql.format(**{name: self.relation(key) for name, key in relations.items()})
        return self.reader.sql(text, params or []).to_pandas()

    def empty_because(self, *keys: str) -> str | None:
        """Why tables `keys` read empty: the missing ones and the job that creates each; None when all exist."""
        missing = [str(self.reader.not_found(k)) for k in keys if not self.reader.exists(k)]
        return "; ".join(missing) or None


def open_data(config: LakewatchConfig) -> DashboardData:
    """A DashboardData on `config`'s lakehouse (its LakeReader stays open for the app's life)."""
    return DashboardData(config, LakeReader(config))


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


# ----------------------------------------------------------------------------------------------- overview
EVENTS_PER_DAY = ["day", "events"]


def anomalies_per_day(data: DashboardData) -> pd.DataFrame:
    """Anomaly events per UTC day of their start: columns day (date), events (count), oldest day first."""
    return data.query('SELECT CAST(date_trunc(\'day\', "start") AS DATE) AS day, count(*) AS events FROM {a} '
                      "GROUP BY 1 ORDER BY 1", a="gold_anomalies")


EVENTS_PER_SERIES = ["series_id", "channel", "events", "open_events", "last_event"]


def anomalies_per_series(data: DashboardData) -> pd.DataFrame:
    """Events per series and channel: series_id, channel, events, open_events, last_event (newest start)."""
    return data.query('SELECT series_id, channel, count(*) AS events, count(*) FILTER (WHERE is_open) AS open_events, '
                      'max("start") AS last_event FROM {a} GROUP BY 1, 2 ORDER BY events DESC, series_id, channel',
                      a="gold_anomalies")


@dataclass(frozen=True)
class Freshness:
    """How current the scores are: the newest scored reading, when it was scored, and how far behind now it is."""

    newest_reading: datetime | None
    newest_scored_at: datetime | None
    newest_silver: datetime | None
    scored_rows: int

    def age(self, now: datetime | None = None) -> timedelta | None:
        """Time since the stream last wrote scores (None before its first write)."""
        if self.newest_scored_at is None:
            return None
        return (now or datetime.now(UTC)) - self.newest_scored_at

    @property
    def lag(self) -> timedelta | None:
        """How far the scores' newest reading is behind silver.readings' newest (None when either is empty)."""
        if self.newest_silver is None or self.newest_reading is None:
            return None
        return max(timedelta(0), self.newest_silver - self.newest_reading)


def freshness(data: DashboardData) -> Freshness:
    """The stream's freshness from gold.anomaly_scores (and silver.readings for the lag)."""
    row = data.query('SELECT max("timestamp") AS t, max(scored_at) AS s, count(*) AS n, '
                     '(SELECT max("timestamp") FROM {r}) AS silver FROM {s}',
                     s="gold_anomaly_scores", r="silver_readings").iloc[0]
    return Freshness(_ts(row["t"]), _ts(row["s"]), _ts(row["silver"]), int(row["n"]))


def _ts(value: Any) -> datetime | None:
    if value is None or pd.isna(value):
        return None
    stamp = pd.Timestamp(value)
    return (stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)).to_pydatetime()


RUNS = ["run_id", "job", "status", "started_at", "ended_at", "seconds", "rows_in", "rows_out", "error"]


def last_runs(data: DashboardData, limit: int = 10) -> pd.DataFrame:
    """The newest `limit` rows of ops.pipeline_runs: run_id, job, status, started_at, ended_at, seconds, rows_in,
    rows_out, error."""
    return data.query("SELECT run_id, job, status, started_at, ended_at, "
                      "round(epoch(ended_at) - epoch(started_at), 1) AS seconds, rows_in, rows_out, error "
                      "FROM {r} ORDER BY started_at DESC LIMIT ?", [int(limit)], r="ops_pipeline_runs")


def series_health(data: DashboardData) -> pd.DataFrame:
    """View series_health: one row per series and channel with its last reading and score, freshness_seconds,
    anomalies_24h, open_anomalies and quarantined_rows."""
    return data.query("SELECT * FROM {h} ORDER BY open_anomalies DESC, series_id, channel", h="series_health")


def open_events(data: DashboardData) -> pd.DataFrame:
    """View open_anomalies: the events not closed yet, highest peak score first."""
    return data.query('SELECT * FROM {o} ORDER BY peak_score DESC, "start"', o="open_anomalies")


# ----------------------------------------------------------------------------------------------- series
SERIES = ["series_id", "channel", "first", "last", "points"]


def series_catalog(data: DashboardData) -> pd.DataFrame:
    """Every scored series and channel: series_id, channel, first and last timestamp, points."""
    return data.query('SELECT series_id, channel, min("timestamp") AS "first", max("timestamp") AS "last", '
                      "count(*) AS points FROM {s} GROUP BY 1, 2 ORDER BY 1, 2", s="gold_anomaly_scores")


def check_series(catalog: pd.DataFrame, series_id: str, channels: list[str] | None = None) -> list[str]:
    """The channels of `series_id` to show (`channels`, or all of them); NoSuchSeries naming what is missing."""
    known = catalog.loc[catalog["series_id"] == series_id, "channel"].tolist()
    if not known:
        raise NoSuchSeries(series_id, "gold.anomaly_scores")
    for channel in channels or []:
        if channel not in known:
            raise NoSuchSeries(series_id, "gold.anomaly_scores", channel, f"its channels are {known}")
    return list(channels) if channels else known


POINTS = ["timestamp", "channel", "value", "score", "flag"]


def series_points(data: DashboardData, series_id: str, channels: list[str], start: datetime, end: datetime
                  ) -> pd.DataFrame:
    """Scored points of one series' `channels` with start <= timestamp < end: timestamp, channel, value, score,
    flag; ordered by channel and time."""
    if not channels:
        return _empty(POINTS)
    marks = ", ".join("?" for _ in channels)
    return data.query('SELECT "timestamp", channel, value, score, flag FROM {s} WHERE series_id = ? '
                      f'AND channel IN ({marks}) AND "timestamp" >= ? AND "timestamp" < ? '
                      'ORDER BY channel, "timestamp"',
                      [series_id, *channels, start, end], s="gold_anomaly_scores")


EVENTS = ["series_id", "channel", "start", "end", "peak_at", "peak_score", "points", "threshold", "is_open",
          "detector", "model_version", "updated_at"]
_EVENT_COLUMNS = ", ".join(f'"{c}"' for c in EVENTS)


def series_events(data: DashboardData, series_id: str, channels: list[str], start: datetime, end: datetime
                  ) -> pd.DataFrame:
    """Anomaly events of one series' `channels` overlapping [start, end): the EVENTS columns, by start."""
    if not channels:
        return _empty(EVENTS)
    marks = ", ".join("?" for _ in channels)
    return data.query(f'SELECT {_EVENT_COLUMNS} FROM {{a}} WHERE series_id = ? AND channel IN ({marks}) '
                      'AND "end" >= ? AND "start" < ? ORDER BY "start"', [series_id, *channels, start, end],
                      a="gold_anomalies")


LABELS = ["window_start", "window_end", "kind", "source_name"]


def series_labels(data: DashboardData, series_id: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Labelled windows of one series overlapping [start, end): window_start, window_end, kind, source_name."""
    return data.query("SELECT window_start, window_end, kind, source_name FROM {l} WHERE series_id = ? "
                      "AND window_end >= ? AND window_start < ? ORDER BY window_start", [series_id, start, end],
                      l="gold_labels")


def stream_threshold(config: LakewatchConfig) -> float:
    """The score threshold the stream flags at: ``streaming.threshold`` when set, else the calibrated threshold
    of the stream's detector (``streaming.detector``, or the configured default) in conf/detectors.yaml, else
    DEFAULT_THRESHOLD."""
    streaming = config.raw.get("streaming") or {}
    if streaming.get("threshold") is not None:
        return float(streaming["threshold"])
    calibrated = config.detectors.threshold(streaming.get("detector") or None)
    return DEFAULT_THRESHOLD if calibrated is None else float(calibrated)


# ----------------------------------------------------------------------------------------------- events
def events(data: DashboardData, series_id: str | None = None, open_only: bool = False, min_score: float = 0.0,
           start: datetime | None = None, end: datetime | None = None, detector: str | None = None
           ) -> pd.DataFrame:
    """Anomaly events matching the filters (None = any): the EVENTS columns, newest start first."""
    where, params = ["peak_score >= ?"], [float(min_score)]
    for clause, value in (("series_id = ?", series_id), ("detector = ?", detector), ('"end" >= ?', start),
                          ('"start" < ?', end)):
        if value is not None:
            where.append(clause)
            params.append(value)
    if open_only:
        where.append("is_open")
    return data.query(f'SELECT {_EVENT_COLUMNS} FROM {{a}} WHERE {" AND ".join(where)} '
                      'ORDER BY "start" DESC, series_id, channel', params, a="gold_anomalies")


CONTRIBUTIONS = ["input", "shap"]


def event_contributions(data: DashboardData, event: pd.Series) -> tuple[pd.DataFrame, float | None]:
    """The SHAP contributions of an event's peak (view anomaly_contributions): a frame input, shap (largest |shap|
    first) and the base value (an empty frame and None when the event has no explanation)."""
    found = data.query('SELECT input, shap, base_value FROM {c} WHERE series_id = ? AND channel = ? AND "start" = ? '
                       "AND detector = ? AND model_version = ? ORDER BY input_rank",
                       [event["series_id"], event["channel"], event["start"], event["detector"],
                        event["model_version"]], c="anomaly_contributions")
    if found.empty:
        return _empty(CONTRIBUTIONS), None
    base = found["base_value"].iloc[0]
    return found[CONTRIBUTIONS].reset_index(drop=True), (None if pd.isna(base) else float(base))


def event_window(event: pd.Series, margin: timedelta) -> tuple[datetime, datetime]:
    """The time range shown around an event: its span widened by `margin` on each side."""
    return _ts(event["start"]) - margin, _ts(event["end"]) + margin + timedelta(microseconds=1)


# ----------------------------------------------------------------------------------------------- data quality
VALIDATIONS = ["validated_at", "suite", "table_name", "success", "expectations_evaluated", "expectations_failed",
               "failures", "data_docs", "run_id"]


def validation_runs(data: DashboardData, limit: int = 50) -> pd.DataFrame:
    """The newest `limit` validation runs (ops.validation_runs), newest first: the VALIDATIONS columns."""
    columns = ", ".join(VALIDATIONS)
    return data.query(f"SELECT {columns} FROM {{v}} ORDER BY validated_at DESC LIMIT ?", [int(limit)],
                      v="ops_validation_runs")


QUARANTINE = ["day", "reason", "rows"]


def quarantine_by_reason(data: DashboardData) -> pd.DataFrame:
    """Rows sent to silver.quarantine per UTC day and reason: day, reason, rows."""
    return data.query("SELECT CAST(date_trunc('day', quarantined_at) AS DATE) AS day, reason, count(*) AS rows "
                      "FROM {q} GROUP BY 1, 2 ORDER BY 1, 2", q="silver_quarantine")


def data_docs_index(config: LakewatchConfig, validations: pd.DataFrame | None = None) -> Path | None:
    """The Great Expectations Data Docs index page: the newest validation run's, else one in the GX project."""
    if validations is not None and not validations.empty:
        for value in validations["data_docs"]:
            if isinstance(value, str) and value and Path(value.replace("file://", "")).is_file():
                return Path(value.replace("file://", ""))
    gx = config.lakehouse.gx
    found = sorted(gx.glob("**/data_docs/**/index.html")) if gx.is_dir() else []
    return found[0] if found else None


def data_quality(data: DashboardData) -> pd.DataFrame:
    """View data_quality: one row per refine/validate run with where its bronze rows went and its validation."""
    return data.query("SELECT * FROM {d} ORDER BY started_at DESC", d="data_quality")


# ----------------------------------------------------------------------------------------------- models
SCOREBOARD = ["detector", "standard", "reward_low_FP_rate", "reward_low_FN_rate", "source"]
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def nab_scoreboard(data: DashboardData, published: dict[str, dict[str, float]]) -> pd.DataFrame:
    """Our detectors' NAB scores (gold.nab_scores, all categories) beside the `published` entries: detector,
    one column per profile, source ('lakewatch' or 'published'); best standard score first."""
    rows = [{"detector": name, **{p: scores.get(p) for p in PROFILES}, "source": "published"}
            for name, scores in published.items()]
    ours = data.query("SELECT detector, profile, score FROM {n} WHERE category = 'ALL'", n="gold_nab_scores")
    for detector, group in ours.groupby("detector"):
        scores = dict(zip(group["profile"], group["score"], strict=True))
        rows.append({"detector": f"lakewatch:{detector}", **{p: scores.get(p) for p in PROFILES},
                     "source": "lakewatch"})
    if not rows:
        return _empty(SCOREBOARD)
    board = pd.DataFrame(rows, columns=SCOREBOARD)
    return board.sort_values("standard", ascending=False, na_position="last").reset_index(drop=True)


def nab_corpus(config: LakewatchConfig) -> Path:
    """The configured NAB corpus (``tuning.corpus``, relative to the project root)."""
    path = Path(str((config.raw.get("tuning") or {}).get("corpus", "../shared/nab")))
    return (path if path.is_absolute() else project_root() / path).resolve()


def published_scores(config: LakewatchConfig) -> dict[str, dict[str, float]]:
    """NAB's published scoreboard (results/final_results.json of the configured corpus); {} when absent."""
    path = nab_corpus(config) / "results" / "final_results.json"
    if not path.is_file():
        return {}
    try:
        return {str(k): dict(v) for k, v in json.loads(path.read_text()).items() if isinstance(v, dict)}
    except ValueError as exc:
        raise LakewatchError(f"{path}: not a NAB scoreboard ({exc})") from None


# ----------------------------------------------------------------------------------------------- drift
#: gold.drift_metrics statistic column of each drift.thresholds key (lakewatch.drift.settings.STATISTICS).
DRIFT_STATISTICS = {"ks": "ks_statistic", "psi": "psi", "wasserstein": "wasserstein", "score_shift": "score_shift",
                    "flag_rate_shift": "flag_rate_shift", "mmd": "mmd"}
DRIFT = ["series_id", "channel", "window_start", "window_end", "status", *DRIFT_STATISTICS.values(), "mmd_p_value",
         "drifted", "reason", "rows_reference", "rows_window", "reference_start", "computed_at"]


def drift_metrics(data: DashboardData, series_id: str | None = None) -> pd.DataFrame:
    """Rows of gold.drift_metrics (those of `series_id` when given): the DRIFT columns, by series, channel and
    window end. A window measured again (a re-run) is one row: the MERGE on DRIFT_KEY replaces it."""
    where, params = ("WHERE series_id = ?", [series_id]) if series_id is not None else ("", [])
    columns = ", ".join(f'"{c}"' for c in DRIFT)
    return data.query(f"SELECT {columns} FROM {{d}} {where} ORDER BY series_id, channel, window_end, "
                      "reference_start", params, d="gold_drift_metrics")


DRIFT_SUMMARY = ["series_id", "channel", "windows", "drifted_windows", "latest_window_end", "latest_status",
                 "latest_drifted", "latest_reason", "open_requests"]


def drift_summary(data: DashboardData) -> pd.DataFrame:
    """One row per series and channel of gold.drift_metrics: windows measured, drifted_windows, the latest window's
    end, status, drifted and reason, and its open retrain requests (ops.retrain_requests with status 'open');
    drifted-now first."""
    return data.query(
        "WITH latest AS (SELECT series_id, channel, count(DISTINCT window_end) AS windows, "
        "count(DISTINCT window_end) FILTER (WHERE drifted) AS drifted_windows, max(window_end) AS latest_window_end, "
        "arg_max(status, (window_end, drifted)) AS latest_status, "
        "arg_max(drifted, (window_end, drifted)) AS latest_drifted, "
        "arg_max(reason, (window_end, drifted)) AS latest_reason FROM {d} GROUP BY 1, 2), "
        "requests AS (SELECT series_id, channel, count(*) AS open_requests FROM {r} WHERE status = 'open' "
        "GROUP BY 1, 2) "
        "SELECT l.*, coalesce(q.open_requests, 0) AS open_requests FROM latest l LEFT JOIN requests q "
        "USING (series_id, channel) ORDER BY latest_drifted DESC, drifted_windows DESC, series_id, channel",
        d="gold_drift_metrics", r="ops_retrain_requests")


RETRAINS = ["requested_at", "series_id", "channel", "window_end", "windows", "status", "decision", "decided_at",
            "reason", "details", "request_id"]


def retrain_requests(data: DashboardData, series_id: str | None = None) -> pd.DataFrame:
    """ops.retrain_requests (those of `series_id` when given), newest request first: the RETRAINS columns."""
    where, params = ("WHERE series_id = ?", [series_id]) if series_id is not None else ("", [])
    columns = ", ".join(RETRAINS)
    return data.query(f"SELECT {columns} FROM {{r}} {where} ORDER BY requested_at DESC, series_id, channel",
                      params, r="ops_retrain_requests")


# ----------------------------------------------------------------------------------------------- feedback
VERDICTS = ["created_at", "label", "is_true_positive", "reviewer", "note", "source", "feedback_id"]


def event_key(event: pd.Series) -> dict[str, Any]:
    """An event row of :func:`events` as lakewatch.api.feedback.feedback_row takes it: plain Python values, its
    ``start`` in UTC, and its ``event_id`` (lakewatch.event_ids, the id alerts and the API use)."""
    start = _ts(event["start"])
    key = {"series_id": str(event["series_id"]), "channel": str(event["channel"]), "start": start,
           "detector": str(event["detector"]), "model_version": str(event["model_version"])}
    return {"event_id": event_id(**key), **key,
            "peak_score": None if pd.isna(event["peak_score"]) else float(event["peak_score"]),
            "threshold": None if pd.isna(event["threshold"]) else float(event["threshold"])}


def event_verdicts(data: DashboardData, event_id_: str) -> pd.DataFrame:
    """The verdicts given on event `event_id_` (gold.feedback, from the API, the dashboard or the CLI), newest
    first, so the first row is the one that counts: the VERDICTS columns."""
    columns = ", ".join(VERDICTS)
    return data.query(f"SELECT {columns} FROM {{f}} WHERE event_id = ? ORDER BY created_at DESC", [event_id_],
                      f="gold_feedback")


LATEST_VERDICTS = ["event_id", "verdict", "verdict_by", "verdict_at"]


def latest_verdicts(data: DashboardData) -> pd.DataFrame:
    """The verdict that counts (the newest) on every event of gold.feedback: event_id, verdict (label), verdict_by
    (reviewer), verdict_at."""
    return data.query("SELECT event_id, arg_max(label, created_at) AS verdict, arg_max(reviewer, created_at) AS "
                      "verdict_by, max(created_at) AS verdict_at FROM {f} GROUP BY event_id", f="gold_feedback")


def with_verdicts(found: pd.DataFrame, verdicts: pd.DataFrame) -> pd.DataFrame:
    """Rows of :func:`events` with their event_id and latest verdict first and who gave it when last (the columns
    of :func:`latest_verdicts`, null where none was given); same rows, same order."""
    ids = [event_id(str(r.series_id), str(r.channel), _ts(r.start), str(r.detector), str(r.model_version))
           for r in found[["series_id", "channel", "start", "detector", "model_version"]].itertuples(index=False)]
    shown = found.assign(event_id=ids).merge(verdicts[LATEST_VERDICTS], on="event_id", how="left")
    return shown[["event_id", "verdict", *found.columns, "verdict_by", "verdict_at"]]

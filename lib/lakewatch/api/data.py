"""What the API's read endpoints answer, computed from the lakehouse through a LakeReader (DuckDB/deltalake, no
Spark), separate from routing so it is tested without a server. Every function returns plain Python values
(dicts, lists, aware UTC datetimes) that the routes put in their response models.

Anomaly events are named by their id (lakewatch.event_ids), computed in SQL with ``event_id_sql``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lakewatch.event_ids import event_id_sql
from lakewatch.readers import LakeReader

EVENT_COLUMNS = ("series_id", "channel", "start", "end", "peak_at", "peak_score", "points", "threshold", "is_open",
                 "detector", "model_version", "updated_at")
#: Tables /health reports on (config.tables keys); every one but gold_feedback missing makes the API degraded.
HEALTH_TABLES = ("silver_readings", "gold_anomaly_scores", "gold_anomalies", "silver_quarantine",
                 "ops_pipeline_runs", "ops_validation_runs", "gold_feedback")


@dataclass(frozen=True)
class AnomalyFilter:
    """Filters of GET /anomalies: events of `series_id` (and `channel`) overlapping [since, until], with a peak
    score of at least `min_score`, only open ones when `open_only`."""

    series_id: str | None = None
    channel: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_score: float | None = None
    open_only: bool = False


def _rows(table: Any) -> list[dict[str, Any]]:
    return table.to_pylist()


def _relation(reader: LakeReader, key: str) -> str:
    return ".".join(f'"{part}"' for part in reader.tables[key].split("."))


def health(reader: LakeReader, stale_after_seconds: int, now: datetime | None = None) -> dict[str, Any]:
    """The lakehouse as an on-call engineer checks it: each table's presence (with the job that creates a missing
    one), the stream's newest micro-batch (``scored_at``) and how long ago it was, and an overall status: ``ok``,
    or ``degraded`` with the reasons (a missing table the API reads, a stream silent for over
    `stale_after_seconds`)."""
    now = now or datetime.now(UTC)
    tables, problems = {}, []
    for key in HEALTH_TABLES:
        exists = reader.exists(key)
        entry = {"name": reader.tables[key], "exists": exists}
        if not exists:
            entry["hint"] = reader.not_found(key).hint
            if key != "gold_feedback":
                problems.append(f"table {reader.tables[key]} does not exist yet ({entry['hint']})")
        tables[key] = entry
    stream: dict[str, Any] = {"last_scored_at": None, "seconds_since_last_batch": None, "stale": True}
    if tables["gold_anomaly_scores"]["exists"]:
        newest = reader.sql(f"SELECT max(scored_at) AS t FROM {_relation(reader, 'gold_anomaly_scores')}")
        last = newest.column("t")[0].as_py()
        if last is not None:
            age = (now - last).total_seconds()
            stream = {"last_scored_at": last, "seconds_since_last_batch": age, "stale": age > stale_after_seconds}
    if stream["stale"]:
        problems.append("the stream has scored nothing yet" if stream["last_scored_at"] is None else
                        f"the stream's newest micro-batch is {stream['seconds_since_last_batch']:.0f} s old "
                        f"(stale after {stale_after_seconds} s): is score_stream running?")
    return {"status": "degraded" if problems else "ok", "problems": problems, "tables": tables, "stream": stream,
            "checked_at": now}


def _filter_sql(f: AnomalyFilter) -> tuple[str, list[Any]]:
    terms, params = ["TRUE"], []
    if f.series_id is not None:
        terms.append("a.series_id = ?")
        params.append(f.series_id)
    if f.channel is not None:
        terms.append("a.channel = ?")
        params.append(f.channel)
    if f.since is not None:
        terms.append('a."end" >= ?')
        params.append(f.since)
    if f.until is not None:
        terms.append("a.start <= ?")
        params.append(f.until)
    if f.min_score is not None:
        terms.append("a.peak_score >= ?")
        params.append(f.min_score)
    if f.open_only:
        terms.append("a.is_open")
    return " AND ".join(terms), params


def list_anomalies(reader: LakeReader, f: AnomalyFilter, limit: int, offset: int) -> tuple[list[dict], int]:
    """One page of the events of gold.anomalies matching `f`, newest start first (ties by id), each with its
    ``event_id``; and how many match in all. NoSuchSeries when `f` names a series the lakehouse does not hold."""
    if f.series_id is not None:
        reader.require_series(f.series_id, f.channel)
    where, params = _filter_sql(f)
    columns = ", ".join(f'a."{c}"' for c in EVENT_COLUMNS)
    relation = _relation(reader, "gold_anomalies")
    page = reader.sql(f"SELECT {event_id_sql('a')} AS event_id, {columns} FROM {relation} a WHERE {where} "
                      "ORDER BY a.start DESC, event_id LIMIT ? OFFSET ?", [*params, limit, offset])
    total = reader.sql(f"SELECT count(*) AS n FROM {relation} a WHERE {where}", params).column("n")[0].as_py()
    return _rows(page), int(total)


def find_event(reader: LakeReader, event_id: str) -> dict[str, Any] | None:
    """The event of gold.anomalies whose id is `event_id` (with ``top_inputs`` and ``base_value``), or None."""
    if not reader.exists("gold_anomalies"):
        return None
    columns = ", ".join(f'a."{c}"' for c in (*EVENT_COLUMNS, "top_inputs", "base_value"))
    rows = _rows(reader.sql(f"SELECT {event_id_sql('a')} AS event_id, {columns} "
                            f"FROM {_relation(reader, 'gold_anomalies')} a WHERE {event_id_sql('a')} = ? "
                            "ORDER BY a.updated_at DESC LIMIT 1", [event_id]))
    return rows[0] if rows else None


def contributions(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The event's SHAP contributions (``top_inputs``), largest absolute contribution first, ranked from 1."""
    inputs = [c for c in event.get("top_inputs") or [] if c and c.get("input") is not None]
    ordered = sorted(inputs, key=lambda c: (-abs(c["shap"] or 0.0), c["input"]))
    return [{"rank": i + 1, "input": c["input"], "shap": c["shap"]} for i, c in enumerate(ordered)]


def readings_around(reader: LakeReader, event: dict[str, Any], around: int) -> list[dict[str, Any]]:
    """The scored readings of the event's series, channel and detector: `around` rows before its start, every row
    from start to end, and `around` rows after its end, oldest first, each marked ``in_event``."""
    if not reader.exists("gold_anomaly_scores"):
        return []
    relation = _relation(reader, "gold_anomaly_scores")
    same = "series_id = ? AND channel = ? AND detector = ? AND model_version = ?"
    key = [event["series_id"], event["channel"], event["detector"], event["model_version"]]
    cols = "timestamp, value, score, flag"
    query = (f"SELECT {cols}, FALSE AS in_event FROM (SELECT {cols} FROM {relation} WHERE {same} AND timestamp < ? "
             "ORDER BY timestamp DESC LIMIT ?) "
             f"UNION ALL SELECT {cols}, TRUE AS in_event FROM {relation} WHERE {same} AND timestamp BETWEEN ? AND ? "
             f"UNION ALL SELECT {cols}, FALSE AS in_event FROM (SELECT {cols} FROM {relation} WHERE {same} "
             "AND timestamp > ? ORDER BY timestamp LIMIT ?) ORDER BY timestamp")
    params = [*key, event["start"], around, *key, event["start"], event["end"], *key, event["end"], around]
    return _rows(reader.sql(query, params))


def series_scores(reader: LakeReader, series_id: str, channel: str | None, start: datetime | None,
                  end: datetime | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """The scored readings of `series_id` (one `channel` or all) in [start, end], oldest first, at most `limit`
    of them; and whether more matched. NoSuchSeries for a series (or channel) the lakehouse does not hold;
    TableNotFound when the stream has written nothing yet."""
    reader.require_series(series_id, channel)
    if not reader.exists("gold_anomaly_scores"):
        raise reader.not_found("gold_anomaly_scores")
    terms, params = ["series_id = ?"], [series_id]
    for column, op, value in (("channel", "=", channel), ("timestamp", ">=", start), ("timestamp", "<=", end)):
        if value is not None:
            terms.append(f"{column} {op} ?")
            params.append(value)
    rows = _rows(reader.sql(
        "SELECT channel, timestamp, value, raw_score, score, flag, detector, model_version "
        f"FROM {_relation(reader, 'gold_anomaly_scores')} WHERE {' AND '.join(terms)} "
        "ORDER BY timestamp, channel LIMIT ?", [*params, limit + 1]))
    return rows[:limit], len(rows) > limit

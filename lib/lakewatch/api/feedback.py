"""gold.feedback: verdicts on anomaly events (true or false positive, with a note), appended with deltalake.

The table is append-only: a verdict is never updated or deleted, a second verdict on an event is a new row (the
newest counts), so per-series thresholds can be learnt from the whole history. Rows carry the event's key beside
its id. The table keeps Delta's plain protocol (reader 1, writer 2), which Spark, DuckDB and deltalake all read;
when the pipeline created it first (Spark, lakewatch.tables.ensure_tables) the API appends to that table.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from deltalake import write_deltalake

from lakewatch.readers import LakeReader

LABELS = ("true_positive", "false_positive")
SOURCES = ("api", "dashboard", "cli")   # where a verdict was given: gold.feedback.source
_LOCK = threading.Lock()


def feedback_schema() -> pa.Schema:
    """gold.feedback's Arrow schema (from lakewatch.schemas.GOLD_FEEDBACK; only pyspark's type classes load)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    from lakewatch.schemas import GOLD_FEEDBACK

    return to_arrow_schema(GOLD_FEEDBACK)


def feedback_row(event: dict[str, Any], is_true_positive: bool, note: str | None, reviewer: str | None,
                 now: datetime | None = None, source: str = "api") -> dict[str, Any]:
    """The gold.feedback row recording a verdict on `event` (a row of lakewatch.api.data.find_event), given
    through `source` (one of SOURCES)."""
    if source not in SOURCES:
        raise ValueError(f"feedback source {source!r} is not one of {', '.join(SOURCES)}")
    return {"feedback_id": uuid.uuid4().hex, "event_id": event["event_id"], "series_id": event["series_id"],
            "channel": event["channel"], "event_start": event["start"], "detector": event["detector"],
            "model_version": event["model_version"], "peak_score": event.get("peak_score"),
            "threshold": event.get("threshold"), "label": LABELS[0] if is_true_positive else LABELS[1],
            "is_true_positive": bool(is_true_positive), "note": note, "reviewer": reviewer, "source": source,
            "created_at": now or datetime.now(UTC)}


def append_feedback(reader: LakeReader, row: dict[str, Any]) -> None:
    """Append `row` to gold.feedback (creating the table on the first verdict); appends of one process are
    serialised, and Delta's optimistic commits keep concurrent writers from overwriting each other."""
    schema = feedback_schema()
    table = pa.Table.from_pylist([row], schema=schema)
    with _LOCK:
        write_deltalake(reader.location("gold_feedback"), table, mode="append")

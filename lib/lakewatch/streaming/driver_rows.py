"""The stateful operator's packed output turned into table rows on the driver, as Arrow: the path of a micro-batch
of at most ``driver_commit_rows`` rows, beside Spark's (lakewatch.streaming.sink.to_scores / to_events) for a larger
one.

A micro-batch small enough to be committed by the driver (``SinkSpec.driver_commit_rows``) is collected once, as
it came out of the state store (a row per series and output kind, arrays of points); the rows of
gold.anomaly_scores and gold.anomalies are then built here with pyarrow (the points vectorised, the few JSON
fields parsed in Python), instead of by a Spark plan and a collect per table. The columns and values are Spark's
path's, row for row (tests/streaming/test_driver_rows.py compares the two on the same batches).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakewatch.streaming.packing import ENTITY_CHANNEL
from lakewatch.streaming.scoring import KIND_EVENT, KIND_SCORE

if TYPE_CHECKING:
    from lakewatch.streaming.sink import SinkSpec

UTC_MICROS = pa.timestamp("us", tz="UTC")
ATTRIBUTIONS_ARROW = pa.list_(pa.struct([("input", pa.string()), ("shap", pa.float64())]))


def of_kinds(packed: pa.Table, kinds: Sequence[str]) -> pa.Table:
    """The packed rows of the output `kinds`."""
    return packed.filter(pc.is_in(packed["kind"], value_set=pa.array(list(kinds), pa.string())))


def score_rows(packed: pa.Table, spec: SinkSpec, batch_id: int, scored_at: datetime) -> pa.Table:
    """gold.anomaly_scores rows, one per scored point, from the packed 'score' rows (sink.to_scores' columns)."""
    rows = of_kinds(packed, (KIND_SCORE,))
    sizes = pc.list_value_length(rows["ts_us"]).to_numpy(zero_copy_only=False).astype(np.int64)
    parent = pc.list_parent_indices(rows["ts_us"])
    channel = pc.take(rows["channel"], parent)
    value = _flat(rows["value"], sizes, pa.float64())
    detector = pa.array(np.full(len(parent), spec.detector, dtype=object), pa.string())
    model_version = pa.array(np.full(len(parent), spec.model_version, dtype=object), pa.string())
    if spec.entities:  # an entity's row: no single value; its detector and model version in the row's detail
        value = pc.if_else(pc.equal(channel, ENTITY_CHANNEL), pa.scalar(None, pa.float64()), value)
        stamps = [json.loads(d) if d else {} for d in rows["detail"].to_pylist()]
        detector = pc.take(pa.array([_first(s.get("detector"), spec.detector) for s in stamps], pa.string()),
                           parent)
        model_version = pc.take(pa.array([_first(s.get("model_version"), spec.model_version) for s in stamps],
                                         pa.string()), parent)
    score = _flat(rows["score"], sizes, pa.float64())
    n = len(parent)
    return pa.table({
        "series_id": pc.take(rows["series_id"], parent), "channel": channel,
        "timestamp": pc.cast(_flat(rows["ts_us"], sizes, pa.int64()), UTC_MICROS), "value": value,
        "raw_score": score, "score": score, "flag": _flat(rows["flag"], sizes, pa.bool_()),
        "attributions": pa.array([attributions(text) for text in _flat(rows["attributions"], sizes,
                                                                       pa.string()).to_pylist()], ATTRIBUTIONS_ARROW),
        "base_value": _no_nan(_flat(rows["base_value"], sizes, pa.float64())),
        "detector": detector, "model_version": model_version,
        "scored_at": pa.array([scored_at] * n, UTC_MICROS), "batch_id": pa.array(np.full(n, batch_id, np.int64))})


def event_rows(packed: pa.Table, spec: SinkSpec, batch_id: int, updated_at: datetime,
               kinds: Sequence[str] = (KIND_EVENT,), operator_alerts: str = "") -> pa.Table:
    """gold.anomalies rows, one per event version, from the packed rows of `kinds` (sink.to_events' columns); with
    `operator_alerts` (a column name), plus that column: what the operator sent for the version, as JSON, or null."""
    records: list[dict[str, Any]] = []
    for row in of_kinds(packed, kinds).to_pylist():
        detail = json.loads(row["detail"])
        base = (row["base_value"] or [None])[0]
        record = {
            "series_id": row["series_id"], "channel": row["channel"], "start": row["ts_us"][0],
            "end": detail["end_us"], "peak_at": detail["peak_us"], "peak_score": row["score"][0],
            "points": detail["points"], "threshold": _first(detail.get("threshold"), spec.threshold),
            "is_open": detail["is_open"], "top_inputs": attributions((row["attributions"] or [None])[0]),
            "base_value": None if base is None or np.isnan(base) else base,
            "detector": _first(detail.get("detector"), spec.detector),
            "model_version": _first(detail.get("model_version"), spec.model_version),
            "batch_id": batch_id, "updated_at": updated_at}
        if operator_alerts:
            sent = detail.get("alerts")
            record[operator_alerts] = None if sent is None else json.dumps(sent, separators=(",", ":"))
        records.append(record)
    fields = [("series_id", pa.string()), ("channel", pa.string()), ("start", pa.int64()), ("end", pa.int64()),
              ("peak_at", pa.int64()), ("peak_score", pa.float64()), ("points", pa.int64()),
              ("threshold", pa.float64()), ("is_open", pa.bool_()), ("top_inputs", ATTRIBUTIONS_ARROW),
              ("base_value", pa.float64()), ("detector", pa.string()), ("model_version", pa.string()),
              ("batch_id", pa.int64()), ("updated_at", UTC_MICROS)]
    if operator_alerts:
        fields.append((operator_alerts, pa.string()))
    table = pa.Table.from_pylist(records, pa.schema(fields))
    for name in ("start", "end", "peak_at"):  # epoch microseconds, as the operator wrote them
        table = table.set_column(table.schema.get_field_index(name), name, pc.cast(table[name], UTC_MICROS))
    return table


def attributions(text: str | None) -> list[dict[str, Any]] | None:
    """A point's or event's attributions JSON (the operator's) as gold's list of {input, shap}; None stays None."""
    if text is None:
        return None
    parsed = json.loads(text)
    return None if parsed is None else [{"input": a.get("input"), "shap": a.get("shap")} for a in parsed]


def _flat(column: pa.ChunkedArray, sizes: np.ndarray, value_type: pa.DataType) -> pa.Array:
    """The elements of a list column in row order, a null list standing for as many nulls as its row has points
    (`sizes`: each row's number of points)."""
    lists = column.combine_chunks()
    if lists.null_count == 0:
        return pc.list_flatten(lists).cast(value_type)
    present = np.repeat(lists.is_valid().to_numpy(zero_copy_only=False), sizes)
    return pc.replace_with_mask(pa.nulls(int(sizes.sum()), value_type), pa.array(present),
                                pc.list_flatten(lists).cast(value_type))


def _no_nan(values: pa.Array) -> pa.Array:
    """`values` with NaN as null (Python marks a missing base value NaN inside an array)."""
    return pc.if_else(pc.is_nan(values), pa.scalar(None, values.type), values)


def _first(value: Any, default: Any) -> Any:
    return default if value is None else value

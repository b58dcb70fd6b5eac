"""Readings packed per series before the stateful operator: one row of arrays per (series_id, channel).

The stateful operator's cost on this machine is dominated by what Spark does per row (shuffle, sort, the Arrow
round trip to Python; BENCHMARKS.md, streaming). Each task of the source stage therefore gathers its rows by
series in Python (a stateless ``mapInArrow``), so the shuffle and the state function see one row per series and
source task instead of one per reading. The stateful step sorts each series' points by time itself.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from pyspark.sql import types as T

KEY_COLUMNS = ("series_id", "channel")
_ARRAY_FIELDS = (T.StructField("ts_us", T.ArrayType(T.LongType())), T.StructField("value", T.ArrayType(T.DoubleType())))
# A task packs what it has every this many rows, which bounds its memory on a large catch-up batch.
PACK_ROWS = 1_000_000


def packed_schema(readings: T.StructType) -> T.StructType:
    """The packed rows' schema: the key fields as `readings` has them (their nullability is part of the state
    store's key schema, which a checkpoint fixes), then the readings' times (epoch microseconds) and values as
    arrays, in arrival order."""
    return T.StructType([readings[name] for name in KEY_COLUMNS] + list(_ARRAY_FIELDS))


def pack_table(table: pa.Table) -> pa.Table:
    """One row per (series_id, channel) of `table` (columns series_id, channel, ts_us, value) with the
    series' ts_us and value as lists in the table's row order."""
    grouped = table.group_by(list(KEY_COLUMNS), use_threads=False).aggregate(
        [("ts_us", "list"), ("value", "list")])
    return pa.table({
        "series_id": grouped["series_id"], "channel": grouped["channel"],
        "ts_us": grouped["ts_us_list"], "value": grouped["value_list"]})


def pack_batches(batches: Iterator[pa.RecordBatch], pack_rows: int = PACK_ROWS) -> Iterator[pa.RecordBatch]:
    """The mapInArrow function: a task's readings (series_id, channel, ts_us, value) as packed rows, packing
    every `pack_rows` rows at most (a series may get one row per pack)."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        pending.append(batch)
        rows += batch.num_rows
        if rows >= pack_rows:
            yield from pack_table(pa.Table.from_batches(pending)).to_batches()
            pending, rows = [], 0
    if rows:
        yield from pack_table(pa.Table.from_batches(pending)).to_batches()

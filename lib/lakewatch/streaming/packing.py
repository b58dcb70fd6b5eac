"""Readings packed per series before the stateful operator: one row of arrays per (series_id, channel).

The stateful operator's cost on this machine is dominated by what Spark does per row (shuffle, sort, the Arrow
round trip to Python; BENCHMARKS.md, streaming). Each task of the source stage therefore gathers its rows by
series in Python (a stateless ``mapInArrow``), so the shuffle and the state function see one row per series and
source task instead of one per reading. The stateful step sorts each series' points by time itself.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import types as T

KEY_COLUMNS = ("series_id", "channel")
_ARRAY_FIELDS = (T.StructField("ts_us", T.ArrayType(T.LongType())), T.StructField("value", T.ArrayType(T.DoubleType())))
# A task packs what it has every this many rows, which bounds its memory on a large catch-up batch.
PACK_ROWS = 1_000_000


# With multichannel entities (lakewatch.streaming.entities) the packed rows also carry each reading's channel.
SOURCE_CHANNEL = T.StructField("source_channel", T.ArrayType(T.StringType()))
# ...and, for machines recognised by their source, the index of the source's rule (its channel list).
ENTITY_RULE = T.StructField("entity_rule", T.IntegerType())
ENTITY_CHANNEL = "*"


def packed_schema(readings: T.StructType, entities: bool = False) -> T.StructType:
    """The packed rows' schema: the key fields as `readings` has them (their nullability is part of the state
    store's key schema, which a checkpoint fixes), then the readings' times (epoch microseconds) and values as
    arrays, in arrival order; with `entities`, the readings' channels too, and when `readings` has a column
    entity_rule (machines by source, lakewatch.streaming.entity_sources) the entity's rule."""
    rules = [ENTITY_RULE] if entities and ENTITY_RULE.name in readings.fieldNames() else []
    return T.StructType([readings[name] for name in KEY_COLUMNS] + list(_ARRAY_FIELDS)
                        + ([SOURCE_CHANNEL] if entities else []) + rules)


def entity_keys(table: pa.Table, globs: Sequence[str]) -> pa.Table:
    """`table` with the channel of every series_id matching one of `globs`, and of every reading with an
    entity_rule (when the table has that column), replaced by '*' (the entity's key) and the readings' own
    channels in a column source_channel."""
    ids = pc.unique(table["series_id"]).to_pylist()
    matched = [sid for sid in ids if sid is not None and any(fnmatch.fnmatchcase(sid, g) for g in globs)]
    is_entity = pc.is_in(table["series_id"], value_set=pa.array(matched, pa.string()))
    if ENTITY_RULE.name in table.column_names:
        is_entity = pc.or_(is_entity, pc.is_valid(table[ENTITY_RULE.name]))
    key = pc.if_else(is_entity, pa.scalar(ENTITY_CHANNEL, table.schema.field("channel").type), table["channel"])
    return table.set_column(table.schema.get_field_index("channel"), "channel", key).append_column(
        "source_channel", table["channel"])


def pack_table(table: pa.Table, globs: Sequence[str] = ()) -> pa.Table:
    """One row per (series_id, channel) of `table` (columns series_id, channel, ts_us, value, and entity_rule
    for machines by source) with the series' ts_us and value as lists in the table's row order; with entity
    `globs` or an entity_rule column, one row per entity (channel '*') with its readings' channels as a list
    too (:func:`entity_keys`) and its rule."""
    rules = ENTITY_RULE.name in table.column_names
    entities = bool(globs) or rules
    if entities:
        table = entity_keys(table, globs)
    lists = [("ts_us", "list"), ("value", "list")] + ([("source_channel", "list")] if entities else []) + (
        [(ENTITY_RULE.name, "min")] if rules else [])
    grouped = table.group_by(list(KEY_COLUMNS), use_threads=False).aggregate(lists)
    columns = {"series_id": grouped["series_id"], "channel": grouped["channel"],
               "ts_us": grouped["ts_us_list"], "value": grouped["value_list"]}
    if entities:
        columns["source_channel"] = grouped["source_channel_list"]
    if rules:
        columns[ENTITY_RULE.name] = grouped[f"{ENTITY_RULE.name}_min"]
    return pa.table(columns)


def pack_batches(batches: Iterator[pa.RecordBatch], pack_rows: int = PACK_ROWS,
                 globs: Sequence[str] = ()) -> Iterator[pa.RecordBatch]:
    """The mapInArrow function: a task's readings (series_id, channel, ts_us, value) as packed rows, packing
    every `pack_rows` rows at most (a series may get one row per pack); `globs`: the entities' series patterns."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        pending.append(batch)
        rows += batch.num_rows
        if rows >= pack_rows:
            yield from pack_table(pa.Table.from_batches(pending), globs).to_batches()
            pending, rows = [], 0
    if rows:
        yield from pack_table(pa.Table.from_batches(pending), globs).to_batches()

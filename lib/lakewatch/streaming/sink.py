"""The score stream's foreachBatch writer: scores appended to gold.anomaly_scores, late rows to silver.quarantine,
event versions to gold.anomalies (appended, or merged in one MERGE when the batch updates events written before);
every write is idempotent per (query, batch id).

Appends carry Delta's txnAppId/txnVersion writer options; the MERGE carries its own app id and the batch id as
the session settings spark.databricks.delta.write.txnAppId/txnVersion, so a batch replayed after a crash (same
batch id, same rows, since the state store replays too) changes nothing that was already committed. A batch of at
most `SinkSpec.driver_commit_rows` rows is committed by the driver with delta-rs (lakewatch.driver_commits), its
scores and events collected once as Arrow and their rows built there (lakewatch.streaming.driver_rows), with the
same app ids and versions in the same Delta ``txn`` actions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial, reduce

import pyarrow as pa
from delta.tables import DeltaTable
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakewatch import driver_commits, tables
from lakewatch.concurrent import run_together
from lakewatch.schemas import ATTRIBUTIONS, EVENT_KEY, GOLD_ANOMALIES, GOLD_ANOMALY_SCORES, SILVER_QUARANTINE
from lakewatch.streaming import driver_rows
from lakewatch.streaming.packing import ENTITY_CHANNEL
from lakewatch.streaming.scoring import (
    EVENT_DETAIL_SCHEMA,
    KIND_EVENT,
    KIND_EVENT_UPDATE,
    KIND_LATE,
    KIND_REJECTED,
    KIND_SCORE,
)

TXN_APP_ID_CONF = "spark.databricks.delta.write.txnAppId"
TXN_VERSION_CONF = "spark.databricks.delta.write.txnVersion"
UPDATE_APP_SUFFIX = "-event-updates"  # txnAppId of the events MERGE: the events append has the query's own
LATE_REASON = "late"
STAGE = "stream"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OPERATOR_ALERTS = "operator_alerts"  # JSON list: the alerts the stateful operator sent for the event version
_EVENTS_AND_SENDS = T.StructType([*GOLD_ANOMALIES.fields, T.StructField(OPERATOR_ALERTS, T.StringType())])


@dataclass(frozen=True)
class SinkSpec:
    """Where and how a score query writes. ``app_id`` "" = derived from the checkpoint's query id.

    ``locations`` maps a table name to its Delta location (:func:`table_locations`, looked up once when the query
    starts); a table in it is written by path, which skips the catalog lookups that saveAsTable makes on every
    micro-batch (about 0.7 s of a 320k-row append here).
    """

    scores_table: str
    anomalies_table: str
    quarantine_table: str
    detector: str
    model_version: str
    threshold: float
    checkpoint: str
    source_name: str
    app_id: str = ""
    locations: Mapping[str, str] = field(default_factory=dict)
    entities: bool = False  # multichannel entities: their rows name their own detector (lakewatch.streaming.entities)
    driver_commit_rows: int = 0  # a batch of at most this many rows is committed by the driver (0 = never)
    decide_beside_writes: bool = False  # the operator sends alerts: the driver's decision need not go first

    def location(self, table_name: str) -> str:
        """The Delta location to write `table_name` at ("" = by name through the catalog)."""
        return self.locations.get(table_name, "")

    def on_driver(self, table_name: str, rows: int) -> bool:
        """Whether a batch of `rows` rows is committed to `table_name` by the driver (lakewatch.driver_commits)."""
        return self.driver_commit_rows > 0 and rows <= self.driver_commit_rows and driver_commits.writable(
            self.location(table_name))


def table_locations(spark: SparkSession, table_names: Iterable[str]) -> dict[str, str]:
    """The Delta location of each table (for :attr:`SinkSpec.locations`)."""
    return {name: tables.catalog_location(spark, name) for name in table_names}


@dataclass(frozen=True)
class BatchStats:
    """What one micro-batch wrote."""

    batch_id: int
    scored: int
    flagged: int
    late: int
    events: int
    seconds: float
    scoring_seconds: float = 0.0
    write_seconds: dict[str, float] = field(default_factory=dict)
    finished_at: float = 0.0  # epoch seconds when the batch's last write committed: its rows are visible since
    # Readings the batch sent to silver.quarantine, by reason: 'late', and a machine's entity_* reasons.
    quarantined: dict[str, int] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        """Rows scored per second of the batch's wall time (stateful scoring and writes included)."""
        return self.scored / self.seconds if self.seconds > 0 else 0.0


_APP_IDS: dict[str, str] = {}


def query_app_id(spark: SparkSession, checkpoint: str) -> str:
    """A txnAppId for the query owning `checkpoint`: its query id, stable across restarts, new with a new
    checkpoint (a deleted and recreated checkpoint must not inherit the old id, or every write is skipped)."""
    if checkpoint not in _APP_IDS:
        text = "".join(r.value for r in spark.read.text(f"{checkpoint.rstrip('/')}/metadata").collect())
        _APP_IDS[checkpoint] = f"lakewatch-score-stream-{json.loads(text)['id']}"
    return _APP_IDS[checkpoint]


def _ts(col: str | Column) -> Column:
    return F.timestamp_micros((F.col(col) if isinstance(col, str) else col).cast("long"))


def _no_nan(col: Column) -> Column:
    """`col` with NaN as null (Python marks a missing base value NaN inside an array)."""
    return F.when(~F.isnan(col), col)


def _points(batch: DataFrame, kind: str, fields: tuple[str, ...]) -> DataFrame:
    """One row per point of the packed rows of `kind`: series_id, channel and `fields` (arrays of equal length
    in OUTPUT_SCHEMA; a null array, as attributions without explanations, gives nulls), plus `detail`."""
    rows = batch.filter(F.col("kind") == kind)
    size = F.size("ts_us")
    filled = [F.coalesce(F.col(f), F.array_repeat(F.lit(None).cast(rows.schema[f].dataType.elementType), size))
              .alias(f) for f in fields]
    return rows.select("series_id", "channel", "detail", F.inline(F.arrays_zip(*filled)))


def to_scores(batch: DataFrame, spec: SinkSpec, batch_id: int, scored_at: datetime) -> DataFrame:
    """gold.anomaly_scores rows from the stateful operator's 'score' rows."""
    points = _points(batch, KIND_SCORE, ("ts_us", "value", "score", "flag", "attributions", "base_value"))
    value, detector, model_version = F.col("value"), F.lit(spec.detector), F.lit(spec.model_version)
    if spec.entities:  # an entity's row: no single value; its detector in the score row's detail
        entity = F.col("channel") == ENTITY_CHANNEL
        value = F.when(~entity, value)
        detector = F.coalesce(F.get_json_object("detail", "$.detector"), detector)
        model_version = F.coalesce(F.get_json_object("detail", "$.model_version"), model_version)
    rows = points.select(
        "series_id", "channel", _ts("ts_us").alias("timestamp"), value.alias("value"),
        F.col("score").alias("raw_score"), "score", "flag",
        F.from_json("attributions", ATTRIBUTIONS).alias("attributions"), _no_nan(F.col("base_value")).alias(
            "base_value"),
        detector.alias("detector"), model_version.alias("model_version"),
        F.lit(scored_at).alias("scored_at"), F.lit(batch_id).alias("batch_id"))
    return tables.conform(rows, GOLD_ANOMALY_SCORES)


def to_quarantine(batch: DataFrame, spec: SinkSpec, scored_at: datetime, kind: str = KIND_LATE) -> DataFrame:
    """silver.quarantine rows (stage 'stream') from the 'late' rows (reason 'late'), or from the 'rejected' rows
    of multichannel entities (reason and message from their detail)."""
    late = _points(batch, kind, ("ts_us", "value"))
    ts_text = F.date_format(_ts("ts_us"), "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'")
    if kind == KIND_REJECTED:
        reason = F.get_json_object("detail", "$.reason")
        why = F.get_json_object("detail", "$.message").alias("problem")
    else:
        reason, why = F.lit(LATE_REASON), F.col("detail").alias("lateness")
    raw = F.to_json(F.struct("series_id", "channel", ts_text.alias("timestamp"), "value", why))
    rows = late.select(
        "series_id", "channel", ts_text.alias("ts_raw"),
        F.col("value").cast("string").alias("value_raw"), raw.alias("raw_record"),
        reason.alias("reason"), F.lit(STAGE).alias("stage"), F.lit(spec.source_name).alias("source"),
        F.lit(None).cast("string").alias("source_version"), F.lit(None).cast("long").alias("record_order"),
        F.lit(None).cast("string").alias("ingest_id"), F.lit(scored_at).alias("quarantined_at"))
    return tables.conform(rows, SILVER_QUARANTINE)


def to_events(batch: DataFrame, spec: SinkSpec, batch_id: int, updated_at: datetime,
              kinds: tuple[str, ...] = (KIND_EVENT,), operator_alerts: bool = False) -> DataFrame:
    """gold.anomalies rows (one version per event touched by the batch) from the rows of `kinds` ('event' for
    events new in the batch, 'event_update' for later versions of events written before); with
    `operator_alerts`, plus the column OPERATOR_ALERTS (what the operator sent for each, as JSON, or null)."""
    events = batch.filter(F.col("kind").isin(*kinds)).withColumn("e", F.from_json("detail", EVENT_DETAIL_SCHEMA))
    rows = events.select(
        "series_id", "channel", _ts(F.col("ts_us")[0]).alias("start"), _ts("e.end_us").alias("end"),
        _ts("e.peak_us").alias("peak_at"), F.col("score")[0].alias("peak_score"), F.col("e.points").alias("points"),
        F.coalesce(F.col("e.threshold"), F.lit(spec.threshold)).alias("threshold"), F.col("e.is_open").alias("is_open"),
        F.from_json(F.col("attributions")[0], ATTRIBUTIONS).alias("top_inputs"),
        _no_nan(F.col("base_value")[0]).alias("base_value"),
        F.coalesce(F.col("e.detector"), F.lit(spec.detector)).alias("detector"),
        F.coalesce(F.col("e.model_version"), F.lit(spec.model_version)).alias("model_version"),
        F.lit(batch_id).alias("batch_id"), F.lit(updated_at).alias("updated_at"),
        F.get_json_object("detail", "$.alerts").alias(OPERATOR_ALERTS))
    return tables.conform(rows, _EVENTS_AND_SENDS if operator_alerts else GOLD_ANOMALIES)


def append_idempotent(df: DataFrame | pa.Table, table_name: str, app_id: str, batch_id: int, location: str = "",
                      on_driver: bool = False) -> None:
    """Append `df` to `table_name` (at `location` when given) unless this (app_id, batch_id) was already
    committed there; `on_driver`: `df` (collected as Arrow unless it is Arrow already) committed by the driver (a
    few rows, a local `location`)."""
    if on_driver:
        driver_commits.append(location, _arrow(df), app_id, batch_id)
        return
    writer = df.write.format("delta").mode("append").option("txnAppId", app_id).option("txnVersion", batch_id)
    if location:
        writer.save(location)
    else:
        writer.saveAsTable(table_name)


def merge_events(events: DataFrame | pa.Table, table_name: str, app_id: str, batch_id: int, location: str = "",
                 since: datetime | None = None, on_driver: bool = False) -> None:
    """Upsert event versions into `table_name` (at `location` when given) on EVENT_KEY, once per (app_id,
    batch_id). `since`, the earliest start among `events`, lets Delta skip the files of older events.
    `on_driver`: the events (collected as Arrow unless they are Arrow already) merged by the driver (a local
    `location`)."""
    if on_driver:
        driver_commits.merge(location, _arrow(events), EVENT_KEY, app_id, batch_id,
                             None if since is None else ("start", since))
        return
    spark = events.sparkSession
    target = DeltaTable.forPath(spark, location) if location else DeltaTable.forName(spark, table_name)
    condition = reduce(Column.__and__, [F.col(f"t.`{k}`") == F.col(f"s.`{k}`") for k in EVENT_KEY])
    if since is not None:
        condition = condition & (F.col("t.start") >= F.lit(since))
    spark.conf.set(TXN_APP_ID_CONF, app_id)
    spark.conf.set(TXN_VERSION_CONF, str(batch_id))
    try:
        (target.alias("t").merge(events.alias("s"), condition)
         .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())
    finally:
        spark.conf.unset(TXN_APP_ID_CONF)
        spark.conf.unset(TXN_VERSION_CONF)


def write_events(batch: DataFrame, spec: SinkSpec, app_id: str, batch_id: int, updated_at: datetime,
                 new: bool, updates: bool, since: datetime | None = None, on_driver: bool = False,
                 packed: pa.Table | None = None) -> None:
    """Write the batch's event versions to gold.anomalies in one commit: an idempotent append when every event
    is new in the batch (the common case), else one MERGE of new events and later versions of events written
    before (several Spark jobs and a scan of the table; `since` is the earliest start among them). `on_driver`:
    committed by the driver with delta-rs (:meth:`SinkSpec.on_driver`), from the rows built on the driver out of
    `packed` (the batch collected, lakewatch.streaming.driver_rows) when given.

    The append and the MERGE carry different txnAppIds, each with the batch id as its version; a replayed batch
    brings the same rows, so it takes the same path and is skipped.
    """
    table, location = spec.anomalies_table, spec.location(spec.anomalies_table)

    def versions(kinds: tuple[str, ...]) -> DataFrame | pa.Table:
        if on_driver and packed is not None:
            return driver_rows.event_rows(packed, spec, batch_id, updated_at, kinds)
        return to_events(batch, spec, batch_id, updated_at, kinds)

    if updates:
        kinds = (KIND_EVENT, KIND_EVENT_UPDATE) if new else (KIND_EVENT_UPDATE,)
        merge_events(versions(kinds), table, f"{app_id}{UPDATE_APP_SUFFIX}", batch_id, location, since, on_driver)
    elif new:
        append_idempotent(versions((KIND_EVENT,)), table, app_id, batch_id, location, on_driver)


def _arrow(rows: DataFrame | pa.Table) -> pa.Table:
    return rows if isinstance(rows, pa.Table) else rows.toArrow()


def _from_us(micros: int) -> datetime:
    """An epoch-microsecond count as an aware UTC datetime (exact: no float on the way)."""
    return EPOCH + timedelta(microseconds=int(micros))


def _timed(action: Callable[[], None]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


# The alerts hook (lakewatch.alerts.notifier.Notifier.on_events): called with the batch's event versions
# (gold.anomalies rows, plus OPERATOR_ALERTS: what the operator already sent; as Arrow when the batch came to the
# driver, lakewatch.streaming.driver_rows), the batch id and the query's
# txnAppId before the batch's writes; returns what is left to do (delivery and the outbox record), which runs beside
# the writes.
EventsHook = Callable[[DataFrame | pa.Table, int, str], Callable[[], object]]


def _summary(batch: DataFrame) -> tuple[dict[str, dict[str, int | None]], dict[str, int]]:
    """Per output kind of a batch: its points (n), flagged points and earliest first timestamp (first_us); and the
    points going to silver.quarantine by reason ('late', a rejected row's reason from its detail). One Spark job."""
    flagged = F.when(F.col("flag").isNotNull(), F.size(F.filter("flag", lambda f: f)))
    reason = F.when(F.col("kind") == KIND_REJECTED, F.get_json_object("detail", "$.reason")).when(
        F.col("kind") == KIND_LATE, F.lit(LATE_REASON))
    summary: dict[str, dict[str, int | None]] = {}
    by_reason: dict[str, int] = {}
    for r in batch.groupBy("kind", reason.alias("reason")).agg(
            F.sum(F.size("ts_us")).alias("n"), F.sum(flagged).alias("flagged"),
            F.min(F.col("ts_us")[0]).alias("first_us")).collect():
        into = summary.setdefault(r["kind"], {"n": 0, "flagged": None, "first_us": None})
        into["n"] = int(into["n"] or 0) + int(r["n"] or 0)
        if r["flagged"] is not None:
            into["flagged"] = int(into["flagged"] or 0) + int(r["flagged"])
        if r["first_us"] is not None:
            first = int(r["first_us"])
            into["first_us"] = first if into["first_us"] is None else min(first, int(into["first_us"]))
        if r["reason"] is not None:
            by_reason[r["reason"]] = by_reason.get(r["reason"], 0) + int(r["n"] or 0)
    return summary, dict(sorted(by_reason.items()))


def write_batch(batch_df: DataFrame, batch_id: int, *, spec: SinkSpec,
                on_batch: Callable[[BatchStats], None] | None = None,
                on_events: EventsHook | None = None) -> BatchStats:
    """foreachBatch handler: write one micro-batch of the stateful operator's output (OUTPUT_SCHEMA rows).

    The batch is persisted so the stateful scoring runs once for the writes. `on_events` (the alerts hook,
    lakewatch.alerts) gets the batch's event versions as gold.anomalies rows as soon as the batch is scored, before
    any write is started (a Spark job started beside the writes would queue behind their tasks), and what it
    returns, the notifications' delivery and record, runs beside the writes: a notification leaves before the
    batch's commits, and is recorded before the batch ends. When the stateful operator has sent the alerts it can
    (`spec.decide_beside_writes`), the decision too runs beside the writes: the batch is shorter by it, and only
    what the driver is left with (a cooldown's rule, an operator's failed send) waits for it. A batch of at most
    `spec.driver_commit_rows` rows (scores, late rows and events together) is committed by the driver with
    delta-rs, each table in one commit (tables at a local location; the others by Spark): its scores and events
    reach the driver in one collect, and their rows, and the alerts hook's, are built there
    (lakewatch.streaming.driver_rows). Returns the batch's counts.
    """
    began = time.perf_counter()
    batch = batch_df.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        summary, quarantined_by_reason = _summary(batch)
        counts = {kind: (r["n"], r["flagged"]) for kind, r in summary.items()}
        scored_after = time.perf_counter() - began  # reading, shuffling and stateful scoring end here
        app_id = spec.app_id or query_app_id(batch_df.sparkSession, spec.checkpoint)
        now = datetime.now(UTC)
        rows = sum(int(n or 0) for n, _ in counts.values())
        scores_on_driver = spec.on_driver(spec.scores_table, rows)
        events_on_driver = spec.on_driver(spec.anomalies_table, rows)
        # A batch the driver commits comes to it once, as the state store left it, when it has scores or events;
        # their rows are built there (late and rejected rows keep Spark's to_quarantine).
        packed = batch.filter(F.col("kind").isin(KIND_SCORE, KIND_EVENT, KIND_EVENT_UPDATE)).toArrow() if (
            (scores_on_driver or events_on_driver)
            and any(k in counts for k in (KIND_SCORE, KIND_EVENT, KIND_EVENT_UPDATE))) else None
        writes: dict[str, Callable[[], None]] = {}
        if KIND_SCORE in counts:
            writes["scores"] = lambda: append_idempotent(
                driver_rows.score_rows(packed, spec, batch_id, now) if scores_on_driver and packed is not None
                else to_scores(batch, spec, batch_id, now), spec.scores_table, app_id, batch_id,
                spec.location(spec.scores_table), scores_on_driver)
        quarantined = [kind for kind in (KIND_LATE, KIND_REJECTED) if kind in counts]
        if quarantined:
            writes["late"] = lambda: append_idempotent(
                reduce(DataFrame.unionByName, [to_quarantine(batch, spec, now, kind) for kind in quarantined]),
                spec.quarantine_table, app_id, batch_id, spec.location(spec.quarantine_table),
                spec.on_driver(spec.quarantine_table, rows))
        if KIND_EVENT in counts or KIND_EVENT_UPDATE in counts:
            since = min(_from_us(summary[k]["first_us"]) for k in (KIND_EVENT, KIND_EVENT_UPDATE) if k in summary)
            writes["events"] = partial(write_events, batch, spec, app_id, batch_id, now, KIND_EVENT in counts,
                                       KIND_EVENT_UPDATE in counts, since, events_on_driver, packed)
        decide_seconds: dict[str, float] = {}
        if on_events is not None and (KIND_EVENT in counts or KIND_EVENT_UPDATE in counts):
            every_kind = (KIND_EVENT, KIND_EVENT_UPDATE)
            versions = (driver_rows.event_rows(packed, spec, batch_id, now, every_kind, OPERATOR_ALERTS)
                        if packed is not None else to_events(batch, spec, batch_id, now, every_kind,
                                                             operator_alerts=True))
            if spec.decide_beside_writes:
                writes["alerts"] = lambda: on_events(versions, batch_id, app_id)()
            else:
                decided = time.perf_counter()
                writes["alerts"] = on_events(versions, batch_id, app_id)
                decide_seconds["alerts_decide"] = time.perf_counter() - decided
        # Each table is idempotent on its own (app_id, batch_id): the writes overlap.
        write_seconds = dict(zip(writes, run_together(*(partial(_timed, w) for w in writes.values())), strict=True))
        write_seconds.update(decide_seconds)
    finally:
        batch.unpersist()
    scored, flagged = counts.get(KIND_SCORE, (0, 0))
    stats = BatchStats(batch_id, int(scored), int(flagged or 0), int(counts.get(KIND_LATE, (0, 0))[0]),
                       int(counts.get(KIND_EVENT, (0, 0))[0] + counts.get(KIND_EVENT_UPDATE, (0, 0))[0]),
                       time.perf_counter() - began, scored_after, write_seconds, time.time(), quarantined_by_reason)
    if on_batch is not None:
        on_batch(stats)
    return stats

"""ops.alerts, the outbox: every alert decided is recorded once, by an idempotent append or a MERGE on its alert_id.

:func:`record` MERGEs: a row is inserted when its alert_id is new; a row already there is updated (attempts added,
status, error) unless it is already sent, so a second pass of the alerts job, or the stream and the job both
delivering the same alert leave one row. :func:`append_new` is the score stream's cheaper path for alerts known to
be new (no scan of the table, one commit): an append carrying the query's txnAppId and the batch id as txnVersion,
so a replayed micro-batch is skipped; :class:`OutboxLog` tells whether anyone else committed to the outbox since
the stream last looked, in which case the stream MERGEs instead. Reading the outbox back gives the
:class:`~lakewatch.alerts.policy.AlertState` the policy starts from after a restart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema

from lakewatch import driver_commits
from lakewatch.alerts.delivery import Outcome
from lakewatch.alerts.policy import FAILED, PENDING, SENT, SUPPRESSED, Alert, AlertState, from_micros
from lakewatch.schemas import OPS_ALERTS

USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"
STATE_COLUMNS = ("alert_id", "kind", "event_id", "series_id", "rule", "channel", "target", "severity", "status",
                 "reason")


def _event_start_micros() -> Column:
    """event_start as epoch microseconds: a collected timestamp would be a naive datetime in the local zone."""
    return F.unix_micros("event_start").alias("event_start_us")


def _utc(moment: datetime | None) -> datetime | None:
    """`moment` as an aware UTC datetime (PySpark stores an aware datetime by its instant; a naive one would be
    read in the driver's local zone); a naive `moment` is UTC already."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def outbox_rows(alerts: Sequence[Alert], outcomes: Mapping[str, Outcome], now: datetime) -> list[tuple]:
    """ops.alerts rows (OPS_ALERTS order) for `alerts`: suppressed ones as they are, the others with the outcome
    of their delivery (pending when not tried)."""
    rows = []
    for alert in alerts:
        outcome = outcomes.get(alert.alert_id)
        status = alert.status if alert.status == SUPPRESSED or outcome is None else outcome.status
        rows.append((
            alert.alert_id, alert.kind, alert.event_id, alert.series_id, alert.rule, alert.channel, alert.severity,
            status, outcome.attempts if outcome else 0, outcome.last_error if outcome else None, _utc(now),
            _utc(outcome.sent_at) if outcome else None, alert.target,
            bool(outcome.retriable) if outcome and status == FAILED else False, alert.reason or None,
            _utc(alert.event_start), json.dumps(dict(alert.payload), sort_keys=True), _utc(now)))
    return rows


def _pandas(rows: Sequence[tuple]) -> pd.DataFrame:
    """`rows` (OPS_ALERTS order) as a pandas frame with the outbox's column names."""
    return pd.DataFrame(list(rows), columns=OPS_ALERTS.names)


def _frame(spark: SparkSession, rows: Sequence[tuple]) -> DataFrame:
    """`rows` as a DataFrame sent as Arrow: a local relation, read with no Python worker (a list of tuples would
    be an RDD of pickled rows)."""
    return spark.createDataFrame(_pandas(rows), OPS_ALERTS)


def record(spark: SparkSession, location: str, rows: Sequence[tuple], tag: str = "") -> None:
    """MERGE `rows` into the outbox Delta table at `location` on alert_id: new ids inserted; known ids not yet sent
    take the new status, error, sent_at and retriable flag, and add the new attempts. `tag` becomes the commit's
    userMetadata (set in `spark`'s conf for the MERGE: give a session no other thread writes with)."""
    if not rows:
        return
    target = DeltaTable.forPath(spark, location)
    if tag:
        spark.conf.set(USER_METADATA_CONF, tag)
    try:
        (target.alias("t").merge(_frame(spark, rows).alias("s"), "t.alert_id = s.alert_id")
         .whenMatchedUpdate(condition=f"t.status <> '{SENT}' AND s.status <> '{SUPPRESSED}'", set={
             "status": "s.status", "attempts": "t.attempts + s.attempts", "last_error": "s.last_error",
             "sent_at": "s.sent_at", "retriable": "s.retriable", "updated_at": "s.updated_at"})
         .whenNotMatchedInsertAll()
         .execute())
    finally:
        if tag:
            spark.conf.unset(USER_METADATA_CONF)


def append_new(spark: SparkSession, location: str, rows: Sequence[tuple], app_id: str, batch_id: int,
               tag: str) -> None:
    """Append `rows`, alerts whose alert_ids the outbox does not hold, to the outbox at `location` once per
    (`app_id`, `batch_id`) (Delta's txnAppId/txnVersion: a replayed micro-batch is skipped); the commit carries
    `tag` as its userMetadata, so :class:`OutboxLog` knows it for one of its writer's own. An outbox on a local
    file system is appended by the driver with delta-rs (lakewatch.driver_commits: no Spark job)."""
    if not rows:
        return
    if driver_commits.writable(location):
        driver_commits.append(location, pa.Table.from_pandas(_pandas(rows), schema=to_arrow_schema(OPS_ALERTS),
                                                             preserve_index=False), app_id, batch_id, tag)
        return
    (_frame(spark, rows).write.format("delta").mode("append").option("txnAppId", app_id)
     .option("txnVersion", batch_id).option("userMetadata", tag).save(location))


class OutboxLog:
    """The outbox's Delta log, read with delta-rs (no Spark job): whether a writer other than this one (whose
    commits carry one of the userMetadata tags in `own`) committed since the version it last saw.

    The stream appends its new alerts only while it is the outbox's only writer: the alerts job (or a second
    stream) recording an alert the stream does not know of would otherwise leave a second row for its alert_id.
    """

    def __init__(self, location: str) -> None:
        from deltalake import DeltaTable as LogTable  # delta-rs, imported only where alerts are recorded

        self.own: set[str] = set()
        self._table = LogTable(driver_commits.local_path(location))
        self.seen = self._table.version()  # taken before the state is read: the state holds at least this much

    def others_since(self) -> bool:
        """Whether a commit not tagged with one of `own` landed after the version last seen; the newest version
        becomes the one seen (call it before each record)."""
        self._table.update_incremental()
        latest = self._table.version()
        foreign = latest > self.seen and any(
            commit.get("userMetadata") not in self.own for commit in self._table.history(latest - self.seen))
        self.seen = latest
        return foreign


def read_state(outbox: DataFrame, window_seconds: float) -> AlertState:
    """The policy's state from the outbox's rows (only the columns it needs reach the driver)."""
    state = AlertState()
    for row in outbox.select(*STATE_COLUMNS, _event_start_micros()).collect():
        state.add(Alert(row["alert_id"], row["kind"], row["event_id"], row["series_id"], row["rule"], row["channel"],
                        row["target"], row["severity"], row["status"], from_micros(row["event_start_us"]), {},
                        row["reason"] or ""),
                  window_seconds)
    return state


def redeliverable(outbox: DataFrame, max_attempts: int) -> list[Alert]:
    """Alerts of the outbox to try again: pending ones, and failed ones marked retriable with fewer than
    `max_attempts` attempts so far (a refusal for good, or a row out of attempts, stays failed)."""
    retry = (F.col("status") == FAILED) & F.col("retriable") & (F.col("attempts") < max_attempts)
    rows = outbox.select("*", _event_start_micros()).where((F.col("status") == PENDING) | retry).collect()
    return [Alert(r["alert_id"], r["kind"], r["event_id"], r["series_id"], r["rule"], r["channel"], r["target"],
                  r["severity"], PENDING, from_micros(r["event_start_us"]), json.loads(r["payload"]), r["reason"] or "")
            for r in rows]

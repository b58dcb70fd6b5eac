"""Prometheus metrics of the lakehouse (GET /metrics), computed from the tables at scrape time by a custom
prometheus_client collector, cached for ``api.metrics_cache_seconds`` so that several scrapers cost one read.

What is exported (a table that does not exist yet exports nothing of its own, and ``lakewatch_table_exists`` 0):

* ``lakewatch_anomalies_opened_total``: anomaly events ever opened (gold.anomalies rows); ``lakewatch_anomalies_open``
  the ones still open.
* ``lakewatch_alerts_sent_total{channel}``, ``lakewatch_alerts_failed_total{channel}``,
  ``lakewatch_alerts_pending{channel}``: the alerts outbox (ops.alerts) by notification channel.
* ``lakewatch_stream_lag_seconds``: newest silver.readings timestamp minus newest scored timestamp
  (gold.anomaly_scores): how far the stream is behind the data.
* ``lakewatch_stream_seconds_since_last_batch``: now minus the newest ``scored_at`` (the last micro-batch).
* ``lakewatch_pipeline_last_run_duration_seconds{job}``, ``lakewatch_pipeline_last_run_success{job}`` (1/0),
  ``lakewatch_pipeline_last_run_status{job,status}`` (1), ``lakewatch_pipeline_last_run_end_timestamp_seconds{job}``:
  the newest run of each job in ops.pipeline_runs.
* ``lakewatch_validation_runs_failed_total``, ``lakewatch_validation_expectations_failed_total``,
  ``lakewatch_validation_last_success``: ops.validation_runs.
* ``lakewatch_quarantined_rows_total{reason}``: silver.quarantine by reason.
* ``lakewatch_feedback_total{label}``: verdicts in gold.feedback.
* ``lakewatch_metrics_collect_seconds``, ``lakewatch_metrics_collect_errors``: this collector's own cost and the
  table reads that failed in the last collection (each failure also logged).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import pyarrow.compute as pc
from deltalake import DeltaTable
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lakewatch.readers import LakeReader

_LOG = logging.getLogger(__name__)
_TABLES = ("silver_readings", "silver_quarantine", "gold_anomaly_scores", "gold_anomalies", "ops_pipeline_runs",
           "ops_validation_runs", "gold_feedback", "ops_alerts")


def _rel(reader: LakeReader, key: str) -> str:
    return ".".join(f'"{part}"' for part in reader.tables[key].split("."))


class LakehouseCollector(Collector):
    """A collector reading the lakehouse through `reader`; `now` is injectable for tests."""

    def __init__(self, reader: LakeReader, cache_seconds: float = 5.0,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._reader = reader
        self._cache_seconds = cache_seconds
        self._now = now
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def describe(self) -> Iterable[Metric]:
        """Nothing up front: registering must not read the tables (prometheus_client calls collect otherwise)."""
        return []

    def collect(self) -> Iterable[Metric]:
        """The metric families, read again when the cached ones are older than the cache period."""
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] >= self._cache_seconds:
                self._cached = (time.monotonic(), self._read())
            return list(self._cached[1])

    # --------------------------------------------------------------------------------------------- reading
    def _read(self) -> list[Metric]:
        started = time.perf_counter()
        out: list[Metric] = []
        errors = 0
        exists = GaugeMetricFamily("lakewatch_table_exists", "1 when the lakehouse table exists, else 0 (see "
                                   "/health for the job that creates it)", labels=["table"])
        present = {}
        for key in _TABLES:
            present[key] = self._reader.exists(key)
            exists.add_metric([self._reader.tables[key]], 1.0 if present[key] else 0.0)
        out.append(exists)
        parts = (("gold_anomalies", self._anomalies), ("ops_alerts", self._alerts),
                 ("gold_anomaly_scores", self._stream), ("ops_pipeline_runs", self._pipeline_runs),
                 ("ops_validation_runs", self._validation), ("silver_quarantine", self._quarantine),
                 ("gold_feedback", self._feedback))
        for key, part in parts:
            if not present[key]:
                continue
            try:
                out.extend(part())
            except Exception:  # one unreadable table must not take the other metrics down
                errors += 1
                _LOG.exception("metrics: reading %s failed", key)
        out.append(GaugeMetricFamily("lakewatch_metrics_collect_errors", "Table reads that failed in the last "
                                     "metrics collection (see the API's log)", value=errors))
        out.append(GaugeMetricFamily("lakewatch_metrics_collect_seconds", "Seconds the last metrics collection "
                                     "took", value=time.perf_counter() - started))
        return out

    def _one(self, query: str) -> tuple:
        table = self._reader.sql(query)
        return tuple(table.column(i)[0].as_py() for i in range(table.num_columns))

    def _anomalies(self) -> list[Metric]:
        total, open_now = self._one(f"SELECT count(*), count(*) FILTER (WHERE is_open) "
                                    f"FROM {_rel(self._reader, 'gold_anomalies')}")
        return [CounterMetricFamily("lakewatch_anomalies_opened", "Anomaly events opened (rows of gold.anomalies)",
                                    value=total),
                GaugeMetricFamily("lakewatch_anomalies_open", "Anomaly events still open", value=open_now or 0)]

    def _alerts(self) -> list[Metric]:
        outbox = DeltaTable(self._reader.location("ops_alerts"))
        rows = outbox.to_pyarrow_dataset().to_table(columns=["channel", "status"])
        counts = rows.group_by(["channel", "status"]).aggregate([([], "count_all")]).to_pylist()
        families = {"sent": CounterMetricFamily("lakewatch_alerts_sent", "Alerts delivered, by notification "
                                                "channel (ops.alerts status sent)", labels=["channel"]),
                    "failed": CounterMetricFamily("lakewatch_alerts_failed", "Alerts given up on after their "
                                                  "retries, by channel (ops.alerts status failed)", labels=["channel"]),
                    "pending": GaugeMetricFamily("lakewatch_alerts_pending", "Alerts waiting in the outbox, by "
                                                 "channel (ops.alerts status pending)", labels=["channel"])}
        channels = sorted({row["channel"] or "" for row in counts})
        by_key = {(row["channel"] or "", row["status"]): row["count_all"] for row in counts}
        for status, family in families.items():
            for channel in channels:
                family.add_metric([channel], by_key.get((channel, status), 0))
        return list(families.values())

    def _stream(self) -> list[Metric]:
        scored_ts, scored_at = self._one(f"SELECT max(timestamp), max(scored_at) "
                                         f"FROM {_rel(self._reader, 'gold_anomaly_scores')}")
        out: list[Metric] = []
        if scored_at is not None:
            out.append(GaugeMetricFamily("lakewatch_stream_seconds_since_last_batch", "Seconds since the stream's "
                                         "newest micro-batch (max scored_at of gold.anomaly_scores)",
                                         value=(self._now() - scored_at).total_seconds()))
        if scored_ts is not None and self._reader.exists("silver_readings"):
            (newest,) = self._one(f"SELECT max(timestamp) FROM {_rel(self._reader, 'silver_readings')}")
            if newest is not None:
                out.append(GaugeMetricFamily("lakewatch_stream_lag_seconds", "Newest silver.readings timestamp minus "
                                             "the newest scored timestamp (event time the stream is behind)",
                                             value=max(0.0, (newest - scored_ts).total_seconds())))
        return out

    def _pipeline_runs(self) -> list[Metric]:
        rows = self._reader.sql(
            "SELECT job, status, started_at, ended_at FROM (SELECT *, row_number() OVER (PARTITION BY job "
            f"ORDER BY started_at DESC) AS n FROM {_rel(self._reader, 'ops_pipeline_runs')}) WHERE n = 1 "
            "ORDER BY job").to_pylist()
        duration = GaugeMetricFamily("lakewatch_pipeline_last_run_duration_seconds", "Duration of each job's newest "
                                     "run in ops.pipeline_runs (until now while it has not ended)", labels=["job"])
        success = GaugeMetricFamily("lakewatch_pipeline_last_run_success", "1 when each job's newest run succeeded, "
                                    "else 0", labels=["job"])
        status = GaugeMetricFamily("lakewatch_pipeline_last_run_status", "Status of each job's newest run (the "
                                   "sample with value 1)", labels=["job", "status"])
        ended = GaugeMetricFamily("lakewatch_pipeline_last_run_end_timestamp_seconds", "Unix time each job's newest "
                                  "run ended", labels=["job"])
        for row in rows:
            end = row["ended_at"] or self._now()
            duration.add_metric([row["job"]], (end - row["started_at"]).total_seconds())
            success.add_metric([row["job"]], 1.0 if row["status"] == "succeeded" else 0.0)
            status.add_metric([row["job"], row["status"]], 1.0)
            if row["ended_at"] is not None:
                ended.add_metric([row["job"]], row["ended_at"].timestamp())
        return [duration, success, status, ended]

    def _validation(self) -> list[Metric]:
        rel = _rel(self._reader, "ops_validation_runs")
        failed, expectations = self._one(f"SELECT count(*) FILTER (WHERE NOT success), "
                                         f"coalesce(sum(expectations_failed), 0) FROM {rel}")
        out: list[Metric] = [
            CounterMetricFamily("lakewatch_validation_runs_failed", "Validation runs that failed their expectation "
                                "suite (ops.validation_runs)", value=failed),
            CounterMetricFamily("lakewatch_validation_expectations_failed", "Failed expectations summed over every "
                                "validation run", value=expectations)]
        last = self._reader.sql(f"SELECT success FROM {rel} ORDER BY validated_at DESC LIMIT 1").to_pylist()
        if last:
            out.append(GaugeMetricFamily("lakewatch_validation_last_success", "1 when the newest validation run "
                                         "passed, else 0", value=1.0 if last[0]["success"] else 0.0))
        return out

    def _quarantine(self) -> list[Metric]:
        rows = self._reader.sql(f"SELECT reason, count(*) AS n FROM {_rel(self._reader, 'silver_quarantine')} "
                                "GROUP BY reason ORDER BY reason").to_pylist()
        family = CounterMetricFamily("lakewatch_quarantined_rows", "Rows sent to silver.quarantine, by reason",
                                     labels=["reason"])
        for row in rows:
            family.add_metric([row["reason"]], row["n"])
        return [family]

    def _feedback(self) -> list[Metric]:
        table = self._reader.table("gold_feedback", columns=["label"])
        family = CounterMetricFamily("lakewatch_feedback", "Verdicts on anomaly events in gold.feedback, by label",
                                     labels=["label"])
        counts = pc.value_counts(table.column("label")).to_pylist() if table.num_rows else []
        for item in sorted(counts, key=lambda c: c["values"]):
            family.add_metric([item["values"]], item["counts"])
        return [family]

"""A small lakehouse with known anomalies for the dashboard tests, written with deltalake in the real table schemas
(lakewatch.schemas), so no JVM is started to build it.

Three series over three days of 5-minute readings (2026-03-01 .. 2026-03-03): ``machine_temp`` and ``cpu_util``
(channel ``value``) and ``pump`` (channels ``pressure`` and ``flow``). Four anomaly events, one of them open; the
spike of machine_temp at 2026-03-02 12:00 is explained mostly by input ``value[t]``. Drift measured every 12 hours
over 24-hour windows (five windows ending 2026-03-02 00:00 .. 2026-03-04 00:00): machine_temp / value and pump's joint
distribution (channel ``*``, MMD) drifted in the last three, with a retrain request each (machine_temp's decided,
pump's open); cpu_util never; pump / flow had too few rows in the first window. gold.feedback does not exist.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
from deltalake import write_deltalake
from pyspark.sql.pandas.types import to_arrow_schema

from lakewatch.config import LakewatchConfig
from lakewatch.schemas import (
    GOLD_ANOMALIES,
    GOLD_ANOMALY_SCORES,
    GOLD_DRIFT_METRICS,
    GOLD_LABELS,
    GOLD_NAB_SCORES,
    OPS_PIPELINE_RUNS,
    OPS_RETRAIN_REQUESTS,
    OPS_VALIDATION_RUNS,
    SILVER_QUARANTINE,
    SILVER_READINGS,
)

START = datetime(2026, 3, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)
POINTS = 3 * 24 * 12
CHANNELS = {"machine_temp": ["value"], "cpu_util": ["value"], "pump": ["pressure", "flow"]}
THRESHOLD = 0.5
DETECTOR, MODEL_VERSION = "lakewatch_nab", "registry:3"


@dataclass(frozen=True)
class KnownEvent:
    """An anomaly event written to gold.anomalies (and its flagged points to gold.anomaly_scores)."""

    series_id: str
    channel: str
    start: datetime
    points: int
    is_open: bool
    top_inputs: tuple[tuple[str, float], ...]
    spike: float  # value added to the readings of the event

    @property
    def end(self) -> datetime:
        return self.start + STEP * (self.points - 1)


SPIKE = KnownEvent("machine_temp", "value", datetime(2026, 3, 2, 12, 0, tzinfo=UTC), 3, False,
                   (("value[t]", 2.5), ("value[t-1]", -0.4), ("value[t-2]", 0.1)), 60.0)
EVENTS = (
    KnownEvent("cpu_util", "value", datetime(2026, 3, 1, 6, 0, tzinfo=UTC), 5, False,
               (("value[t-1]", 1.2), ("value[t]", 0.3)), 30.0),
    SPIKE,
    KnownEvent("machine_temp", "value", datetime(2026, 3, 3, 3, 0, tzinfo=UTC), 2, False,
               (("value[t-3]", 0.9), ("value[t]", 0.2)), -15.0),
    KnownEvent("pump", "pressure", START + STEP * (POINTS - 4), 4, True,
               (("pressure[t]", 1.7), ("flow[t]", 0.6)), 8.0),
)
LABEL = ("machine_temp", datetime(2026, 3, 2, 11, 30, tzinfo=UTC), datetime(2026, 3, 2, 12, 30, tzinfo=UTC))
QUARANTINE_REASONS = {"bad_value": 3, "bad_timestamp": 2, "out_of_order": 1}
DRIFT_WINDOWS = tuple(START + timedelta(hours=12 * k) for k in range(2, 7))  # window ends
DRIFTED = {("machine_temp", "value"), ("pump", "*")}  # drifted in the last three windows
DRIFT_REQUESTS = {("machine_temp", "value"): ("done", "kept_champion"), ("pump", "*"): ("open", None)}
NAB_OURS = {"standard": 74.96, "reward_low_FP_rate": 66.2, "reward_low_FN_rate": 80.15}


def _schema(struct) -> pa.Schema:
    return to_arrow_schema(struct)


def _write(config: LakewatchConfig, key: str, struct, columns: dict) -> None:
    schema = _schema(struct)
    write_deltalake(config.lakehouse.table(getattr(config.tables, key)), pa.table(columns, schema=schema),
                    mode="overwrite")


def scores_columns(series_channels: dict[str, list[str]], start: datetime, points: int, events=EVENTS,
                   seed: int = 0) -> dict:
    """gold.anomaly_scores columns for every series' channels: a daily sine with noise, score low except the
    points of `events` (flagged, with the event's attributions at its first point)."""
    rng = np.random.default_rng(seed)
    stamps = [start + STEP * i for i in range(points)]
    cols: dict[str, list] = {name: [] for name in GOLD_ANOMALY_SCORES.fieldNames()}
    by_point = {}
    for event in events:
        first = int((event.start - start) / STEP)
        for i in range(event.points):
            by_point[(event.series_id, event.channel, first + i)] = (event, i)
    for s, (series_id, channels) in enumerate(series_channels.items()):
        for c, channel in enumerate(channels):
            base = 20 + 5 * s + 3 * c + 2 * np.sin(np.arange(points) * 2 * np.pi / 288) + rng.normal(0, 0.2, points)
            score = np.clip(rng.normal(0.15, 0.05, points), 0, 0.45)
            for i in range(points):
                value, flagged, attributions = float(base[i]), False, None
                hit = by_point.get((series_id, channel, i))
                if hit is not None:
                    event, k = hit
                    value += event.spike
                    score[i] = 0.9 - 0.1 * k
                    flagged = True
                    if k == 0:
                        attributions = [{"input": n, "shap": v} for n, v in event.top_inputs]
                cols["series_id"].append(series_id)
                cols["channel"].append(channel)
                cols["timestamp"].append(stamps[i])
                cols["value"].append(value)
                cols["raw_score"].append(float(score[i]))
                cols["score"].append(float(score[i]))
                cols["flag"].append(flagged)
                cols["attributions"].append(attributions)
                cols["base_value"].append(0.1 if attributions else None)
                cols["detector"].append(DETECTOR)
                cols["model_version"].append(MODEL_VERSION)
                cols["scored_at"].append(stamps[i] + timedelta(seconds=30))
                cols["batch_id"].append(i // 12)
    return cols


def write_known_lakehouse(config: LakewatchConfig, now: datetime | None = None) -> None:
    """Write every table the dashboard reads with the known rows of this module."""
    now = now or START + STEP * POINTS
    _write(config, "gold_anomaly_scores", GOLD_ANOMALY_SCORES, scores_columns(CHANNELS, START, POINTS))
    _write(config, "gold_anomalies", GOLD_ANOMALIES, {
        "series_id": [e.series_id for e in EVENTS], "channel": [e.channel for e in EVENTS],
        "start": [e.start for e in EVENTS], "end": [e.end for e in EVENTS], "peak_at": [e.start for e in EVENTS],
        "peak_score": [0.9] * len(EVENTS), "points": [e.points for e in EVENTS], "threshold": [THRESHOLD] * len(EVENTS),
        "is_open": [e.is_open for e in EVENTS],
        "top_inputs": [[{"input": n, "shap": v} for n, v in e.top_inputs] for e in EVENTS],
        "base_value": [0.1] * len(EVENTS), "detector": [DETECTOR] * len(EVENTS),
        "model_version": [MODEL_VERSION] * len(EVENTS), "batch_id": list(range(len(EVENTS))),
        "updated_at": [e.end + timedelta(seconds=30) for e in EVENTS]})
    readings = [(sid, ch, START + STEP * i, 20.0) for sid, chs in CHANNELS.items() for ch in chs for i in range(POINTS)]
    _write(config, "silver_readings", SILVER_READINGS, {
        "series_id": [r[0] for r in readings], "channel": [r[1] for r in readings],
        "timestamp": [r[2] for r in readings], "value": [r[3] for r in readings],
        "source": ["synthetic"] * len(readings), "ingest_id": ["ingest-1"] * len(readings)})
    _write(config, "gold_labels", GOLD_LABELS, {"series_id": [LABEL[0]], "window_start": [LABEL[1]],
                                                "window_end": [LABEL[2]], "kind": ["anomaly"],
                                                "source_name": ["known"]})
    reasons = [r for r, n in QUARANTINE_REASONS.items() for _ in range(n)]
    _write(config, "silver_quarantine", SILVER_QUARANTINE, {
        "series_id": ["pump"] * len(reasons), "channel": ["flow"] * len(reasons), "ts_raw": ["x"] * len(reasons),
        "value_raw": ["y"] * len(reasons), "raw_record": [None] * len(reasons), "reason": reasons,
        "stage": ["refine"] * len(reasons), "source": ["synthetic"] * len(reasons),
        "source_version": ["1"] * len(reasons), "record_order": list(range(len(reasons))),
        "ingest_id": ["ingest-1"] * len(reasons),
        "quarantined_at": [START + timedelta(hours=1 + 24 * (i % 2)) for i in range(len(reasons))]})
    _write(config, "ops_pipeline_runs", OPS_PIPELINE_RUNS, {
        "run_id": ["run-1", "run-2"], "job": ["pipeline", "validate"], "args": ["[]", "[]"],
        "started_at": [START, START + timedelta(hours=2)], "ended_at": [START + timedelta(minutes=3),
                                                                      START + timedelta(hours=2, minutes=1)],
        "rows_in": [len(readings) + len(reasons), len(readings)], "rows_out": [len(readings), len(readings)],
        "status": ["succeeded", "succeeded"], "error": [None, None],
        "details": [json.dumps({"refine": {"ingest_id": "ingest-1", "bronze_rows": len(readings) + len(reasons),
                                           "silver_rows": len(readings), "quarantined": len(reasons),
                                           "duplicates": 0}}), "{}"],
        "git_commit": ["abc", "abc"], "config_hash": ["h", "h"]})
    _write(config, "ops_validation_runs", OPS_VALIDATION_RUNS, {
        "run_id": ["run-2"], "suite": ["silver_readings"], "table_name": ["silver.readings"], "success": [False],
        "expectations_evaluated": [7], "expectations_failed": [1],
        "failures": ['[{"expectation": "expect_column_values_to_not_be_null", "column": "value"}]'],
        "data_docs": [None], "validated_at": [START + timedelta(hours=2, minutes=1)]})
    _write(config, "gold_drift_metrics", GOLD_DRIFT_METRICS, drift_columns())
    _write(config, "ops_retrain_requests", OPS_RETRAIN_REQUESTS, retrain_columns())
    _write(config, "gold_nab_scores", GOLD_NAB_SCORES, {
        "detector": ["lakewatch_nab"] * 3, "profile": list(NAB_OURS), "category": ["ALL"] * 3,
        "threshold": [0.5] * 3, "score": list(NAB_OURS.values()), "raw_score": [1.0] * 3, "tp": [1] * 3,
        "fp": [0] * 3, "fn": [0] * 3, "tn": [1] * 3, "run_id": ["run-3"] * 3, "evaluated_at": [now] * 3})


def drift_columns() -> dict:
    """gold.drift_metrics columns: every series' channels (and pump's joint '*') over DRIFT_WINDOWS; the DRIFTED ones
    above every threshold of conf/base.yaml in the last three windows, the others below."""
    cols: dict[str, list] = {name: [] for name in GOLD_DRIFT_METRICS.fieldNames()}
    channels = [(sid, ch) for sid, chs in CHANNELS.items() for ch in chs] + [("pump", "*")]
    for c, (series_id, channel) in enumerate(channels):
        for k, end in enumerate(DRIFT_WINDOWS):
            drifted = (series_id, channel) in DRIFTED and k >= 2
            too_few = (series_id, channel) == ("pump", "flow") and k == 0
            joint = channel == "*"  # a multichannel entity's joint row has the MMD only (lakewatch.drift.measure)
            size = 0.3 + 0.1 * k if drifted else 0.02 + 0.01 * k + 0.005 * c
            values = {"ks_statistic": size, "ks_p_value": 0.001, "psi": 2 * size, "wasserstein": 3 * size,
                      "score_shift": size / 2, "flag_rate_reference": 0.01, "flag_rate_window": 0.01 + size / 3,
                      "flag_rate_shift": size / 3, "mmd": None, "mmd_p_value": None}
            if joint:
                values = {**{key: None for key in values}, "mmd": size / 5, "mmd_p_value": 0.005 if drifted else 0.6}
            if too_few:
                values = {key: None for key in values}
            row = {"series_id": series_id, "channel": channel, "reference_start": end - timedelta(days=31),
                   "reference_end": end - timedelta(days=1), "window_start": end - timedelta(days=1),
                   "window_end": end, "rows_reference": 8640, "rows_window": 10 if too_few else 288,
                   "status": "too_few_rows" if too_few else "compared", **values, "drifted": drifted,
                   "reason": (f"ks {size:.2f} >= 0.2" if not joint else f"mmd {size / 5:.3f} >= 0.02") if drifted
                   else ("too few rows: reference 8640, window 10" if too_few else ""),
                   "run_id": f"drift-{k}", "computed_at": end + timedelta(minutes=5)}
            for name, value in row.items():
                cols[name].append(value)
    return cols


def retrain_columns() -> dict:
    """ops.retrain_requests columns: one request per DRIFT_REQUESTS entry at the last drift window."""
    end = DRIFT_WINDOWS[-1]
    rows = [{"request_id": f"req-{i}", "series_id": sid, "channel": ch, "window_end": end,
             "requested_at": end + timedelta(minutes=5), "reason": "drifted 3 windows in a row", "windows": 3,
             "status": status, "run_id": "drift-4", "decision": decision,
             "decided_at": end + timedelta(hours=1) if decision else None,
             "details": '{"candidate": 0.61, "champion": 0.74}' if decision else None}
            for i, ((sid, ch), (status, decision)) in enumerate(DRIFT_REQUESTS.items())]
    return {name: [r[name] for r in rows] for name in OPS_RETRAIN_REQUESTS.fieldNames()}

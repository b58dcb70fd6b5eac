"""One retrain run: for every open retrain request (or the series asked for), train a candidate on the series'
recent readings, judge it and the champion on the same held-back window, move the champion alias only when the
candidate is better, and record the decision with both figures in MLflow and ops.retrain_requests.

A request that fails (too few readings, training fails, the champion cannot be loaded, the store refuses) is marked
failed with the reason; the champion alias is the very last thing a request changes, so a failure leaves it in
place, and the run goes on with the other requests. Tables are read and written here, at the edges.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from delta.tables import DeltaTable
from mlflow.tracking import MlflowClient
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakewatch import schemas, tables, tracking
from lakewatch.config import LakewatchConfig
from lakewatch.errors import LakewatchError, NoSuchSeries
from lakewatch.progress import Progress
from lakewatch.retrain.candidates import ENTITY_CHANNEL, Candidate, Champion, current_champion, train_candidate
from lakewatch.retrain.evaluate import Figure, criterion_for, figure, is_better, labelled
from lakewatch.retrain.nab import PROFILE, NabCheck, nab_check
from lakewatch.retrain.settings import RetrainSettings
from lakewatch.tracking.pyfunc import INPUT_COLUMNS, score_frame

JOB = "retrain"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OPEN, DONE, FAILED = "open", "done", "failed"
PROMOTED, KEPT = "promoted", "kept_champion"
DEFAULT_THRESHOLD = 0.5


class RetrainError(LakewatchError):
    """A retrain request cannot be carried out (the message says why); the request is marked failed."""


@dataclass(frozen=True)
class Request:
    """An ops.retrain_requests row to act on."""

    request_id: str
    series_id: str
    channel: str


@dataclass(frozen=True)
class Bounds:
    """The training period [train_start, holdout_start) and the held-back window [holdout_start, end]."""

    train_start: datetime
    holdout_start: datetime
    end: datetime

    def to_json(self) -> dict[str, str]:
        """The bounds as ISO 8601 UTC strings."""
        return {k: v.isoformat().replace("+00:00", "Z") for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Decision:
    """What became of one request: status done|failed, decision promoted|kept_champion|failed, and details."""

    request: Request
    status: str
    decision: str
    details: dict[str, Any]

    def line(self) -> str:
        """One line for the job's report."""
        d, r = self.details, self.request
        if self.status == FAILED:
            return f"    {r.series_id} {r.channel}: failed: {d['error']}"
        champion = "" if d.get("champion_version") is None else f", champion v{d['champion_version']}"
        return (f"    {r.series_id} {r.channel}: {self.decision} (candidate v{d['candidate_version']}{champion}): "
                f"{d['reason']}")


@dataclass
class RetrainReport:
    """What a retrain run did."""

    requests: int = 0
    decisions: list[Decision] = field(default_factory=list)

    def count(self, decision: str) -> int:
        """Requests that ended with `decision`."""
        return sum(d.decision == decision for d in self.decisions)

    def lines(self) -> list[str]:
        """The report: counts, then a line per request."""
        return [f"  requests             {self.requests}",
                f"  promoted             {self.count(PROMOTED)}",
                f"  champion kept        {self.count(KEPT)}",
                f"  failed               {self.count(FAILED)}", *[d.line() for d in self.decisions]]


def from_micros(micros: int) -> datetime:
    """Epoch microseconds as an aware UTC datetime."""
    return EPOCH + timedelta(microseconds=int(micros))


# ------------------------------------------------------------------------------------------------ requests
def open_requests(spark: SparkSession, table: str, series: Sequence[str] = ()) -> list[Request]:
    """The open requests of `table` (only those of `series` when given), oldest first."""
    rows = spark.table(table).where(F.col("status") == OPEN)
    if series:
        rows = rows.where(F.col("series_id").isin(list(series)))
    return [Request(r.request_id, r.series_id, r.channel) for r in
            rows.orderBy("requested_at", "series_id", "channel").select("request_id", "series_id", "channel")
            .collect()]


def request_series(spark: SparkSession, config: LakewatchConfig, series: Sequence[str], run_id: str) -> None:
    """Open a request for each channel of each of `series` that has no open one (asked for by hand: reason
    'asked for with --series', windows 0). NoSuchSeries for a series without readings in silver.readings."""
    names = config.tables
    readings = spark.table(names.silver_readings)
    channels = (readings.where(F.col("series_id").isin(list(series))).groupBy("series_id", "channel")
                .agg(F.max("timestamp").alias("window_end")))
    found = {r.series_id for r in channels.select("series_id").distinct().collect()}
    for missing in [s for s in series if s not in found]:
        raise NoSuchSeries(missing, names.silver_readings, explanation="retrain --series needs its readings")
    now = datetime.now(UTC)
    key = F.concat_ws("|", F.lit("manual"), "series_id", "channel", F.lit(run_id))
    rows = channels.select(
        F.substring(F.sha2(key, 256), 1, 16).alias("request_id"), "series_id", "channel", "window_end",
        F.lit(now).alias("requested_at"), F.lit("asked for with --series").alias("reason"),
        F.lit(0).alias("windows"), F.lit(OPEN).alias("status"), F.lit(run_id).alias("run_id"),
        F.lit(None).cast("string").alias("decision"), F.lit(None).cast("timestamp").alias("decided_at"),
        F.lit(None).cast("string").alias("details"))
    target = DeltaTable.forName(spark, names.ops_retrain_requests)
    fresh = rows.join(target.toDF().where(F.col("status") == OPEN).select("series_id", "channel"),
                      ["series_id", "channel"], "left_anti")
    (target.alias("t").merge(tables.conform(fresh, schemas.OPS_RETRAIN_REQUESTS).alias("s"),
                             "t.request_id = s.request_id").whenNotMatchedInsertAll().execute())


def record_decision(spark: SparkSession, table: str, decision: Decision, decided_at: datetime) -> None:
    """Set the request's status, decision, decided_at and details (JSON) in ops.retrain_requests."""
    source = spark.createDataFrame(
        [(decision.request.request_id, decision.status, decision.decision, decided_at,
          json.dumps(decision.details, sort_keys=True, default=str))],
        "request_id string, status string, decision string, decided_at timestamp, details string")
    (DeltaTable.forName(spark, table).alias("t").merge(source.alias("s"), "t.request_id = s.request_id")
     .whenMatchedUpdate(set={c: f"s.{c}" for c in ("status", "decision", "decided_at", "details")}).execute())


# ------------------------------------------------------------------------------------------------ data
def _series_rows(spark: SparkSession, config: LakewatchConfig, request: Request) -> DataFrame:
    rows = spark.table(config.tables.silver_readings).where(F.col("series_id") == request.series_id)
    return rows if request.channel == ENTITY_CHANNEL else rows.where(F.col("channel") == request.channel)


def bounds_for(rows: DataFrame, settings: RetrainSettings, request: Request) -> Bounds:
    """The periods of a request: the held-back window is the last ``retrain.holdout`` up to the series' newest
    reading, the training period the ``retrain.train_period`` before it. RetrainError without readings."""
    newest = rows.agg(F.max(F.unix_micros("timestamp")).alias("us")).first()["us"]
    if newest is None:
        raise RetrainError(f"series {request.series_id!r} channel {request.channel!r} has no readings in silver")
    end = from_micros(newest)
    holdout_start = end - timedelta(seconds=settings.holdout_seconds)
    return Bounds(holdout_start - timedelta(seconds=settings.train_seconds), holdout_start, end)


def readings_frame(rows: DataFrame, bounds: Bounds) -> pd.DataFrame:
    """The rows of the training period and the held-back window as model input (series_id, channel, timestamp as
    naive UTC, value), in time order; few rows (one series), so they reach the driver."""
    frame = (rows.where((F.col("timestamp") >= F.lit(bounds.train_start)) & (F.col("timestamp") <= F.lit(bounds.end)))
             .select("series_id", "channel", F.unix_micros("timestamp").alias("ts_us"),
                     F.col("value").cast("double").alias("value"))
             .orderBy("ts_us", "channel").toPandas())
    frame["timestamp"] = pd.to_datetime(frame.pop("ts_us"), unit="us")
    return frame[list(INPUT_COLUMNS)]


def label_windows(spark: SparkSession, config: LakewatchConfig, series_id: str, bounds: Bounds) -> list[tuple]:
    """The gold.labels windows (start, end) of `series_id` overlapping the held-back window ([] without the
    table)."""
    name = config.tables.gold_labels
    if not spark.catalog.tableExists(name):
        return []
    rows = (spark.table(name).where((F.col("series_id") == series_id)
                                    & (F.col("window_end") >= F.lit(bounds.holdout_start))
                                    & (F.col("window_start") <= F.lit(bounds.end)))
            .select(F.unix_micros("window_start").alias("a"), F.unix_micros("window_end").alias("b")).collect())
    return [(from_micros(r.a), from_micros(r.b)) for r in rows]


# ------------------------------------------------------------------------------------------------ judging
def threshold_for(config: LakewatchConfig, settings: RetrainSettings, detector: Any) -> float:
    """The flag threshold of `detector` for the flag-rate criterion: ``retrain.flag_threshold``, else the
    detector's calibrated threshold in conf/detectors.yaml, else 0.5."""
    if settings.flag_threshold is not None:
        return float(settings.flag_threshold)
    name = getattr(detector, "name", "")
    own = config.detectors.threshold(name) if name in config.detectors.entries else None
    return float(own) if own is not None else DEFAULT_THRESHOLD


def judge(detector: Any, readings: pd.DataFrame, holdout: np.ndarray, truth: np.ndarray, criterion: str,
          threshold: float, settings: RetrainSettings) -> Figure:
    """Score the training period and held-back window in one pass (online models warm up on the first) and take
    the figure of the held-back points."""
    scores = score_frame(detector, readings)["anomaly_score"].to_numpy()
    return figure(criterion, scores[holdout], truth, threshold, settings.expected_flag_rate)


def retrain_one(spark: SparkSession, config: LakewatchConfig, settings: RetrainSettings, request: Request,
                run_id: str, progress: Progress) -> Decision:
    """Carry out one request (see the module docstring); never raises for the request's own failures."""
    began = time.perf_counter()
    base: dict[str, Any] = {"model": settings.model, "retrain_run": run_id}
    try:
        rows = _series_rows(spark, config, request)
        bounds = bounds_for(rows, settings, request)
        base["bounds"] = bounds.to_json()
        readings = readings_frame(rows, bounds)
        stamps = readings["timestamp"].to_numpy(dtype="datetime64[us]")
        holdout = stamps >= np.datetime64(bounds.holdout_start.replace(tzinfo=None), "us")
        for part, n in (("held-back window", int(holdout.sum())), ("training period", int((~holdout).sum()))):
            if n < settings.min_rows:
                raise RetrainError(f"the {part} of {request.series_id}/{request.channel} has {n} readings; expected "
                                   f"at least retrain.min_rows={settings.min_rows}")
        truth = labelled(stamps[holdout], label_windows(spark, config, request.series_id, bounds))
        criterion = criterion_for(truth)
        with progress.stage(f"train a candidate for {request.series_id}/{request.channel} ({settings.model})"):
            candidate = train_candidate(spark, config, settings, _series_rows(spark, config, request).where(
                (F.col("timestamp") >= F.lit(bounds.train_start)) & (F.col("timestamp") < F.lit(bounds.holdout_start))),
                request.channel, f"{run_id}-{request.request_id[:8]}", progress)
        champion = current_champion(config)
        return _decide(config, settings, request, candidate, champion, readings, holdout, truth, criterion,
                       base, began, progress)
    except Exception as exc:  # the request fails, the run goes on; the champion alias has not moved
        error = f"{type(exc).__name__}: {exc}".strip()[:2000]
        if not getattr(exc, "in_retrain_run", False):  # else that run is there already, tagged failed
            _log_failure(config, request, {**base, "error": error})
        return Decision(request, FAILED, FAILED, {**base, "error": error,
                                                  "seconds": round(time.perf_counter() - began, 2)})


def _decide(config: LakewatchConfig, settings: RetrainSettings, request: Request, candidate: Candidate,
            champion: Champion | None, readings: pd.DataFrame, holdout: np.ndarray, truth: np.ndarray,
            criterion: str, details: dict[str, Any], began: float, progress: Progress) -> Decision:
    """Judge both on the held-back window (and on NAB with ``retrain.nab``), log the MLflow retrain run, register
    the candidate, and move the alias last when the candidate is better (and not worse on NAB)."""
    mlflow_settings = tracking.configure(config)
    thresholds = {"candidate": threshold_for(config, settings, candidate.detector)}
    ours = judge(candidate.detector, readings, holdout, truth, criterion, thresholds["candidate"], settings)
    theirs = None
    if champion is not None:
        thresholds["champion"] = threshold_for(config, settings, champion.detector)
        theirs = judge(champion.detector, readings, holdout, truth, criterion, thresholds["champion"], settings)
    wins = is_better(ours, theirs, settings.min_improvement)
    nab = None
    if settings.nab:
        with progress.stage(f"score candidate and champion on NAB for {request.series_id}/{request.channel}"):
            nab = nab_check(settings, candidate.detector, champion.detector if champion else None)
    promote = wins and not (nab is not None and nab.blocks)
    decision = PROMOTED if promote else KEPT
    reason = _reason(ours, theirs, wins, settings.min_improvement, nab)
    client = MlflowClient()
    with tracking.start_run(config, JOB, run_name=f"retrain-{request.series_id}-{request.channel}") as run:
        try:
            mlflow.set_tags({"lakewatch.retrain_request": request.request_id, "lakewatch.series_id": request.series_id,
                             "lakewatch.channel": request.channel, "lakewatch.decision": FAILED,  # until decided
                             **({"lakewatch.candidate_run": candidate.train_run_id} if candidate.train_run_id else {})})
            model_uri = candidate.model_uri or tracking.log_detector(candidate.detector, readings.head(64))
            mlflow.log_params({"request_id": request.request_id, "series_id": request.series_id,
                               "channel": request.channel, "model": settings.model, "criterion": criterion,
                               "min_improvement": settings.min_improvement, "holdout_points": int(holdout.sum()),
                               "labelled_points": int(truth.sum()), "candidate_model_uri": model_uri,
                               "champion_version": champion.version if champion else "none",
                               **{f"{k}_threshold": v for k, v in thresholds.items()},
                               "nab": settings.nab, **(_nab_params(settings) if settings.nab else {}),
                               **{f"bounds.{k}": v for k, v in details["bounds"].items()}})
            mlflow.log_metrics({f"candidate_{criterion}": ours.value, "promoted": float(promote),
                                **({f"champion_{criterion}": theirs.value} if theirs else {}),
                                **(nab.metrics() if nab else {})})
            mlflow.set_tag("lakewatch.reason", reason[:4000])
            nab_tag = {f"retrain_nab_{PROFILE}": repr(nab.candidate[PROFILE])} if nab and not nab.skipped else {}
            version = mlflow.register_model(model_uri, mlflow_settings.registered_model,
                                            tags={"lakewatch.run_id": run.info.run_id,
                                                  "lakewatch.retrain_request": request.request_id,
                                                  f"retrain_{criterion}": repr(ours.value), **nab_tag})
            mlflow.set_tag("lakewatch.candidate_version", version.version)
            if promote:  # the last change: everything before it may fail and leave the champion where it was
                client.set_registered_model_alias(mlflow_settings.registered_model, mlflow_settings.champion_alias,
                                                  int(version.version))
            mlflow.set_tag("lakewatch.decision", decision)
        except Exception as exc:
            mlflow.set_tags({"lakewatch.decision": FAILED, "lakewatch.error": f"{type(exc).__name__}: {exc}"[:4000]})
            exc.in_retrain_run = True  # type: ignore[attr-defined]
            raise
    return Decision(request, DONE, decision, {
        **details, "criterion": criterion, "candidate": ours.value, "champion": theirs.value if theirs else None,
        "candidate_version": int(version.version), "champion_version": champion.version if champion else None,
        "held_back_points": ours.points, "labelled_points": ours.positives, "mlflow_run_id": run.info.run_id,
        "candidate_model_uri": model_uri, "reason": reason, **({"nab": nab.to_json()} if nab else {}),
        "seconds": round(time.perf_counter() - began, 2)})


def _nab_params(settings: RetrainSettings) -> dict[str, Any]:
    return {"nab_tolerance": settings.nab_tolerance, "nab_corpus": str(settings.nab_corpus_path),
            "nab_files": ",".join(settings.nab_files) or "all"}


def _reason(ours: Figure, theirs: Figure | None, wins: bool, min_improvement: float, nab: NabCheck | None) -> str:
    """Why the candidate was promoted or the champion kept: the held-back comparison, then the NAB check's."""
    if theirs is None:
        window = f"no champion (candidate {ours.criterion} {ours.value:.4f})"
    else:
        relation = "beats" if wins else "does not beat"
        margin = f" by more than {min_improvement:g}" if min_improvement else ""
        window = (f"held-back {ours.criterion} {ours.value:.4f} {relation} champion {theirs.value:.4f}{margin}")
    if nab is None:
        return window
    if nab.blocks and wins:  # the NAB figure alone kept the champion: it comes first
        return f"{nab.reason()}; {window}"
    return f"{window}; {nab.reason()}"


def _log_failure(config: LakewatchConfig, request: Request, details: dict[str, Any]) -> None:
    """A retrain run recording the failure (best effort: the store itself may be what failed)."""
    try:
        with tracking.start_run(config, JOB, run_name=f"retrain-{request.series_id}-{request.channel}"):
            mlflow.set_tags({"lakewatch.retrain_request": request.request_id, "lakewatch.decision": FAILED,
                             "lakewatch.error": details["error"][:4000]})
    except Exception:  # the request row records the failure either way; the store may be what failed
        pass


def run_retrain(spark: SparkSession, config: LakewatchConfig, settings: RetrainSettings, run_id: str,
                progress: Progress, series: Sequence[str] = ()) -> RetrainReport:
    """Carry out the open requests (of `series` when given, opening one for a series that has none), each
    recorded in ops.retrain_requests as soon as it is decided."""
    names = config.tables
    tables.ensure_tables(spark, config, ("ops_retrain_requests",))
    if series:
        request_series(spark, config, series, run_id)
    report = RetrainReport()
    todo = open_requests(spark, names.ops_retrain_requests, series)
    report.requests = len(todo)
    for request in todo:
        decision = retrain_one(spark, config, settings, request, run_id, progress)
        record_decision(spark, names.ops_retrain_requests, decision, datetime.now(UTC))
        report.decisions.append(decision)
        progress.say(decision.line().strip())
    return report

"""Retraining on a tiny lakehouse with a real MLflow store: a series whose level shifted (drift) has labelled spikes
in its held-back last day. A candidate worse than the champion there is registered but not promoted; a better one
is promoted; a request that cannot be carried out is marked failed while the others go on, and the champion stays.

The fastest models: configured online detectors (ewma catches the labelled spikes, knn much less so on this
series), logged as pyfunc models like train and tune log theirs; the deep path is checked up to its failure."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import mlflow
import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from pyspark.sql import functions as F

from lakewatch import tables, tracking
from lakewatch.config import validated
from lakewatch.detectors import get_detector
from lakewatch.progress import Progress
from lakewatch.retrain.evaluate import (
    AVERAGE_PRECISION,
    FLAG_RATE_ERROR,
    Figure,
    criterion_for,
    figure,
    is_better,
    labelled,
)
from lakewatch.retrain.run import run_retrain
from lakewatch.retrain.settings import RetrainSettings, retrain_settings
from lakewatch.schemas import OPS_RETRAIN_REQUESTS
from tests.conftest import make_config
from tests.drift.lakes import START, STEP, write_labels, write_readings

N = 4 * 144  # four days every 10 minutes
SPIKES = (N - 120, N - 70, N - 20)  # in the held-back last day
END = START + STEP * (N - 1)
RETRAIN = ("retrain.holdout=1d", "retrain.train_period=2d", "retrain.min_rows=30")


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    """'level' (normal(10, 1), +4 from day 2.5 on, three +6 spikes labelled in its last day) and 'short' (20
    readings: too few for a held-back window of 30)."""
    rng = np.random.default_rng(11)
    level = rng.normal(10.0, 1.0, N)
    level[int(2.5 * 144):] += 4.0
    for i in SPIKES:
        level[i] += 6.0
    config = make_config(tmp_path_factory.mktemp("retrain") / "lake", *RETRAIN)
    write_readings(spark, config, {"level": level, "short": rng.normal(0.0, 1.0, 20)})
    write_labels(spark, config, [("level", START + STEP * i - timedelta(minutes=1),
                                  START + STEP * i + timedelta(minutes=1)) for i in SPIKES])
    tables.ensure_tables(spark, config, ("ops_retrain_requests",))
    return config


def _open(spark, config, *requests: tuple[str, str]) -> None:
    """Open requests (request_id, series_id) as a drift run writes them."""
    rows = [(request_id, series_id, "value", END, END, "drifted 2 windows in a row", 2, "open", "drift-1", None,
             None, None) for request_id, series_id in requests]
    tables.append(spark.createDataFrame(rows, OPS_RETRAIN_REQUESTS), config.tables.ops_retrain_requests)


def _make_champion(spark, config, detector: str) -> int:
    """Log `detector` as a model, register it and give it the champion alias (as train or tune would)."""
    example = (spark.table(config.tables.silver_readings).where("series_id = 'level'")
               .select("series_id", "channel", "timestamp", "value").orderBy("timestamp").limit(40).toPandas())
    settings = tracking.configure(config)
    with tracking.start_run(config, "test", run_name=f"champion-{detector}"):
        uri = tracking.log_detector(get_detector(detector, catalog=config.detectors), example)
    version = int(mlflow.register_model(uri, settings.registered_model).version)
    MlflowClient().set_registered_model_alias(settings.registered_model, settings.champion_alias, version)
    return version


def _champion_version(config) -> int:
    settings = tracking.configure(config)
    return int(MlflowClient().get_model_version_by_alias(settings.registered_model, settings.champion_alias).version)


def _has_champion(config) -> bool:
    try:
        _champion_version(config)
    except MlflowException:
        return False
    return True


def _request(spark, config, request_id: str):
    row = spark.table(config.tables.ops_retrain_requests).where(F.col("request_id") == request_id).first()
    return row, json.loads(row.details)


def _settings(config, **changes):
    """The config's retrain section with `changes`, validated as the job validates it."""
    return validated(RetrainSettings, {**retrain_settings(config).__dict__, **changes}, "retrain")


def test_a_worse_candidate_is_kept_out_and_a_better_one_promoted(spark, lake) -> None:
    progress = Progress("test-retrain", heartbeat_s=3600)
    strong = _make_champion(spark, lake, "ewma")
    _open(spark, lake, ("req-worse", "level"))
    worse = run_retrain(spark, lake, _settings(lake, model="knn"), "retrain-1", progress)
    [decision] = worse.decisions
    row, details = _request(spark, lake, "req-worse")
    assert (decision.decision, row.status, row.decision) == ("kept_champion", "done", "kept_champion")
    assert row.decided_at is not None and _champion_version(lake) == strong
    assert details["criterion"] == AVERAGE_PRECISION and details["labelled_points"] == 3
    assert details["champion"] == pytest.approx(1.0) and details["candidate"] < 0.5
    assert (details["champion_version"], details["candidate_version"]) == (strong, strong + 1)
    run = MlflowClient().get_run(details["mlflow_run_id"])
    assert run.data.tags["lakewatch.decision"] == "kept_champion" and run.data.tags["lakewatch.job"] == "retrain"
    assert run.data.metrics["candidate_average_precision"] == pytest.approx(details["candidate"])
    assert run.data.metrics["champion_average_precision"] == pytest.approx(details["champion"])
    assert run.data.metrics["promoted"] == 0.0

    weak = details["candidate_version"]  # the knn version kept out above becomes the champion
    settings = tracking.configure(lake)
    MlflowClient().set_registered_model_alias(settings.registered_model, settings.champion_alias, weak)
    _open(spark, lake, ("req-better", "level"), ("req-short", "short"))
    better = run_retrain(spark, lake, _settings(lake, model="ewma"), "retrain-2", progress)
    assert sorted((d.request.request_id, d.decision) for d in better.decisions) == [
        ("req-better", "promoted"), ("req-short", "failed")]
    row, details = _request(spark, lake, "req-better")
    assert (row.status, details["champion_version"]) == ("done", weak)
    assert details["candidate"] == pytest.approx(1.0) and details["champion"] < 0.5
    assert _champion_version(lake) == details["candidate_version"] > weak
    assert MlflowClient().get_run(details["mlflow_run_id"]).data.metrics["promoted"] == 1.0
    row, details = _request(spark, lake, "req-short")
    assert (row.status, row.decision) == ("failed", "failed")
    assert details["error"] == ("RetrainError: the held-back window of short/value has 20 readings; expected at "
                                "least retrain.min_rows=30")
    assert spark.table(lake.tables.ops_retrain_requests).where("status = 'open'").count() == 0


def test_a_failed_deep_retrain_leaves_the_champion_and_says_why(spark, lake) -> None:
    champion = _champion_version(lake) if _has_champion(lake) else _make_champion(spark, lake, "ewma")
    _open(spark, lake, ("req-deep", "level"))
    settings = _settings(lake, model="deep", training={"window": 5000})
    report = run_retrain(spark, lake, settings, "retrain-3", Progress("test-retrain", heartbeat_s=3600), ["level"])
    [decision] = report.decisions
    row, details = _request(spark, lake, "req-deep")
    assert (decision.decision, row.status) == ("failed", "failed") and _champion_version(lake) == champion
    assert details["error"].startswith("TrainingDataError: training window 5000 is longer than every series")


def test_the_criterion_is_average_precision_with_labels_else_the_flag_rate_error() -> None:
    stamps = np.array(["2026-03-01T00:00", "2026-03-01T00:10", "2026-03-01T00:20", "2026-03-01T00:30"],
                      dtype="datetime64[us]")
    truth = labelled(stamps, [(datetime(2026, 3, 1, 0, 9), datetime(2026, 3, 1, 0, 10))])
    assert truth.tolist() == [False, True, False, False] and criterion_for(truth) == AVERAGE_PRECISION
    assert criterion_for(np.zeros(4, dtype=bool)) == FLAG_RATE_ERROR
    assert figure(AVERAGE_PRECISION, np.array([0.1, 0.9, 0.2, 0.3]), truth, 0.5, 0.01).value == pytest.approx(1.0)
    assert figure(AVERAGE_PRECISION, np.array([0.1, 0.2, 0.9, 0.3]), truth, 0.5, 0.01).value == pytest.approx(1 / 3)
    flags = figure(FLAG_RATE_ERROR, np.array([0.1, 0.9, 0.6, np.nan]), truth, 0.5, 0.25)
    assert (flags.flagged, flags.value) == (2, pytest.approx(0.25))
    assert is_better(Figure(AVERAGE_PRECISION, 0.8, 4), Figure(AVERAGE_PRECISION, 0.7, 4), 0.0)
    assert not is_better(Figure(AVERAGE_PRECISION, 0.8, 4), Figure(AVERAGE_PRECISION, 0.8, 4), 0.0)
    assert not is_better(Figure(AVERAGE_PRECISION, 0.8, 4), Figure(AVERAGE_PRECISION, 0.7, 4), 0.15)
    assert is_better(Figure(FLAG_RATE_ERROR, 0.01, 4), Figure(FLAG_RATE_ERROR, 0.2, 4), 0.0)
    assert not is_better(Figure(FLAG_RATE_ERROR, 0.2, 4), Figure(FLAG_RATE_ERROR, 0.01, 4), 0.0)
    assert is_better(Figure(FLAG_RATE_ERROR, 0.2, 4), None, 0.0)

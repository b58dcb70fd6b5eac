"""Retraining on a tiny lakehouse with a real MLflow store: a series whose level shifted (drift) has labelled spikes
in its held-back last day. A candidate worse than the champion there is registered but not promoted; a better one
is promoted; a request that cannot be carried out is marked failed while the others go on, and the champion stays.

The fastest models: configured online detectors (ewma catches the labelled spikes, knn much less so on this
series), logged as pyfunc models like train and tune log theirs; the deep path is checked up to its failure. The
NAB check (retrain.nab) runs on one corpus file each time: ewma beats knn on the window, and on one NAB file it
loses to it, on another it wins."""

from __future__ import annotations

import functools
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
from lakewatch.evaluation.corpus import PROFILES, NabCorpus, NabSeries
from lakewatch.evaluation.in_process import run_on_nab, score_nab_run
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
from lakewatch.retrain.nab import NabCheck, nab_check
from lakewatch.retrain.run import run_retrain
from lakewatch.retrain.settings import RetrainSettings, retrain_settings
from lakewatch.schemas import OPS_RETRAIN_REQUESTS
from tests.conftest import make_config, nab_dir
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


# ------------------------------------------------------------------------------------------------ the NAB check
NAB_EWMA_LOSES = "artificialWithAnomaly/art_daily_jumpsup.csv"  # ewma ~38, knn ~95 (standard)
NAB_EWMA_WINS = "realKnownCause/rogue_agent_key_hold.csv"  # ewma ~65, knn ~14


@functools.cache
def _nab_series() -> tuple[NabCorpus, tuple[NabSeries, ...]]:
    corpus = NabCorpus.at(nab_dir())
    return corpus, tuple(corpus.series())


def _nab_standard(detector: str, key: str) -> float:
    """The standard score of a configured detector on one corpus file, run directly with the evaluation package."""
    corpus, every = _nab_series()
    series = [s for s in every if s.key == key]
    return score_nab_run(corpus, run_on_nab(corpus, get_detector(detector), series))["standard"]


def _nab_settings(config, key: str, **changes):
    return _settings(config, model="ewma", nab=True, nab_corpus=str(nab_dir()), nab_files=[key], **changes)


def test_a_candidate_better_on_the_window_but_worse_on_nab_is_kept_out(spark, lake) -> None:
    champion = _make_champion(spark, lake, "knn")  # weak on the held-back window, strong on this NAB file
    _open(spark, lake, ("req-nab-worse", "level"))
    report = run_retrain(spark, lake, _nab_settings(lake, NAB_EWMA_LOSES), "retrain-nab-1",
                         Progress("test-retrain", heartbeat_s=3600))
    row, details = _request(spark, lake, "req-nab-worse")
    assert [d.decision for d in report.decisions] == ["kept_champion"] and row.decision == "kept_champion"
    assert _champion_version(lake) == champion
    assert details["candidate"] == pytest.approx(1.0) and details["champion"] < 0.5  # the window alone would promote
    nab = details["nab"]
    assert (nab["candidate"], nab["champion"]) == (pytest.approx(_nab_standard("ewma", NAB_EWMA_LOSES)),
                                                   pytest.approx(_nab_standard("knn", NAB_EWMA_LOSES)))
    assert details["reason"].startswith(f"NAB standard {nab['candidate']:.1f} < champion {nab['champion']:.1f}; ")
    assert "kept_champion" in report.decisions[0].line() and "NAB standard" in report.decisions[0].line()


def test_both_nab_figures_land_in_mlflow_and_the_request_details(spark, lake) -> None:
    champion = _make_champion(spark, lake, "knn")
    _open(spark, lake, ("req-nab-better", "level"))
    run_retrain(spark, lake, _nab_settings(lake, NAB_EWMA_WINS, nab_tolerance=0.5), "retrain-nab-2",
                Progress("test-retrain", heartbeat_s=3600))
    row, details = _request(spark, lake, "req-nab-better")
    nab = details["nab"]
    assert (row.decision, details["champion_version"]) == ("promoted", champion)
    assert _champion_version(lake) == details["candidate_version"]
    assert (nab["files"], nab["tolerance"], nab["profile"]) == (1, 0.5, "standard")
    assert nab["candidate"] == pytest.approx(_nab_standard("ewma", NAB_EWMA_WINS))
    assert nab["candidate"] > nab["champion"] == pytest.approx(_nab_standard("knn", NAB_EWMA_WINS))
    assert set(nab["profiles"]["candidate"]) == set(nab["profiles"]["champion"]) == set(PROFILES)
    run = MlflowClient().get_run(details["mlflow_run_id"])
    for side in ("candidate", "champion"):
        for profile, value in nab["profiles"][side].items():
            assert run.data.metrics[f"{side}_nab_{profile}"] == pytest.approx(value)
    assert (run.data.params["nab"], run.data.params["nab_files"]) == ("True", NAB_EWMA_WINS)
    assert "nab_standard" not in run.data.metrics and not nab["whole_corpus"]  # one file: not train's figure
    assert run.data.tags["lakewatch.reason"] == details["reason"]
    assert details["reason"].endswith(f"NAB standard {nab['candidate']:.1f} >= champion {nab['champion']:.1f} "
                                      "- tolerance 0.5")


def test_the_nab_check_blocks_only_beyond_the_tolerance_and_skips_multivariate_models() -> None:
    check = NabCheck({"standard": 61.24}, {"standard": 74.91}, tolerance=0.0)
    assert check.blocks and check.reason() == "NAB standard 61.2 < champion 74.9"
    assert not NabCheck({"standard": 61.24}, {"standard": 74.91}, tolerance=14.0).blocks
    assert not NabCheck({"standard": 61.24}, None).blocks
    assert NabCheck({"standard": 61.24}, None, whole_corpus=True).metrics() == {
        "candidate_nab_standard": 61.24, "nab_standard": 61.24}  # what train/tune's promotion compares
    settings = RetrainSettings(nab=True, nab_corpus="/nonexistent")  # skipped before the corpus is read
    skipped = nab_check(settings, get_detector("ewma"), get_detector("pca_t2q", {"channels": 3}))
    assert not skipped.blocks and skipped.to_json() == {
        "skipped": "the champion is multivariate (3 channels); NAB is univariate"}

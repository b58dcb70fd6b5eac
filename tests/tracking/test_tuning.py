"""Tuning: the search space parser, the Tuner interface, a 2-trial SparkTrials run on a NAB mini-corpus recorded
in MLflow (parent run, child run per trial, registered champion), and clear errors for bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from lakewatch import tracking
from lakewatch.detectors import UnknownDetectorError
from lakewatch.errors import ConfigError
from lakewatch.evaluation import NabCorpus, NabCorpusError
from lakewatch.progress import Progress
from lakewatch.tuning import (
    HyperoptTuner,
    NabObjective,
    ObjectiveResult,
    TuningError,
    TuningSettings,
    parse_space,
    tuning_settings,
)
from lakewatch.tuning.run import format_trials, run_tuning
from tests.conftest import make_config

SPACE = {"window": {"choice": [400, 800]}, "step": {"choice": [20, 50]}}


def _load_tune_job():
    from lakewatch.jobs import tune

    return tune


def test_search_spaces_are_parsed_and_bad_ones_named() -> None:
    space = parse_space({"a": {"uniform": [0, 1]}, "b": {"quniform": [0, 100, 10]}, "c": {"int": [1, 3]},
                         "d": {"choice": ["max", "mean"]}, "e": {"loguniform": [1e-4, 1e-2]}})
    assert [(s.name, s.kind, s.integer) for s in space] == [
        ("a", "uniform", False), ("b", "quniform", True), ("c", "int", True), ("d", "choice", False),
        ("e", "loguniform", False)]
    assert space[1].cast(30.0) == 30 and isinstance(space[1].cast(30.0), int)
    for bad, message in [({"x": {"normal": [0, 1]}}, "kind 'normal' is not one of"),
                         ({"x": {"uniform": [1, 0]}}, "low 1 must be below high 0"),
                         ({"x": {"loguniform": [0, 1]}}, "must be positive"),
                         ({"x": {"quniform": [0, 1]}}, "takes 3 arguments"),
                         ({"x": [0, 1]}, "expected one mapping entry"),
                         ({}, "non-empty mapping")]:
        with pytest.raises(TuningError, match=message):
            parse_space(bad, "tuning.spaces.d")


def test_the_default_configuration_has_a_valid_space_for_the_default_detector() -> None:
    settings = tuning_settings(make_config(Path("/tmp/unused")))
    assert settings.detector in settings.spaces
    assert [s.name for s in settings.space()]


def _quadratic(params: dict) -> ObjectiveResult:
    return ObjectiveResult((params["x"] - 3) ** 2, {"x": params["x"]})


def _failing(params: dict) -> ObjectiveResult:
    raise ValueError(f"cannot score x={params['x']}")


def test_the_in_process_tuner_minimises_and_records_failures() -> None:
    space = parse_space({"x": {"int": [0, 6]}})
    result = HyperoptTuner(seed=1).search(_quadratic, space, max_evals=25, parallelism=1)
    assert result.best_params == {"x": 3} and result.best_loss == 0.0
    assert len(result.trials) == 25 and all(t.ok for t in result.trials)
    with pytest.raises(TuningError, match=r"all 3 trial\(s\) failed.*cannot score x="):
        HyperoptTuner(seed=1).search(_failing, space, max_evals=3, parallelism=1)


def test_a_two_trial_spark_search_is_logged_and_registered(spark, mini_corpus: Path, tmp_path: Path) -> None:
    config = make_config(tmp_path / "lake")
    settings = TuningSettings(detector="windowed_gaussian", corpus=str(mini_corpus), max_evals=2, parallelism=2,
                              seed=3, example_rows=20, spaces={"windowed_gaussian": SPACE})
    outcome = run_tuning(spark, config, settings, Progress("test-tune"))
    assert len(outcome.result.trials) == 2 and all(t.ok for t in outcome.result.trials)
    objective = NabObjective(str(mini_corpus), "windowed_gaussian")
    for trial in outcome.result.trials:  # a trial's score on an executor equals the same scoring in process
        assert set(trial.params) == {"window", "step"}
        expected = objective.evaluate(trial.params)
        assert {k: trial.metrics[k] for k in expected} == pytest.approx(expected, abs=1e-9)
        assert trial.metrics["corpus_load_seconds"] >= 0.0
    best = outcome.result.best_trial
    assert outcome.result.best_loss == -best.metrics["nab_standard"]
    client = MlflowClient()
    children = client.search_runs([client.get_experiment_by_name("lakewatch").experiment_id],
                                  f"tags.mlflow.parentRunId = '{outcome.run_id}'")
    assert len(children) == 2
    for child in children:
        trial = outcome.result.trials[int(child.data.tags["lakewatch.trial"])]
        assert child.data.params == {k: str(v) for k, v in trial.params.items()}
        assert {k: child.data.metrics[k] for k in trial.metrics} == pytest.approx(trial.metrics)
    parent = client.get_run(outcome.run_id)
    assert parent.data.metrics["nab_standard"] == pytest.approx(best.metrics["nab_standard"])
    assert parent.data.tags["lakewatch.job"] == "tune"
    assert parent.data.metrics["baseline_nab_standard"] == pytest.approx(objective.evaluate({})["nab_standard"])
    assert outcome.baseline == pytest.approx(objective.evaluate({}))
    assert (outcome.version, outcome.champion) == (1, True)
    loaded = tracking.load_model_detector(tracking.champion_uri(config), config)
    assert loaded.fingerprint == objective.build(best.params).fingerprint
    table = format_trials(outcome.result)
    assert len(table.splitlines()) == 3 and "nab_standard" in table


def test_bad_tuning_input_fails_before_any_trial(spark, mini_corpus: Path, tmp_path: Path) -> None:
    config = make_config(tmp_path / "lake")
    progress = Progress("test-tune")
    base = TuningSettings(detector="windowed_gaussian", corpus=str(mini_corpus), max_evals=1,
                          spaces={"windowed_gaussian": SPACE, "nope": SPACE})
    with pytest.raises(TuningError, match="no search space for detector 'knn'"):
        run_tuning(spark, config, base.with_overrides(detector="knn"), progress)
    with pytest.raises(UnknownDetectorError, match="unknown detector 'nope'"):
        run_tuning(spark, config, base.with_overrides(detector="nope"), progress)
    empty = tmp_path / "empty"
    shutil.copytree(mini_corpus, empty)
    NabCorpus(empty).windows_file.write_text(json.dumps({}))
    with pytest.raises(NabCorpusError, match="lists no data file"):
        run_tuning(spark, config, base.with_overrides(corpus=str(empty)), progress)
    with pytest.raises(NabCorpusError, match="is not a directory"):
        run_tuning(spark, config, base.with_overrides(corpus=str(tmp_path / "absent")), progress)
    bad_store = make_config(tmp_path / "lake2", "mlflow.tracking_uri=sqlite:///relative.db")
    with pytest.raises(tracking.TrackingError, match="four slashes"):
        run_tuning(spark, bad_store, base, progress)
    with pytest.raises(ConfigError, match=r"tuning\.max_evals=0: expected greater than 0"):
        base.with_overrides(max_evals=0)
    assert not config.lakehouse.mlflow.exists()  # every check ran before MLflow was touched


def test_the_job_rejects_bad_arguments_naming_them(mini_corpus: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    job = _load_tune_job()
    for argv, message in [(["--detector", "nope"], "--detector 'nope' is not a detector"),
                          (["--corpus", str(tmp_path)], "no data there"),
                          (["--max-evals", "0"], "--max-evals 0"),
                          (["--model-kind", "deep", "--detector", "knn"], "--detector applies to")]:
        with pytest.raises(SystemExit) as exit_info:
            job.parse_args([*argv, "--table-root", str(tmp_path / "lake")])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
    _, _, settings = job.parse_args(["--detector", "windowed_gaussian", "--corpus", str(mini_corpus),
                                        "--max-evals", "3", "--table-root", str(tmp_path / "lake")])
    assert (settings.detector, settings.max_evals, settings.corpus) == ("windowed_gaussian", 3, str(mini_corpus))

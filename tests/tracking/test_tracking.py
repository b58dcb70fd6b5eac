"""MLflow tracking and registry on a real SQLite store: run tags, the pyfunc model, alias promotion rules, loading
by alias, Spark scoring with a registered model, and clear errors for a bad store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from pyspark.testing import assertDataFrameEqual

from lakewatch import tracking
from lakewatch.config import LakewatchConfig
from lakewatch.detectors import get_detector
from lakewatch.provenance import git_commit
from lakewatch.scoring import SCORED_SCHEMA
from tests.conftest import make_config
from tests.tracking.conftest import expected_scores, make_readings

EXAMPLE = make_readings({"ex-a": 30, "ex-b": 20})


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LakewatchConfig:
    """One lakehouse (and so one MLflow store) shared by this module's tests, which build on each other."""
    return make_config(tmp_path_factory.mktemp("tracking") / "lake")


def _logged(config: LakewatchConfig, detector, score: float | None = None) -> tuple[str, str]:
    with tracking.start_run(config, "test") as run:
        uri = tracking.log_detector(detector, EXAMPLE)
        if score is not None:
            mlflow.log_metric(tracking.NAB_METRIC, score)
    return run.info.run_id, uri


def test_configure_uses_a_sqlite_store_and_artifacts_under_the_table_root(store: LakewatchConfig) -> None:
    settings = tracking.configure(store)
    lakehouse = store.lakehouse
    assert settings.tracking_uri == f"sqlite:///{lakehouse.mlflow_db}"
    assert settings.tracking_uri.startswith("sqlite:////")
    assert mlflow.get_tracking_uri() == mlflow.get_registry_uri() == settings.tracking_uri
    experiment = MlflowClient().get_experiment_by_name("lakewatch")
    assert experiment.artifact_location == lakehouse.mlflow_artifacts.as_uri()


def test_a_file_uri_table_root_keeps_the_store_in_its_local_folder(tmp_path: Path, store: LakewatchConfig) -> None:
    lake = tmp_path / "lake"
    config = make_config(f"file://{lake}")  # a URI, not a Path: Path would fold "file:///" into "file:/"
    settings = tracking.configure(config)
    assert settings.tracking_uri == f"sqlite:///{lake / '_mlflow' / 'mlflow.db'}"
    assert (lake / "_mlflow" / "mlflow.db").is_file()
    experiment = MlflowClient().get_experiment_by_name("lakewatch")
    assert experiment.artifact_location == (lake / "_mlflow" / "artifacts").as_uri()
    assert not any(Path(p).name.startswith("file:") for p in (Path.cwd(), *Path.cwd().iterdir()))
    tracking.configure(store)  # leave MLflow pointed at the module's store


def test_importing_tracking_sets_no_environment_variable_and_configure_quiets_mlflow() -> None:
    names = sorted(tracking.store.QUIET_ENVIRONMENT)
    env = {k: v for k, v in os.environ.items() if k not in names}
    lib = str(Path(tracking.__file__).parents[2])  # this checkout's lakewatch, whatever the venv has installed
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [lib, env.get("PYTHONPATH")]))
    show = f"print([os.environ.get(n) for n in {names!r}])"
    script = f"import os; import lakewatch.tracking as t; {show}; t.quiet_mlflow(); {show}"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    quiet = [tracking.store.QUIET_ENVIRONMENT[n] for n in names]
    assert out.stdout.splitlines()[:2] == [str([None] * len(names)), str(quiet)]


def test_runs_carry_provenance_and_the_model_has_a_signature(store: LakewatchConfig) -> None:
    run_id, uri = _logged(store, get_detector("windowed_gaussian", {"window": 400, "step": 20}))
    tags = MlflowClient().get_run(run_id).data.tags
    assert tags["lakewatch.git_commit"] == git_commit()
    assert tags["lakewatch.config_hash"] == store.config_hash
    assert tags["lakewatch.job"] == "test"
    model = mlflow.pyfunc.load_model(uri)
    assert model.metadata.signature.inputs.input_names() == ["series_id", "channel", "timestamp", "value"]
    assert model.metadata.signature.outputs.input_names() == ["anomaly_score"]
    artifacts = Path(tracking.resolve_model_location(uri).removeprefix("file://"))
    assert str(artifacts).startswith(str(store.lakehouse.mlflow_artifacts))


def test_pyfunc_predict_scores_each_series_in_time_order_aligned_with_the_input(store: LakewatchConfig) -> None:
    detector = get_detector("windowed_gaussian", {"window": 400, "step": 20})
    _, uri = _logged(store, detector)
    readings = make_readings({"a": 300, "b": 250}, seed=5)
    predicted = mlflow.pyfunc.load_model(uri).predict(readings)
    got = readings.assign(anomaly_score=predicted["anomaly_score"].to_numpy())
    want = expected_scores(detector, readings)
    got = got.sort_values(["series_id", "channel", "timestamp"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    with pytest.raises(Exception, match="channel"):
        mlflow.pyfunc.load_model(uri).predict(readings.drop(columns=["channel"]))


def test_first_version_is_champion_then_only_strictly_better_ones(store: LakewatchConfig) -> None:
    client = MlflowClient()
    detector = get_detector("windowed_gaussian")
    run_a, uri_a = _logged(store, detector)
    assert tracking.promote_if_better(store, run_a, uri_a, 50.0) == (1, True)
    assert client.get_run(run_a).data.metrics["nab_standard"] == 50.0
    run_b, uri_b = _logged(store, detector)
    assert tracking.promote_if_better(store, run_b, uri_b, 40.0) == (2, False)
    assert int(client.get_model_version_by_alias("lakewatch-detector", "champion").version) == 1
    run_c, uri_c = _logged(store, detector)
    assert tracking.promote_if_better(store, run_c, uri_c, 60.5) == (3, True)
    assert int(client.get_model_version_by_alias("lakewatch-detector", "champion").version) == 3
    run_d, uri_d = _logged(store, detector)
    assert tracking.promote_if_better(store, run_d, uri_d, 60.5) == (4, False)  # a tie does not move it
    assert int(client.get_model_version_by_alias("lakewatch-detector", "champion").version) == 3
    versions = {int(v.version): v.run_id for v in client.search_model_versions("name='lakewatch-detector'")}
    assert versions == {1: run_a, 2: run_b, 3: run_c, 4: run_d}


def test_the_champion_loads_as_the_detector_that_was_logged(store: LakewatchConfig) -> None:
    detector = get_detector("lakewatch_nab", {"suppress_rows": 80})
    run_id, uri = _logged(store, detector)
    version, promoted = tracking.promote_if_better(store, run_id, uri, 99.0)
    assert promoted
    loaded = tracking.load_model_detector(tracking.champion_uri(store), store)
    assert loaded.fingerprint == detector.fingerprint
    rng = np.random.default_rng(0)
    values = np.cumsum(rng.normal(size=3000))
    stamps = np.arange(3000, dtype=np.int64) * 60 * 10**9
    np.testing.assert_array_equal(loaded.score_series(values, stamps), detector.score_series(values, stamps))
    assert tracking.load_model_detector(f"models:/lakewatch-detector/{version}").fingerprint == detector.fingerprint


def test_spark_scoring_with_the_champion_equals_in_process_scoring(spark, store: LakewatchConfig) -> None:
    detector = tracking.load_model_detector(tracking.champion_uri(store), store)
    readings = make_readings({"s1": 400, "s2": 333, "s3": 120}, seed=9)
    scored = tracking.score_with_model(spark.createDataFrame(readings), tracking.champion_uri(store), store)
    expected = spark.createDataFrame(expected_scores(detector, readings), SCORED_SCHEMA)
    assertDataFrameEqual(scored, expected, rtol=1e-12, atol=1e-12)


def test_unknown_models_and_bad_stores_fail_with_clear_errors(tmp_path: Path, store: LakewatchConfig) -> None:
    tracking.configure(store)
    with pytest.raises(tracking.TrackingError, match="no-such-model"):
        tracking.load_model_detector("models:/no-such-model@champion")
    with pytest.raises(tracking.TrackingError, match="no-such-model"):
        tracking.resolve_model_location("models:/no-such-model/1")
    with pytest.raises(tracking.TrackingError, match="four slashes"):
        tracking.configure(make_config(tmp_path / "a", "mlflow.tracking_uri=sqlite:///relative/mlflow.db"))
    with pytest.raises(tracking.TrackingError, match="scheme 'bogus'"):
        tracking.configure(make_config(tmp_path / "b", "mlflow.tracking_uri=bogus://somewhere"))
    with pytest.raises(tracking.TrackingError, match="cannot"):
        tracking.configure(make_config(tmp_path / "c", "mlflow.tracking_uri=sqlite:////proc/no/mlflow.db"))
    with pytest.raises(tracking.TrackingError, match="active MLflow run"):
        tracking.log_detector(get_detector("windowed_gaussian"), EXAMPLE)
    tracking.configure(store)  # leave MLflow pointed at a working store


def _two_channel_readings() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    frames = []
    for series, n in (("pump-1", 260), ("pump-2", 180)):
        stamps = pd.date_range("2026-02-01", periods=n, freq="1min")
        base = rng.normal(size=(n, 2)).cumsum(axis=0)
        base[n // 2] += 15
        for i, channel in enumerate(("current", "pressure")):
            frames.append(pd.DataFrame({"series_id": series, "channel": channel, "timestamp": stamps,
                                        "value": base[:, i]}))
    return pd.concat(frames).sample(frac=1.0, random_state=2).reset_index(drop=True)


def _wide_expected(detector, readings: pd.DataFrame) -> pd.DataFrame:
    out = []
    for _, part in readings.groupby("series_id", sort=True):
        wide = part.pivot(index="timestamp", columns="channel", values="value").sort_index()
        nanos = wide.index.to_numpy(dtype="datetime64[ns]").view("int64")
        per_time = dict(zip(wide.index, detector.score_series(wide[["current", "pressure"]].to_numpy(), nanos),
                            strict=True))
        out.append(part.assign(anomaly_score=part["timestamp"].map(per_time)))
    return pd.concat(out).sort_values(["series_id", "timestamp", "channel"]).reset_index(drop=True)


def test_a_multivariate_detector_scores_each_series_over_its_channels(spark, store: LakewatchConfig) -> None:
    detector = get_detector("mahalanobis", {"channels": 2, "warmup_rows": 20})
    readings = _two_channel_readings()
    with tracking.start_run(store, "test"):
        uri = tracking.log_detector(detector, readings.head(40))
    want = _wide_expected(detector, readings)
    predicted = readings.assign(anomaly_score=mlflow.pyfunc.load_model(uri).predict(readings)["anomaly_score"])
    got = predicted.sort_values(["series_id", "timestamp", "channel"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    scored = tracking.score_with_model(spark.createDataFrame(readings), uri)
    assertDataFrameEqual(scored, spark.createDataFrame(want, SCORED_SCHEMA), rtol=1e-12, atol=1e-12)

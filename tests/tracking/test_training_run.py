"""train_and_register, the one training run of the train job and of deep tuning: on a ``file:`` table root, a
trained autoencoder is saved under the root, scored on a NAB mini-corpus, logged with its params, metrics and
artifacts, registered and made champion."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from lakewatch import tracking
from lakewatch.errors import ConfigError
from lakewatch.progress import Progress
from lakewatch.training import TrainingSettings
from lakewatch.training.run import train_and_register
from tests.conftest import make_config
from tests.tracking.conftest import write_features

TRAINING = ("training.window=16", "training.latent=4", "training.hidden=8", "training.epochs=2",
            "training.batch_size=64", "training.num_processes=2", "training.files_per_process=1",
            "training.use_gpu=false")


def test_a_run_is_saved_scored_logged_and_promoted(spark, mini_corpus: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    config = make_config(f"file://{lake}", *TRAINING)  # a URI root: every working folder must still be local
    write_features(spark, config)
    settings = config.settings("training", TrainingSettings)
    record = train_and_register(spark, config, settings, Progress("test-train-run", heartbeat_s=3600),
                                run_id="run-a", corpus=mini_corpus, tags={"lakewatch.note": "test"})
    assert record.artifacts == lake / "_models" / "run-a" and (record.artifacts / "model.pt").is_file()
    assert not (lake / "_training" / "run-a").exists(), "training files are removed after the run"
    assert set(record.nab) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    assert (record.version, record.promoted) == (1, True)
    assert record.mlflow_details() == {"model_uri": record.model_uri, "mlflow_run_id": record.mlflow_run_id,
                                       "version": 1, "promoted": True}
    assert tracking.configure(config).tracking_uri == f"sqlite:///{lake / '_mlflow' / 'mlflow.db'}"
    client = MlflowClient()
    run = client.get_run(record.mlflow_run_id)
    assert run.data.tags["lakewatch.job"] == "train" and run.data.tags["lakewatch.note"] == "test"
    assert (run.data.params["window"], run.data.params["windows"]) == ("16", str(record.result.windows))
    assert run.data.metrics["nab_standard"] == pytest.approx(record.nab["standard"])
    assert run.data.metrics["final_loss"] == pytest.approx(record.final_loss)
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == [1, 2]
    logged = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"autoencoder", "scaler_calibration.json"} <= logged
    assert {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "autoencoder")} >= {"model.pt"}
    champion = tracking.load_model_detector(tracking.champion_uri(config), config)
    assert champion.fingerprint == record.result.detector.fingerprint


def test_a_nab_corpus_with_a_multivariate_model_fails_before_training(spark, mini_corpus: Path,
                                                                     tmp_path: Path) -> None:
    config = make_config(tmp_path / "lake", *TRAINING, "training.multivariate=true")
    settings = config.settings("training", TrainingSettings)
    with pytest.raises(ConfigError, match=r"NAB corpus .*mini-nab.*multivariate"):
        train_and_register(spark, config, settings, Progress("test-train-run", heartbeat_s=3600),
                           corpus=mini_corpus)
    assert not (tmp_path / "lake" / "_mlflow").exists(), "nothing is logged"

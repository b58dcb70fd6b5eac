"""--model-kind deep: SparkTrials trials train small models in process on a tiny feature table, then the best
configuration is trained with TorchDistributor, scored on a NAB mini-corpus, logged and registered."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from lakewatch import tracking
from lakewatch.progress import Progress
from lakewatch.tuning import TuningError, TuningSettings
from lakewatch.tuning.deep import DeepObjective, run_deep_tuning
from tests.conftest import make_config
from tests.tracking.conftest import write_features

SPACE = {"learning_rate": {"loguniform": [1e-3, 1e-2]}, "hidden": {"choice": [4, 8]}}


def test_deep_tuning_trains_the_best_configuration_and_registers_it(spark, mini_corpus: Path,
                                                                     tmp_path: Path) -> None:
    config = make_config(tmp_path / "lake", "training.window=16", "training.latent=4", "training.hidden=8",
                         "training.epochs=1", "training.batch_size=64", "training.num_processes=2",
                         "training.files_per_process=1", "training.use_gpu=false")
    write_features(spark, config)
    settings = TuningSettings(corpus=str(mini_corpus), max_evals=2, parallelism=2, seed=1, deep_trial_epochs=1,
                              spaces={"deep": SPACE})
    outcome = run_deep_tuning(spark, config, settings, Progress("test-deep-tune", heartbeat_s=3600))
    assert len(outcome.result.trials) == 2 and all(t.ok for t in outcome.result.trials)
    assert outcome.result.best_loss == min(t.metrics["final_loss"] for t in outcome.result.trials)
    client = MlflowClient()
    experiment = client.get_experiment_by_name("lakewatch").experiment_id
    assert len(client.search_runs([experiment], f"tags.mlflow.parentRunId = '{outcome.run_id}'")) == 2
    trained = client.get_run(outcome.training["mlflow_run_id"])
    assert trained.data.tags["lakewatch.tune_run_id"] == outcome.run_id
    assert trained.data.params["hidden"] == str(outcome.result.best_params["hidden"])
    assert set(outcome.training["nab"]) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    assert (outcome.training["version"], outcome.training["promoted"]) == (1, True)
    champion = tracking.load_model_detector(tracking.champion_uri(config), config)
    assert champion.kind == "autoencoder" and champion.spec.hidden == outcome.result.best_params["hidden"]


def test_deep_trials_reject_parameters_they_cannot_tune() -> None:
    with pytest.raises(TuningError, match=r"parameter\(s\) \['window'\] cannot be tuned"):
        DeepObjective(job=None, epochs=1).build_job({"window": 32})
    with pytest.raises(TuningError, match="no search space for 'deep'"):
        TuningSettings(spaces={}).space_for("deep")

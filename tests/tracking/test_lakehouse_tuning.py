"""tune --labels: a detector tuned on a tiny generated machines lakehouse (2 machines, SparkTrials, MLflow), its
best F1 equal to what evaluate reports for the same parameters, and clear errors for bad input."""

from __future__ import annotations

import contextlib
import io

import pytest
from mlflow.tracking import MlflowClient
from pyspark.sql import functions as F

from lakewatch import tables, tracking
from lakewatch.config import load_config
from lakewatch.evaluation.general import EvaluateOptions, EvaluationError
from lakewatch.jobs import evaluate, tune
from lakewatch.pipeline import run_ingest, run_refine
from lakewatch.progress import Progress
from lakewatch.sources import build_source
from lakewatch.tuning import TuningError
from lakewatch.tuning.lakehouse_run import run_lakehouse_tuning
from lakewatch.tuning.settings import tuning_settings

TRAIN = 100  # the generator's healthy start: the detectors learn from it, it is not counted
# 100 + 3 * (60 + 40) = 400 rows per machine, 3 channels, 2 machines
MACHINES = ["machines.seed=5", "machines.count=2", "machines.channels=3", "machines.healthy_rows=100",
            "machines.fault_rows=[40, 60]", "machines.gap_rows=[30, 40]", "machines.partitions=2"]


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    """(--set arguments, config) of two generated machines ingested and refined, their faults in gold.labels."""
    root = tmp_path_factory.mktemp("tune-lake")
    names = load_config("local").tables.all()
    overrides = [f"table_root={root}", *[f"tables.{key}=tl_{name}" for key, name in names.items()], *MACHINES]
    config = load_config("local", overrides)
    progress = Progress("t", stream=io.StringIO())
    ingested = run_ingest(spark, config, build_source(config, "machines"), progress)  # silver and labels: enough
    run_refine(spark, config, ingested.ingest_id, progress)
    return [arg for o in overrides for arg in ("--set", o)], config


def _run(job, argv: list[str]) -> tuple[int, str]:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        status = job.main(argv)
    return status, out.getvalue()


def _override(key: str, value: str) -> str:
    """A search-space parameter as a configuration override: "entry.param" or the tuned detector's own "param"."""
    entry, _, name = key.rpartition(".")
    return f"detectors.{entry or 'lakewatch_machine'}.params.{name}={value}"


def test_tuning_on_the_lakehouse_matches_evaluate_and_registers_the_model(spark, lake):
    sets, config = lake
    status, out = _run(tune, [*sets, "--detector", "lakewatch_machine", "--labels", "gold.labels", "--objective", "f1",
                              "--max-evals", "2", "--parallelism", "2", "--train-rows", str(TRAIN), "--seed", "4"])
    assert status == 0, out
    client = MlflowClient()
    parent = client.search_runs([client.get_experiment_by_name("lakewatch").experiment_id],
                                "tags.`lakewatch.job` = 'tune' and params.objective = 'f1'")[0]
    best = {k.removeprefix("best."): v for k, v in parent.data.params.items() if k.startswith("best.")}
    assert set(best) == {"hold_threshold", "hold_release", "hold_rows", "pca_t2q.variance_kept", "mknn.k"}
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert len(children) == 2
    assert -parent.data.metrics["best_loss"] == max(c.data.metrics["f1"] for c in children)
    assert f"best f1 {parent.data.metrics['f1']:.4f}" in out
    beaten = parent.data.metrics["baseline_f1"] > parent.data.metrics["f1"]
    assert ("better than every trial" in out) == beaten
    # evaluate with the best parameters as configuration overrides reports the same overall F1
    flags = [arg for key, value in best.items() for arg in ("--set", _override(key, value))]
    status, _ = _run(evaluate, [*sets, *flags, "--labels", "gold.labels", "--detector", "lakewatch_machine",
                                "--train-rows", str(TRAIN)])
    assert status == 0
    overall = (spark.table(config.tables.gold_evaluations).where(F.col("entity") == "*")
               .orderBy(F.col("evaluated_at").desc()).first())
    assert overall.f1 == pytest.approx(parent.data.metrics["f1"], abs=1e-9)
    assert (overall.tp, overall.fp, overall.fn) == tuple(int(parent.data.metrics[k]) for k in ("tp", "fp", "fn"))
    # the configured parameters: evaluate without overrides reports the baseline
    _run(evaluate, [*sets, "--labels", "gold.labels", "--detector", "lakewatch_machine", "--train-rows", str(TRAIN)])
    default = (spark.table(config.tables.gold_evaluations).where(F.col("entity") == "*")
               .orderBy(F.col("evaluated_at").desc()).first())
    assert default.f1 == pytest.approx(parent.data.metrics["baseline_f1"], abs=1e-9)
    versions = client.search_model_versions(f"name = '{tracking.resolve_settings(config).registered_model}'")
    mine = [v for v in versions if v.tags.get("lakewatch.run_id") == parent.info.run_id]
    assert len(mine) == 1 and float(mine[0].tags["f1"]) == pytest.approx(parent.data.metrics["f1"])
    detector = tracking.load_model_detector(f"models:/{mine[0].name}/{mine[0].version}", config)
    assert detector.channels == 3


def test_bad_input_is_named_before_any_trial(spark, lake):
    sets, config = lake
    settings = tuning_settings(config).with_overrides(detector="lakewatch_machine", objective="f1", max_evals=1)
    progress = Progress("t", stream=io.StringIO())
    no_labels = load_config("local", [*sets[1::2], "tables.gold_labels=tl_gold.absent_labels"])
    with pytest.raises(EvaluationError, match=r"tl_gold\.absent_labels does not exist"):
        run_lakehouse_tuning(spark, no_labels, settings, EvaluateOptions(detector="lakewatch_machine"), progress)
    empty = load_config("local", [*sets[1::2], "tables.gold_labels=tl_gold.empty_labels"])
    tables.ensure_tables(spark, empty, ("gold_labels",))
    with pytest.raises(EvaluationError, match=r"no labels for the chosen series: tl_gold.empty_labels has no window"):
        run_lakehouse_tuning(spark, empty, settings, EvaluateOptions(detector="lakewatch_machine"), progress)
    univariate = settings.with_overrides(detector="windowed_gaussian")
    with pytest.raises(EvaluationError, match="windowed_gaussian is univariate; entity 'machine-5-000' has 3"):
        run_lakehouse_tuning(spark, config, univariate, EvaluateOptions(detector="windowed_gaussian"), progress)
    stray = settings.with_overrides(spaces={"lakewatch_machine": {"knn.memory": {"int": [10, 20]}}})
    with pytest.raises(TuningError, match=r"names \['knn'\], not lakewatch_machine or an entry inside it"):
        run_lakehouse_tuning(spark, config, stray, EvaluateOptions(detector="lakewatch_machine"), progress)
    misnamed = settings.with_overrides(spaces={"lakewatch_machine": {"mknn.kk": {"int": [1, 3]}}})
    with pytest.raises(TuningError, match="kk"):
        run_lakehouse_tuning(spark, config, misnamed, EvaluateOptions(detector="lakewatch_machine"), progress)


@pytest.mark.parametrize("argv, message", [
    (["--objective", "f1"], "f1 needs --labels"),
    (["--train-rows", "50"], "--train-rows applies with --labels"),
    (["--labels", "silver.x"], "--labels 'silver.x': expected"),
    (["--labels", "gold.labels", "--objective", "auc"], "--objective 'auc': expected f1 or nab"),
    (["--labels", "gold.labels", "--train-rows", "-1"], "--train-rows -1"),
])
def test_bad_arguments_are_usage_errors_naming_the_value(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        tune.parse_args([*argv, "--detector", "lakewatch_machine", "--table-root", str(tmp_path)])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err

"""./spark-submit.sh evaluate on a tiny lakehouse written straight into silver.readings and gold.labels: a 3-channel
machine with a planted correlation break, a univariate tank with a level shift, and a 2-channel entity whose
channels are read a minute apart (never aligned exactly)."""

from __future__ import annotations

import contextlib
import io
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from lakewatch import schemas, tables
from lakewatch.config import load_config
from lakewatch.detectors import get_detector
from lakewatch.evaluation.entities import align
from lakewatch.evaluation.nab_scoring import CostProfile, score_corpus
from lakewatch.jobs import evaluate
from lakewatch.jobs.evaluate import parse_args

N, FAULT = 1600, (1200, 1400)  # rows of every series; the fault rows [start, end)
TRAIN = 1000
START = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)
NAB_THRESHOLD = 0.5034722222222222  # detectors.lakewatch_nab.threshold
MACHINE_THRESHOLD = 0.5  # detectors.lakewatch_machine.threshold


def _data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    t = np.arange(N)
    load = np.zeros(N)
    for i in range(1, N):
        load[i] = 0.95 * load[i - 1] + rng.normal(0, 0.3)
    load += np.sin(2 * np.pi * t / 288)
    machine = np.stack([10 + load, 5 + 2 * load, 20 - load], axis=1) + rng.normal(0, 0.1, (N, 3))
    a, b = FAULT
    machine[a:b, 2] = 20 + load[a:b] + rng.normal(0, 0.1, b - a)  # channel c follows the load the wrong way round
    tank = 50 + 3 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 0.3, N)
    tank[a:a + 100] += 6
    skew = np.stack([load, 2 * load], axis=1)
    return {"machine": machine, "tank": tank, "skew": skew}


def _frame(series: str, channels: list[str], values: np.ndarray, shift: timedelta = timedelta(0)) -> pd.DataFrame:
    values = values.reshape(N, -1)
    return pd.concat([pd.DataFrame({"series_id": series, "channel": name,
                                    "timestamp": [START + STEP * i + shift * k for i in range(N)],
                                    "value": values[:, k]}) for k, name in enumerate(channels)])


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    """(--set arguments, config, data): silver and gold.labels of pump-1 (channels a, b, c), tank-7 (value) and
    skew-2 (x, y a minute apart); label windows: the fault rows of pump-1 and tank-7 (tank-7 in two overlapping
    windows)."""
    root = tmp_path_factory.mktemp("evaluate-lake")
    names = load_config("local").tables.all()
    overrides = [f"table_root={root}", *[f"tables.{key}=ev_{name}" for key, name in names.items()]]
    config = load_config("local", overrides)
    data = _data()
    silver = pd.concat([_frame("pump-1", ["a", "b", "c"], data["machine"]), _frame("tank-7", ["value"], data["tank"]),
                        _frame("skew-2", ["x", "y"], data["skew"], timedelta(minutes=1))])
    silver = silver.assign(source="t", ingest_id="t")
    tables.ensure_tables(spark, config, ("silver_readings", "gold_labels"))
    tables.append(tables.conform(spark.createDataFrame(silver), schemas.SILVER_READINGS), config.tables.silver_readings)
    a, b = FAULT
    labels = [("pump-1", START + STEP * a, START + STEP * (b - 1), "fault", "t"),
              ("tank-7", START + STEP * a, START + STEP * (a + 60), "fault", "t"),
              ("tank-7", START + STEP * (a + 40), START + STEP * (b - 1), "fault", "t")]
    tables.append(spark.createDataFrame(labels, schemas.GOLD_LABELS), config.tables.gold_labels)
    return [arg for o in overrides for arg in ("--set", o)], config, data


def _stamps() -> np.ndarray:
    return np.array([np.datetime64(START.replace(tzinfo=None) + STEP * i, "ns") for i in range(N)])


def _scores(name: str, channels: int, values: np.ndarray) -> np.ndarray:
    """The detector's scores of the series, run in this process."""
    detector = get_detector(name, channels=channels)
    return detector.update(detector.new_state(), values, _stamps().astype(np.int64))[0]


def _nab(scores: np.ndarray, threshold: float, train: int) -> float:
    """NAB's standard score (weights from NAB's profiles.json) of the counted rows, the fault rows as one window."""
    stamps = _stamps()
    frame = pd.DataFrame({"timestamp": stamps[train:], "anomaly_score": scores[train:]})
    window = [(stamps[FAULT[0]], stamps[FAULT[1] - 1])]
    result = score_corpus({"e": frame}, {"e": window}, CostProfile("standard", 1.0, 0.11, 1.0, 1.0), threshold)
    return 100 * (result.raw_score - result.null_score) / (result.perfect_score - result.null_score)


def _expected(name: str, channels: int, values: np.ndarray, threshold: float, train: int) -> dict[str, float]:
    """The point-wise outcome computed here, from the detector run in this process."""
    scores = _scores(name, channels, values)
    flagged = scores[train:] >= threshold
    anomalous = np.zeros(N, dtype=bool)
    anomalous[FAULT[0]:FAULT[1]] = True
    anomalous = anomalous[train:]
    tp, fp = int(np.sum(flagged & anomalous)), int(np.sum(flagged & ~anomalous))
    fn, tn = int(np.sum(~flagged & anomalous)), int(np.sum(~flagged & ~anomalous))
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "rows_scored": N - train, "precision": tp / (tp + fp),
            "recall": tp / (tp + fn), "f1": 2 * tp / (2 * tp + fp + fn), "false_alarm_rate": fp / (fp + tn),
            "missed_alarm_rate": fn / (fn + tp)}


def _results(spark, config, run_id: str | None = None) -> dict[str, dict]:
    frame = spark.table(config.tables.gold_evaluations)
    if run_id is None:
        run_id = frame.orderBy("evaluated_at", ascending=False).first().run_id
    return {row.entity: row.asDict() for row in frame.where(frame.run_id == run_id).collect()}


def _check(row: dict, expected: dict) -> None:
    for key, value in expected.items():
        assert row[key] == pytest.approx(value, abs=1e-12), key


@pytest.fixture(scope="module")
def trained_run(spark, lake):
    """The job run with --metric both --train-rows 1000: its exit status, output and gold.evaluations rows."""
    sets, config, _ = lake
    with contextlib.redirect_stdout(io.StringIO()) as out:
        status = evaluate.main([*sets, "--labels", "gold.labels", "--metric", "both", "--train-rows", str(TRAIN)])
    return status, _results(spark, config), out.getvalue()


def test_entities_are_scored_per_entity_with_metrics_matching_a_hand_computation(lake, trained_run):
    data = lake[2]
    status, rows, out = trained_run
    assert status == 0
    assert set(rows) == {"pump-1", "tank-7", "skew-2", "*"}
    pump, tank = rows["pump-1"], rows["tank-7"]
    assert (pump["detector"], pump["channels"], pump["threshold"]) == ("lakewatch_machine", "a,b,c", MACHINE_THRESHOLD)
    assert (tank["detector"], tank["channels"]) == ("lakewatch_nab", "value")
    machine = _expected("lakewatch_machine", 3, data["machine"], MACHINE_THRESHOLD, TRAIN)
    _check(pump, machine)
    assert pump["f1"] > 0.9  # the multichannel detector sees channel c break away from a and b
    _check(tank, _expected("lakewatch_nab", 1, data["tank"], NAB_THRESHOLD, TRAIN))
    machine_scores = _scores("lakewatch_machine", 3, data["machine"])
    assert pump["nab_standard"] == pytest.approx(_nab(machine_scores, MACHINE_THRESHOLD, TRAIN))
    tank_scores = _scores("lakewatch_nab", 1, data["tank"])
    assert tank["nab_standard"] == pytest.approx(_nab(tank_scores, NAB_THRESHOLD, TRAIN))
    both = [score_corpus({"e": pd.DataFrame({"timestamp": _stamps()[TRAIN:], "anomaly_score": s[TRAIN:]})},
                         {"e": [(_stamps()[FAULT[0]], _stamps()[FAULT[1] - 1])]},
                         CostProfile("standard", 1.0, 0.11, 1.0, 1.0), t)
            for s, t in ((machine_scores, MACHINE_THRESHOLD), (tank_scores, NAB_THRESHOLD))]
    raw, null, perfect = (sum(getattr(r, k) for r in both) for k in ("raw_score", "null_score", "perfect_score"))
    assert rows["*"]["nab_standard"] == pytest.approx(100 * (raw - null) / (perfect - null))
    assert pump["train_rows"] == TRAIN and pump["anomalous"] == FAULT[1] - FAULT[0]
    printed = next(line.split() for line in out.splitlines() if line.startswith("pump-1 "))
    assert printed[:4] == ["pump-1", "3", "lakewatch_machine", "600"] and printed[8] == f"{machine['f1']:.3f}"


def test_an_entity_whose_channels_never_align_is_skipped_with_its_reason(trained_run):
    skew = trained_run[1]["skew-2"]
    assert skew["status"] == "skipped" and skew["rows_scored"] == 0 and skew["f1"] is None
    assert skew["reason"].startswith("channels never align: no timestamp (exactly) has a reading of every channel "
                                     "(x, y)")


def test_the_overall_row_sums_the_scored_entities(trained_run):
    rows = trained_run[1]
    overall, scored = rows["*"], [rows["pump-1"], rows["tank-7"]]
    for key in ("rows_scored", "tp", "fp", "fn", "tn", "anomalous", "flagged"):
        assert overall[key] == sum(row[key] for row in scored), key
    tp, fp, fn = overall["tp"], overall["fp"], overall["fn"]
    assert overall["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert overall["reason"] == "2 entities scored, 1 skipped"
    assert overall["detector"] == "lakewatch_machine,lakewatch_nab"


def test_the_run_is_recorded_in_pipeline_runs(spark, lake, trained_run):
    _, config, _ = lake
    run_id = next(iter(trained_run[1].values()))["run_id"]
    runs = spark.table(config.tables.ops_pipeline_runs).where(f"run_id = '{run_id}'").collect()
    assert [(r.job, r.status) for r in runs] == [("evaluate", "succeeded")]


def test_without_train_rows_every_row_counts_and_a_tolerance_aligns_the_skewed_entity(spark, lake, capsys):
    sets, config, data = lake
    assert evaluate.main([*sets, "--labels", "gold.labels", "--series", "[ps]*", "--tolerance", "2 minutes"]) == 0
    out = capsys.readouterr().out
    rows = _results(spark, config)
    assert set(rows) == {"pump-1", "skew-2", "*"}
    _check(rows["pump-1"], _expected("lakewatch_machine", 3, data["machine"], MACHINE_THRESHOLD, 0))
    assert rows["pump-1"]["nab_standard"] is None
    assert rows["skew-2"]["status"] == "scored" and rows["skew-2"]["rows_scored"] == N
    assert rows["skew-2"]["anomalous"] == 0  # no label window: every point normal
    assert "pump-1" in out and "skew-2" in out and "f1" in out.splitlines()[1]


def test_a_trained_model_scores_the_machines_that_have_its_channels(spark, lake, tmp_path):
    """--model URI: pump-1 (channels a, b, c, as the model) is scored by the model from the MLflow store wrapped in
    the machine likelihood, tank-7 by the default detector, skew-2 (x, y) is skipped naming the model's channels."""
    from lakewatch import tracking
    from lakewatch.deep import ModelSpec, RobustScaler
    from lakewatch.detectors.likelihood import LikelihoodDetector
    from lakewatch.tracking.machines import MACHINE_LIKELIHOOD
    from lakewatch.training.loop import train_worker
    from lakewatch.training.train import build_detector
    from tests.deep import tiny_job, write_series_file

    sets, config, data = lake
    write_series_file(tmp_path / "part-0.parquet", {"pump-1": data["machine"][:TRAIN]})
    spec = ModelSpec("cnn_ae", 16, 3, latent=4, hidden=8)
    job = tiny_job([str(tmp_path / "part-0.parquet")], spec, RobustScaler("window", (0.0,) * 3, (1.0,) * 3), 2)
    model = build_detector(job, train_worker(job, distributed=False), ("a", "b", "c"))
    example = _frame("pump-1", ["a", "b", "c"], data["machine"]).head(12)
    example["timestamp"] = example["timestamp"].dt.tz_localize(None)
    with tracking.start_run(config, "test"):
        uri = tracking.log_detector(model, example)
    argv = [*sets, "--labels", "gold.labels", "--model", uri, "--train-rows", str(TRAIN), "--tolerance", "2 minutes"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert evaluate.main(argv) == 0
    rows = _results(spark, config)
    pump, tank, skew = rows["pump-1"], rows["tank-7"], rows["skew-2"]
    assert (pump["detector"], pump["threshold"], tank["detector"]) == (uri, MACHINE_THRESHOLD, "lakewatch_nab")
    wrapped = LikelihoodDetector(model, get_detector(MACHINE_LIKELIHOOD).params)
    scores = wrapped.update(wrapped.new_state(), data["machine"], _stamps().astype(np.int64))[0]
    flagged = scores[TRAIN:] >= MACHINE_THRESHOLD
    anomalous = (np.arange(N) >= FAULT[0])[TRAIN:] & (np.arange(N) < FAULT[1])[TRAIN:]
    assert (pump["tp"], pump["fp"]) == (int(np.sum(flagged & anomalous)), int(np.sum(flagged & ~anomalous)))
    _check(tank, _expected("lakewatch_nab", 1, data["tank"], NAB_THRESHOLD, TRAIN))
    assert skew["status"] == "skipped" and "the model scores ['a', 'b', 'c']" in skew["reason"], skew["reason"]


def test_labels_from_a_channel_of_the_entity(spark, lake, trained_run):
    """--labels column:fault: valve-3's channel 'fault' (1 in the fault rows) labels its points and is not scored;
    appended after trained_run, so that run never saw valve-3."""
    sets, config, data = lake
    marks = np.zeros(N)
    marks[FAULT[0]:FAULT[1]] = 1.0
    valve = _frame("valve-3", ["a", "b", "c", "fault"], np.column_stack([data["machine"], marks]))
    tables.append(tables.conform(spark.createDataFrame(valve.assign(source="t", ingest_id="t")),
                                 schemas.SILVER_READINGS), config.tables.silver_readings)
    argv = [*sets, "--labels", "column:fault", "--series", "valve-*", "--train-rows", str(TRAIN), "--metric", "both"]
    assert evaluate.main(argv) == 0
    rows = _results(spark, config)
    assert rows["valve-3"]["channels"] == "a,b,c" and rows["valve-3"]["labels"] == "column:fault"
    _check(rows["valve-3"], _expected("lakewatch_machine", 3, data["machine"], MACHINE_THRESHOLD, TRAIN))
    # the same points and windows as pump-1's gold.labels window: the same NAB score
    assert rows["valve-3"]["nab_standard"] == pytest.approx(trained_run[1]["pump-1"]["nab_standard"])


@pytest.mark.parametrize(("argv", "message"), [
    (["--labels", "gold.labels", "--detector", "lakewatch_machine", "--series", "tank-*"],
     "--detector lakewatch_machine is multichannel; entity 'tank-7' has one channel (value)"),
    (["--labels", "gold.labels", "--series", "skew-*"],
     "no labels for the chosen series: ev_gold.labels has no window of any of skew-2"),
    (["--labels", "gold.labels", "--series", "pump-*", "--train-rows", "5000"],
     "no entity could be evaluated (pump-1: 1600 aligned rows; --train-rows 5000 leaves none to score)"),
    (["--labels", "column:fault", "--series", "pump-*"],
     "no labels for the chosen series: --labels column:fault needs a channel 'fault'"),
    (["--labels", "gold.labels", "--model", "models:/no-such-model/1"],
     "--model 'models:/no-such-model/1' cannot be loaded"),
    (["--labels", "gold.labels", "--model", "models:/no-such-model/1", "--set", "default_detector=knn"],
     "detector 'knn' has no calibrated threshold"),
])
def test_bad_input_fails_the_run_with_one_line_naming_it(lake, argv, message, capsys):
    sets = lake[0]
    assert evaluate.main([*sets, *argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


@pytest.mark.parametrize(("argv", "message"), [
    (["--labels", "gold.labels", "--detector", "nope"], "--detector 'nope': unknown detector"),
    (["--labels", "gold.labels", "--detector", "lakewatch_machine", "--model", "models:/x/1"],
     "--detector 'lakewatch_machine' and --model 'models:/x/1': give one of them"),
    (["--labels", "labels.csv"], "--labels 'labels.csv': expected 'gold.labels' or 'column:NAME'"),
    (["--labels", "gold.labels", "--metric", "auc"], "--metric 'auc': expected one of f1, nab, both"),
    (["--labels", "gold.labels", "--train-rows", "-3"], "--train-rows '-3': expected a whole number of rows"),
    (["--labels", "gold.labels", "--tolerance", "soon"], "--tolerance='soon': expected a duration"),
])
def test_bad_arguments_are_usage_errors_naming_the_value(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    assert exited.value.code == 2 and message in capsys.readouterr().err


def test_alignment_puts_nan_where_a_channel_has_no_reading_and_a_tolerance_joins_near_timestamps():
    readings = pd.DataFrame({"channel": ["a", "b", "a", "a", "b"], "micros": [0, 0, 10, 20, 23],
                             "value": [1.0, 2.0, 3.0, 4.0, 5.0]})
    micros, values = align(readings, ["a", "b"])
    assert micros.tolist() == [0, 10, 20, 23]
    np.testing.assert_array_equal(values, [[1, 2], [3, np.nan], [4, np.nan], [np.nan, 5]])
    micros, values = align(readings, ["a", "b"], tolerance_us=5)
    assert micros.tolist() == [0, 10, 20]
    np.testing.assert_array_equal(values, [[1, 2], [3, np.nan], [4, 5]])

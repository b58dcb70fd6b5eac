"""Training end to end on a tiny Delta feature table: TorchDistributor with 2 local processes, the driver's
data path (Parquet files of whole series), multivariate pivoting, bad input, settings and the job's args."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lakewatch import tables
from lakewatch.config import LakewatchConfig
from lakewatch.deep import AutoencoderDetector
from lakewatch.errors import ConfigError
from lakewatch.progress import Progress
from lakewatch.training import TrainingDataError, TrainingSettings, train_model
from lakewatch.training.data import assign_files, list_training_files, summarize, training_frame
from lakewatch.training.loop import load_windows, train_worker
from lakewatch.training.train import build_detector, prepare_job
from tests.conftest import make_config
from tests.detectors import make_series, timestamps

LENGTHS = {"a": 300, "b": 260, "c": 10}  # "c" is shorter than the window: no window of its own
WINDOW = 16


def _feature_rows(lengths: dict[str, int], channels: int = 1, nan_rows: tuple[int, ...] = ()) -> pd.DataFrame:
    frames = []
    for i, (series, n) in enumerate(lengths.items()):
        values = make_series(n, seed=i, channels=channels)
        values = values[:, None] if channels == 1 else values
        for c in range(channels):
            col = values[:, c].copy()
            if series == "a" and c == 0:
                col[list(nan_rows)] = np.nan
            frames.append(pd.DataFrame({"series_id": series, "channel": "value" if channels == 1 else f"ch{c}",
                                        "timestamp": pd.to_datetime(timestamps(n)), "value": col}))
    return pd.concat(frames, ignore_index=True)


def _write_features(spark, config: LakewatchConfig, rows: pd.DataFrame | None) -> str:
    name = config.tables.gold_features
    tables.ensure_database(spark, config, name)
    schema = "series_id string, channel string, timestamp timestamp, value double"
    df = spark.createDataFrame(rows if rows is not None else [], schema)
    tables.overwrite(df, name, tables.table_location(config, name))
    return name


def _progress() -> Progress:
    return Progress("test-train", heartbeat_s=3600)


def test_train_model_with_torch_distributor_two_processes(spark, tmp_path: Path) -> None:
    config = make_config(tmp_path / "lake")
    _write_features(spark, config, _feature_rows(LENGTHS, nan_rows=(5, 6, 7)))
    settings = TrainingSettings(window=WINDOW, latent=4, hidden=8, epochs=1, batch_size=64, num_processes=2,
                                local_mode=True, use_gpu="auto", files_per_process=1)
    result = train_model(spark, config, settings, _progress(), run_id="run1")
    # NaN rows are dropped and counted; every window of rows that remain is trained on, across both ranks
    assert result.params["dropped_rows"] == 3
    assert result.params["rows"] == sum(LENGTHS.values())
    assert result.windows == (300 - 3 - WINDOW + 1) + (260 - WINDOW + 1)
    assert len(result.metrics["loss"]) == 1 and np.isfinite(result.metrics["loss"][0])
    assert result.metrics["windows_per_second"][0] > 0
    assert result.params["use_gpu_resolved"] is False
    assert not Path(config.lakehouse.training("run1")).exists(), "training files are removed after the run"
    detector = result.detector
    assert isinstance(detector, AutoencoderDetector) and detector.channels == 1
    assert detector.info["run_id"] == "run1"
    scores = detector.score_series(make_series(200, seed=7, spike_at=150, shift=False), timestamps(200))
    assert scores.shape == (200,) and scores.min() >= 0.0 and scores.max() <= 1.0
    assert np.all(scores[: WINDOW - 1] == 0.0)


def test_training_files_hold_whole_series_sorted_and_multivariate_is_pivoted(spark, tmp_path: Path) -> None:
    config = make_config(tmp_path / "lake")
    _write_features(spark, config, _feature_rows({"a": 120, "b": 90, "d": 100}, channels=3))
    settings = TrainingSettings(window=WINDOW, latent=3, hidden=4, epochs=2, batch_size=32, num_processes=2,
                                multivariate=True, scaling="global", files_per_process=1)
    data_dir = str(tmp_path / "files")
    job, summary, channels = prepare_job(spark, config, settings, data_dir, _progress(), use_gpu=False)
    assert channels == ("ch0", "ch1", "ch2")
    assert job.spec.channels == 3 and job.value_columns == ("v0", "v1", "v2")
    assert summary.series == 3 and summary.rows == 310 and summary.dropped_rows == 0
    assert len(job.rank_files) == 2 and all(job.rank_files)
    import pyarrow.parquet as pq

    seen = set()
    for path, _ in list_training_files(data_dir):
        frame = pq.read_table(path).to_pandas()
        assert not seen & set(frame.series_key), "a series is split over files"
        seen |= set(frame.series_key)
        assert frame.equals(frame.sort_values(["series_key", "ts"], kind="stable").reset_index(drop=True))
    assert seen == {"a", "b", "d"}
    windows = load_windows(job.all_files(), job)
    assert windows.shape == ((120 + 90 + 100) - 3 * (WINDOW - 1), 3, WINDOW)
    assert windows.dtype == np.float32
    output = train_worker(job, distributed=False)
    detector = build_detector(job, output, channels)
    assert detector.multivariate and detector.channel_names == channels
    assert detector.score_series(make_series(50, channels=3), timestamps(50)).shape == (50,)


def test_assign_files_balances_rows() -> None:
    files = [("f1", 100), ("f2", 60), ("f3", 50), ("f4", 10)]
    assert assign_files(files, 2) == [["f1", "f4"], ["f2", "f3"]]
    assert assign_files(files[:1], 2) == [["f1"], []]


@pytest.mark.parametrize(
    ("rows", "window", "message"),
    [
        (None, WINDOW, "is empty"),
        (_feature_rows({"a": 30, "b": 20}), 64, "window 64 is longer than every series .* longest has 30"),
        (_feature_rows({"a": 30}, nan_rows=tuple(range(30))), WINDOW, "all 30 rows have a null, NaN or infinite"),
    ],
    ids=["empty", "window-too-long", "all-non-finite"],
)
def test_unusable_tables_raise_training_data_errors(spark, tmp_path: Path, rows, window: int, message: str) -> None:
    config = make_config(tmp_path / "lake")
    name = _write_features(spark, config, rows)
    settings = TrainingSettings(window=window)
    with pytest.raises(TrainingDataError, match=message) as info:
        summarize(training_frame(spark, config, settings), window)
    assert name in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_table_or_column_is_named(spark, tmp_path: Path) -> None:
    config = make_config(tmp_path / "lake")
    with pytest.raises(TrainingDataError, match="cannot be read"):
        training_frame(spark, config, TrainingSettings(table="nowhere.features"))
    _write_features(spark, config, _feature_rows({"a": 30}))
    with pytest.raises(TrainingDataError, match=r"lacks column\(s\) \['reading'\]"):
        training_frame(spark, config, TrainingSettings(value_column="reading"))


def test_settings_come_from_config_and_are_validated(tmp_path: Path) -> None:
    config = make_config(tmp_path / "lake", "training.model=vae", "training.channels=[x, y]", "training.beta=4.0")
    settings = config.settings("training", TrainingSettings)
    assert settings.model == "vae" and settings.channels == ("x", "y") and settings.beta == 4.0
    assert settings.num_processes == 2 and settings.local_mode is True and settings.use_gpu == "auto"
    assert settings.with_overrides(epochs=3, model=None).epochs == 3
    with pytest.raises(ConfigError, match=r"training\.model 'gru'"):
        TrainingSettings(model="gru")
    with pytest.raises(ConfigError, match=r"training\.window=2: expected greater than or equal to 4"):
        TrainingSettings().with_overrides(window=2)
    with pytest.raises(ConfigError, match=r"training\.epochs=0: expected greater than 0"):
        TrainingSettings().with_overrides(epochs=0)
    with pytest.raises(ConfigError, match="use_gpu"):
        TrainingSettings(use_gpu="maybe")
    with pytest.raises(ConfigError, match="unknown keys"):
        make_config(tmp_path / "lake2", "training.epoch=3").settings("training", TrainingSettings)


def test_job_arguments_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    from lakewatch.jobs.train import parse_args

    args, _ = parse_args(["--model", "lstm_ae", "--epochs", "2", "--num-processes", "1", "--table", "x.y"])
    assert (args.settings.model, args.settings.epochs, args.settings.num_processes) == ("lstm_ae", 2, 1)
    assert args.settings.table == "x.y"
    for bad, expected in [(["--epochs", "0"], "--epochs 0"), (["--model", "gru"], "invalid choice"),
                          (["--evaluate-nab", "--corpus", "/nonexistent"], "expected a NAB checkout"),
                          (["--evaluate-nab", "--set", "training.multivariate=true"], "univariate")]:
        with pytest.raises(SystemExit) as exit_info:
            parse_args(bad)
        assert exit_info.value.code == 2
        assert expected in capsys.readouterr().err

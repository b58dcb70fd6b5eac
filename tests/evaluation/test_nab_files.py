"""NAB files: loading windows, profiles and thresholds, and reading/writing NAB-layout results directories."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from lakewatch.evaluation import (
    CostProfile,
    NabCorpus,
    load_profiles,
    load_thresholds,
    load_windows,
    read_results_dir,
    score_corpus,
    write_results_dir,
)
from tests.conftest import nab_dir


def _write_json(path: Path, content: object) -> Path:
    path.write_text(json.dumps(content))
    return path


def test_load_windows_parses_limits_in_order(tmp_path: Path) -> None:
    path = _write_json(
        tmp_path / "windows.json",
        {
            "cat/a.csv": [["2020-01-01 00:10:00.000000", "2020-01-01 01:00:00.000000"], ["2020-01-02", "2020-01-03"]],
            "cat/b.csv": [],
        },
    )
    windows = load_windows(path)
    assert windows["cat/b.csv"] == []
    assert windows["cat/a.csv"][0] == (pd.Timestamp("2020-01-01 00:10"), pd.Timestamp("2020-01-01 01:00"))
    assert all(isinstance(limit, pd.Timestamp) for pair in windows["cat/a.csv"] for limit in pair)


def test_load_profiles_and_thresholds(tmp_path: Path) -> None:
    matrix = {"tpWeight": 1.0, "fpWeight": 0.22, "fnWeight": 1.0, "tnWeight": 1.0}
    profiles = load_profiles(_write_json(tmp_path / "p.json", {"reward_low_FP_rate": {"CostMatrix": matrix}}))
    assert profiles == {"reward_low_FP_rate": CostProfile("reward_low_FP_rate", 1.0, 0.22, 1.0, 1.0)}
    entry = {"standard": {"score": -3.5, "threshold": 0.75}}
    assert load_thresholds(_write_json(tmp_path / "t.json", {"det": entry})) == {"det": {"standard": 0.75}}


def _frames() -> tuple[dict[str, pd.DataFrame], dict[str, list]]:
    timestamps = pd.date_range("2022-06-01", periods=50, freq="10min")
    scores = np.linspace(0.0, 1.0, 50) ** 2
    frame = pd.DataFrame({"timestamp": timestamps, "value": np.arange(50.0) * 1.5, "anomaly_score": scores})
    windows = {"catA/one.csv": [(timestamps[20], timestamps[29])], "catB/two.csv": []}
    return {"catA/one.csv": frame, "catB/two.csv": frame.iloc[:30].copy()}, windows


def test_write_then_read_round_trips_in_nab_layout(tmp_path: Path) -> None:
    frames, windows = _frames()
    paths = write_results_dir(tmp_path, "mydet", frames, windows)
    assert paths == [tmp_path / "mydet" / "catA" / "mydet_one.csv", tmp_path / "mydet" / "catB" / "mydet_two.csv"]
    assert paths[0].read_text().splitlines()[0] == "timestamp,value,anomaly_score,label"

    loaded = read_results_dir(tmp_path, "mydet")
    assert sorted(loaded) == sorted(frames)
    one = loaded["catA/one.csv"]
    assert pd.api.types.is_datetime64_any_dtype(one["timestamp"])
    pd.testing.assert_frame_equal(one[["timestamp", "value", "anomaly_score"]], frames["catA/one.csv"])
    assert one["label"].tolist() == [0] * 20 + [1] * 10 + [0] * 20
    assert loaded["catB/two.csv"]["label"].sum() == 0
    before = score_corpus(frames, windows, CostProfile("s", 1.0, 0.11, 1.0, 1.0), 0.5)
    after = score_corpus(loaded, windows, CostProfile("s", 1.0, 0.11, 1.0, 1.0), 0.5)
    assert before == after


def test_written_labels_match_published_nab_labels(tmp_path: Path) -> None:
    nab = NabCorpus(nab_dir())
    windows = nab.windows()
    tiny = load_windows(nab.windows_file.with_name("combined_windows_tiny.json"))
    published = read_results_dir(nab.results_dir, "numenta")
    subset = {key: published[key].drop(columns="label") for key in tiny}
    write_results_dir(tmp_path, "numenta", subset, windows)
    rewritten = read_results_dir(tmp_path, "numenta")
    for key in tiny:
        assert rewritten[key]["label"].tolist() == published[key]["label"].tolist(), key
        assert rewritten[key]["label"].sum() > 0

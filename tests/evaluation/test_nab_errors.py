"""Bad inputs raise the library's own exceptions, naming the input and the problem."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lakewatch.errors import LakewatchError
from lakewatch.evaluation import (
    CostProfile,
    NabDataError,
    NabFileNotFoundError,
    load_profiles,
    load_windows,
    read_results_dir,
    score_all_profiles,
    score_corpus,
    score_file,
    write_results_dir,
)

PROFILE = CostProfile("standard", 1.0, 0.11, 1.0, 1.0)
STAMPS = pd.date_range("2020-01-01", periods=40, freq="h")


def _frame(**columns) -> pd.DataFrame:
    data = {"timestamp": STAMPS, "value": np.ones(40), "anomaly_score": np.zeros(40)}
    data.update(columns)
    return pd.DataFrame({name: values for name, values in data.items() if values is not None})


def test_exception_classes_fit_the_standard_hierarchy() -> None:
    assert issubclass(NabDataError, ValueError) and issubclass(NabDataError, LakewatchError)
    assert issubclass(NabFileNotFoundError, FileNotFoundError) and issubclass(NabFileNotFoundError, LakewatchError)


def test_missing_results_directory(tmp_path: Path) -> None:
    with pytest.raises(NabFileNotFoundError, match=r"results directory .*nowhere does not exist"):
        read_results_dir(tmp_path / "nowhere", "numenta")


def test_missing_detector_folder(tmp_path: Path) -> None:
    with pytest.raises(NabFileNotFoundError, match=r"no folder for detector 'ghost'"):
        read_results_dir(tmp_path, "ghost")


def test_results_file_without_anomaly_score(tmp_path: Path) -> None:
    (tmp_path / "det" / "cat").mkdir(parents=True)
    _frame(anomaly_score=None).to_csv(tmp_path / "det" / "cat" / "det_a.csv", index=False)
    with pytest.raises(NabDataError, match=r"det_a\.csv lacks column\(s\) \['anomaly_score'\]"):
        read_results_dir(tmp_path, "det")


def test_results_file_not_named_after_detector(tmp_path: Path) -> None:
    (tmp_path / "det" / "cat").mkdir(parents=True)
    _frame().to_csv(tmp_path / "det" / "cat" / "other_a.csv", index=False)
    with pytest.raises(NabDataError, match=r"other_a\.csv is not named det_<file>\.csv"):
        read_results_dir(tmp_path, "det")


def test_frame_key_missing_from_windows() -> None:
    with pytest.raises(NabDataError, match=r"cat/unknown\.csv: file key has no entry in the windows"):
        score_corpus({"cat/unknown.csv": _frame()}, {"cat/other.csv": []}, PROFILE, 0.5)


def test_frame_without_anomaly_score_column() -> None:
    with pytest.raises(NabDataError, match=r"cat/a\.csv: frame lacks column\(s\) \['anomaly_score'\]"):
        score_corpus({"cat/a.csv": _frame(anomaly_score=None)}, {"cat/a.csv": []}, PROFILE, 0.5)


@pytest.mark.parametrize("bad", [1.5, -0.1, np.nan])
def test_scores_outside_unit_interval_or_nan(bad: float) -> None:
    scores = np.zeros(40)
    scores[7] = bad
    with pytest.raises(NabDataError, match=r"cat/a\.csv: anomaly_score must lie in \[0, 1\].*first at row 7"):
        score_corpus({"cat/a.csv": _frame(anomaly_score=scores)}, {"cat/a.csv": []}, PROFILE)


def test_length_mismatch() -> None:
    with pytest.raises(NabDataError, match=r"39 anomaly scores for 40 timestamps"):
        score_file(STAMPS, np.zeros(39), [], 0.5, PROFILE)


def test_unparseable_timestamps() -> None:
    with pytest.raises(NabDataError, match=r"timestamps cannot be parsed"):
        score_file(["2020-01-01", "not a date"], [0.0, 0.0], [], 0.5, PROFILE)


@pytest.mark.parametrize(
    ("windows", "problem"),
    [
        ([(STAMPS[10], STAMPS[5])], "ends before it starts"),
        ([(pd.Timestamp("2030-01-01"), pd.Timestamp("2030-02-01"))], "contains no row"),
        ([(STAMPS[5], STAMPS[15]), (STAMPS[12], STAMPS[20])], "overlaps the window before it"),
        ([("yesterday-ish", STAMPS[3])], "are not timestamps"),
    ],
)
def test_bad_windows(windows: list, problem: str) -> None:
    with pytest.raises(NabDataError, match=rf"cat/a\.csv: .*{problem}"):
        score_file(STAMPS, np.zeros(40), windows, 0.5, PROFILE, file="cat/a.csv")


def test_nan_threshold_and_empty_corpus() -> None:
    with pytest.raises(NabDataError, match="threshold must be a number"):
        score_file(STAMPS, np.zeros(40), [], float("nan"), PROFILE)
    with pytest.raises(NabDataError, match="frames is empty"):
        score_corpus({}, {}, PROFILE)


def test_thresholds_must_cover_every_profile() -> None:
    with pytest.raises(NabDataError, match=r"thresholds has no entry for profile\(s\) \['standard'\]"):
        score_all_profiles({"cat/a.csv": _frame()}, {"cat/a.csv": []}, {"standard": PROFILE}, {"other": 0.5})


def test_window_and_profile_files(tmp_path: Path) -> None:
    with pytest.raises(NabFileNotFoundError, match=r"windows file .*absent\.json does not exist"):
        load_windows(tmp_path / "absent.json")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(NabDataError, match=r"broken\.json is not valid JSON"):
        load_windows(tmp_path / "broken.json")
    (tmp_path / "w.json").write_text(json.dumps({"cat/a.csv": [["2020-01-01"]]}))
    with pytest.raises(NabDataError, match=r"entry 'cat/a\.csv': expected a \[start, end\] pair"):
        load_windows(tmp_path / "w.json")
    (tmp_path / "p.json").write_text(json.dumps({"standard": {"CostMatrix": {"tpWeight": 1, "fnWeight": 1}}}))
    with pytest.raises(NabDataError, match=r"profile 'standard': CostMatrix lacks \['fpWeight', 'tnWeight'\]"):
        load_profiles(tmp_path / "p.json")
    matrix = {"tpWeight": 1, "fnWeight": 1, "fpWeight": "high", "tnWeight": 1}
    (tmp_path / "p.json").write_text(json.dumps({"standard": {"CostMatrix": matrix}}))
    with pytest.raises(NabDataError, match=r"fpWeight must be a finite number, got 'high'"):
        load_profiles(tmp_path / "p.json")


def test_write_rejects_bad_keys_and_frames(tmp_path: Path) -> None:
    with pytest.raises(NabDataError, match=r"file key 'a\.csv' must look like 'category/file\.csv'"):
        write_results_dir(tmp_path, "det", {"a.csv": _frame()}, {"a.csv": []})
    with pytest.raises(NabDataError, match=r"cat/a\.csv: frame lacks column\(s\) \['value'\]"):
        write_results_dir(tmp_path, "det", {"cat/a.csv": _frame(value=None)}, {"cat/a.csv": []})
    with pytest.raises(NabDataError, match=r"cat/a\.csv: file key has no entry in the windows"):
        write_results_dir(tmp_path, "det", {"cat/a.csv": _frame()}, {})

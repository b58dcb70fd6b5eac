"""save_detector / load_detector: round trips, a changed detectors.yaml, detectors with their own files, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lakewatch.config import load_config
from lakewatch.detectors import WindowedGaussianDetector, get_detector
from lakewatch.detectors.persist import SPEC_FILE, DetectorPersistError, load_detector, save_detector


def _series(n: int = 1500, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    values = np.cumsum(rng.normal(0, 1, n))
    values[n // 2] += 40
    stamps = (np.arange(n, dtype=np.int64) + 1_700_000_000) * 300 * 10**9
    return values, stamps


@pytest.mark.parametrize(("name", "params"), [
    ("windowed_gaussian", {"window": 800, "step": 50}),
    ("knn_likelihood", {"avg_window": 7}),
    ("lakewatch_nab", {"suppress_rows": 60, "combine": "mean"}),
])
def test_round_trip_gives_the_same_detector_and_scores(tmp_path: Path, name: str, params: dict) -> None:
    detector = get_detector(name, params)
    save_detector(detector, tmp_path / "d")
    spec = json.loads((tmp_path / "d" / SPEC_FILE).read_text())
    assert (spec["format"], spec["name"], spec["kind"], spec["loader"]) == (1, name, detector.kind, None)
    assert {k: spec["params"][k] for k in params} == params
    loaded = load_detector(tmp_path / "d")
    assert type(loaded) is type(detector)
    assert loaded.fingerprint == detector.fingerprint
    values, stamps = _series()
    np.testing.assert_array_equal(loaded.score_series(values, stamps), detector.score_series(values, stamps))


def test_a_changed_registry_does_not_change_a_saved_detector(tmp_path: Path) -> None:
    detector = get_detector("lakewatch_nab")
    save_detector(detector, tmp_path / "d")
    # median_window of record_deviation, a member of lakewatch_nab
    changed = load_config("local", ["detectors.record_deviation.params.median_window=37"]).detectors
    assert get_detector("lakewatch_nab", catalog=changed).fingerprint != detector.fingerprint
    loaded = load_detector(tmp_path / "d", catalog=changed)
    assert loaded.fingerprint == detector.fingerprint
    values, stamps = _series(seed=2)
    np.testing.assert_array_equal(loaded.score_series(values, stamps), detector.score_series(values, stamps))


class FileBackedDetector(WindowedGaussianDetector):
    """A detector that writes its own file, as the deep detectors do."""

    def save_artifacts(self, directory: Path) -> str:
        (Path(directory) / "weights.json").write_text(json.dumps(self.params.as_dict()))
        return "tests.tracking.test_persist:load_file_backed"


def load_file_backed(directory: Path) -> FileBackedDetector:
    """The loader FileBackedDetector.save_artifacts names."""
    return FileBackedDetector(json.loads((Path(directory) / "weights.json").read_text()), name="file_backed")


def test_a_detector_with_its_own_files_is_loaded_by_its_loader(tmp_path: Path) -> None:
    detector = FileBackedDetector({"window": 400, "step": 20}, name="file_backed")
    save_detector(detector, tmp_path / "d")
    spec = json.loads((tmp_path / "d" / SPEC_FILE).read_text())
    assert spec["loader"] == "tests.tracking.test_persist:load_file_backed"
    loaded = load_detector(tmp_path / "d")
    assert isinstance(loaded, FileBackedDetector)
    assert loaded.fingerprint == detector.fingerprint


def test_bad_directories_are_rejected_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(DetectorPersistError, match=r"no detector\.json there"):
        load_detector(tmp_path / "missing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / SPEC_FILE).write_text("{not json")
    with pytest.raises(DetectorPersistError, match="not valid JSON"):
        load_detector(tmp_path / "bad")
    (tmp_path / "bad" / SPEC_FILE).write_text(json.dumps({"format": 9, "name": "x", "kind": "y", "params": {}}))
    with pytest.raises(DetectorPersistError, match="format 9; this library reads format 1"):
        load_detector(tmp_path / "bad")
    save_detector(get_detector("windowed_gaussian"), tmp_path / "tampered")
    spec = json.loads((tmp_path / "tampered" / SPEC_FILE).read_text())
    spec["fingerprint"] = "0" * 16
    (tmp_path / "tampered" / SPEC_FILE).write_text(json.dumps(spec))
    with pytest.raises(DetectorPersistError, match="rebuilds with fingerprint"):
        load_detector(tmp_path / "tampered")
    with pytest.raises(DetectorPersistError, match="expected a Detector"):
        save_detector("windowed_gaussian", tmp_path / "x")  # type: ignore[arg-type]

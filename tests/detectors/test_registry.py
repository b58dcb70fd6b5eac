"""Registry and configuration: names, defaults, parameter checks, and malformed configuration files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from lakewatch.detectors import (
    DetectorConfigError,
    DetectorParamsError,
    EnsembleDetector,
    KnnDetector,
    LikelihoodDetector,
    RecordDetector,
    UnknownDetectorError,
    available_detectors,
    default_detector_name,
    get_detector,
    load_config,
)
from lakewatch.detectors.registry import DEFAULT_CONFIG_PATH, ENSEMBLE_KINDS, PLAIN_KINDS, WRAPPER_KINDS


def test_default_is_named_and_buildable() -> None:
    name = default_detector_name()
    assert name == "lakewatch_nab"
    det = get_detector("default")
    assert det.name == name
    assert isinstance(det, EnsembleDetector)
    assert isinstance(det.members[0], LikelihoodDetector)
    assert isinstance(det.members[0].base, KnnDetector)


def test_available_detectors_lists_every_entry_and_builds() -> None:
    names = available_detectors()
    assert "default" in names and "windowed_gaussian" in names and "mahalanobis" in names
    for name in names:
        assert get_detector(name).name in (name, default_detector_name())


def test_config_entries_list_every_parameter_of_their_kind() -> None:
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    kinds = {**PLAIN_KINDS, **WRAPPER_KINDS, **ENSEMBLE_KINDS}
    for name, entry in raw["detectors"].items():
        fields = {f.name for f in dataclasses.fields(kinds[entry["kind"]].params_type)}
        assert set(entry["params"]) == fields, f"{name}: config params differ from {sorted(fields)}"


def test_default_pipeline_built_by_hand_equals_the_configured_default() -> None:
    by_hand = EnsembleDetector([LikelihoodDetector(KnnDetector()), RecordDetector()])
    configured = get_detector("default")
    assert by_hand.fingerprint == configured.fingerprint, "conf/detectors.yaml and the dataclass defaults disagree"


def test_unknown_name_lists_known_detectors() -> None:
    with pytest.raises(UnknownDetectorError, match=r"unknown detector 'nope'; known detectors: \[.*'knn'.*\]"):
        get_detector("nope")
    with pytest.raises(KeyError):
        get_detector("nope")


def test_unknown_params_are_rejected_with_the_known_names() -> None:
    with pytest.raises(
        DetectorParamsError,
        match=r"knn: unknown parameter\(s\) \['memry'\]; known parameters are "
        r"\[.*'memory'.*\]",
    ):
        get_detector("knn", {"memry": 10})


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("knn", {"memory": "big"}, "wrong type; expected int"),
        ("knn", {"memory": 2.5}, "wrong type; expected int"),
        ("knn", {"scales": [8, 4]}, "strictly increasing"),
        ("knn", {"quantile": 1.5}, r"quantile=1.5 is out of range"),
        ("ewma", {"alpha": 0.0}, "alpha=0.0 is out of range"),
        ("likelihood_missing", None, "unknown detector"),
        ("knn_likelihood", {"combine": "vote"}, "combine='vote' is not supported"),
        ("lakewatch_nab", {"suppress_rows": -1}, "suppress_rows=-1 is out of range"),
        ("record_deviation", {"two_sided": "yes"}, "wrong type; expected bool"),
        ("windowed_gaussian", {"window": 6450}, r"window % step=50 is out of range"),
    ],
)
def test_invalid_params_raise_clear_errors(name: str, params: dict | None, message: str) -> None:
    with pytest.raises((DetectorParamsError, UnknownDetectorError), match=message):
        get_detector(name, params)


def test_overrides_apply_to_the_named_entry_only() -> None:
    det = get_detector("knn_likelihood", {"avg_window": 5})
    assert det.params.avg_window == 5
    assert det.base.params == get_detector("knn").params


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "detectors.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        ("default: a\ndetectors: {a: {kind: nope}}", "kind 'nope'"),
        ("default: b\ndetectors: {a: {kind: knn}}", "does not name an entry"),
        ("default: a\ndetectors: {a: {kind: likelihood}}", "needs 'base"),
        ("default: a\ndetectors: {a: {kind: likelihood, base: zz}}", "refers to 'zz'"),
        ("default: a\ndetectors: {a: {kind: ensemble, members: [a]}}", "refers to itself"),
        ("default: a\ndetectors: {a: {kind: knn, colour: red}}", "unknown key"),
        ("default: a\ndetectors: [1, 2]", "'detectors' mapping"),
        ("default: a\ndetectors: {a: {kind: knn}\n", "not valid YAML"),
    ],
)
def test_malformed_config_files_raise_config_errors(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(DetectorConfigError, match=message):
        get_detector("a", path=path)


def test_missing_config_file_names_the_environment_variable(tmp_path: Path) -> None:
    with pytest.raises(DetectorConfigError, match="LAKEWATCH_DETECTORS_CONFIG"):
        load_config(tmp_path / "absent.yaml")


def test_config_from_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(
        tmp_path, "default: mine\ndetectors: {mine: {kind: ewma_missing}}".replace("ewma_missing", "holt_winters")
    )
    monkeypatch.setenv("LAKEWATCH_DETECTORS_CONFIG", str(path))
    assert available_detectors() == ["default", "mine"]
    assert get_detector("default").name == "mine"


def test_the_configuration_entry_itself_is_accepted_as_params() -> None:
    entry = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())["detectors"]["lakewatch_nab"]
    assert get_detector("lakewatch_nab", entry).fingerprint == get_detector("default").fingerprint
    knn_entry = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())["detectors"]["knn"]
    changed = dict(knn_entry, params=dict(knn_entry["params"], memory=500))
    assert get_detector("knn", changed).params.memory == 500
    with pytest.raises(DetectorParamsError, match="kind='ewma'"):
        get_detector("knn", {"kind": "ewma"})
    with pytest.raises(DetectorParamsError, match="mix configuration keys"):
        get_detector("knn", {"kind": "knn", "memory": 5})

"""Registry and detector catalog: names, defaults, parameter checks, and malformed catalogs (as ConfigErrors at
configuration load)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import yaml

from lakewatch.config import DETECTORS_FILE, load_config, project_root
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
)
from lakewatch.detectors.registry import ENSEMBLE_KINDS, PLAIN_KINDS, WRAPPER_KINDS
from lakewatch.errors import ConfigError

DETECTORS_YAML = project_root() / "conf" / DETECTORS_FILE


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
    raw = yaml.safe_load(DETECTORS_YAML.read_text())
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
        match=r"knn: unknown keys \['memry'\]; expected some of \[.*'memory'.*\]",
    ):
        get_detector("knn", {"memry": 10})


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("knn", {"memory": "big"}, "knn.memory='big': expected a valid integer"),
        ("knn", {"memory": 2.5}, "knn.memory=2.5: expected a valid integer"),
        ("knn", {"memory": True}, "knn.memory=True: expected a number, not a boolean"),
        ("knn", {"scales": [8, 4]}, "strictly increasing"),
        ("knn", {"quantile": 1.5}, r"knn.quantile=1.5: expected less than or equal to 1"),
        ("ewma", {"alpha": 0.0}, "ewma.alpha=0.0: expected greater than or equal to 0.000000001"),
        ("likelihood_missing", None, "unknown detector"),
        ("knn_likelihood", {"combine": "vote"}, "combine='vote' is not supported"),
        ("lakewatch_nab", {"suppress_rows": -1}, "lakewatch_nab.suppress_rows=-1: expected greater than or equal to 0"),
        ("record_deviation", {"two_sided": "yes"}, "record_deviation.two_sided='yes': expected a valid boolean"),
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


def _conf_dir(tmp_path: Path, text: str) -> Path:
    """A conf/ folder holding the project's base.yaml and `text` as detectors.yaml."""
    conf = tmp_path / "conf"
    conf.mkdir()
    shutil.copy(project_root() / "conf" / "base.yaml", conf / "base.yaml")
    (conf / DETECTORS_FILE).write_text(text)
    return conf


@pytest.mark.parametrize(
    "text, message",
    [
        ("default_detector: a\ndetectors: {a: {kind: nope}}", r"detectors.a.kind='nope': expected one of"),
        ("default_detector: b\ndetectors: {a: {kind: knn}}", r"default_detector='b': expected the name of an entry"),
        ("default_detector: a\ndetectors: {a: {kind: likelihood}}", "detectors.a: kind 'likelihood' needs 'base"),
        ("default_detector: a\ndetectors: {a: {kind: likelihood, base: zz}}", "detectors.a refers to 'zz'"),
        ("default_detector: a\ndetectors: {a: {kind: ensemble, members: [a]}}", "refers to itself"),
        ("default_detector: a\ndetectors: {a: {kind: knn, colour: red}}", r"detectors.a: unknown keys \['colour'\]"),
        ("default_detector: a\ndetectors: [1, 2]", "config section 'detectors'"),
        ("default_detector: a\ndetectors: {a: {kind: knn}\n", "not valid YAML"),
        ("default: a\ndetectors: {a: {kind: knn}}", r"unknown top-level keys \['default'\]"),
        ("version: 2\ndefault_detector: a\ndetectors: {a: {kind: knn}}", "version 2; expected 1"),
    ],
)
def test_malformed_catalogs_fail_when_the_config_loads(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config("local", conf_dir=_conf_dir(tmp_path, text))


def test_missing_detectors_file_is_named(tmp_path: Path) -> None:
    conf = _conf_dir(tmp_path, "")
    (conf / DETECTORS_FILE).unlink()
    with pytest.raises(ConfigError, match=f"{DETECTORS_FILE} does not exist"):
        load_config("local", conf_dir=conf)


def test_malformed_catalog_raises_detector_config_error(tmp_path: Path) -> None:
    conf = _conf_dir(tmp_path, "default_detector: a\ndetectors: {a: {kind: nope}}")
    with pytest.raises(DetectorConfigError):
        load_config("local", conf_dir=conf)


def test_a_catalog_from_another_conf_folder(tmp_path: Path) -> None:
    conf = _conf_dir(tmp_path, "default_detector: mine\ndetectors: {mine: {kind: holt_winters}}")
    catalog = load_config("local", conf_dir=conf).detectors
    assert available_detectors(catalog) == ["default", "mine"]
    assert default_detector_name(catalog) == "mine"
    assert get_detector("default", catalog=catalog).name == "mine"
    with pytest.raises(UnknownDetectorError, match=r"known detectors: \['default', 'mine'\]"):
        get_detector("knn", catalog=catalog)


def test_overridden_catalog_builds_the_overridden_detector() -> None:
    catalog = load_config("local", ["detectors.knn.params.memory=500"]).detectors
    assert get_detector("knn", catalog=catalog).params.memory == 500
    assert get_detector("knn_likelihood", catalog=catalog).base.params.memory == 500
    assert get_detector("knn").params.memory == 1000  # the default configuration is not changed


def test_the_configuration_entry_itself_is_accepted_as_params() -> None:
    entry = yaml.safe_load(DETECTORS_YAML.read_text())["detectors"]["lakewatch_nab"]
    assert get_detector("lakewatch_nab", entry).fingerprint == get_detector("default").fingerprint
    knn_entry = yaml.safe_load(DETECTORS_YAML.read_text())["detectors"]["knn"]
    changed = dict(knn_entry, params=dict(knn_entry["params"], memory=500))
    assert get_detector("knn", changed).params.memory == 500
    with pytest.raises(DetectorParamsError, match="kind='ewma'"):
        get_detector("knn", {"kind": "ewma"})
    with pytest.raises(DetectorParamsError, match="mix configuration keys"):
        get_detector("knn", {"kind": "knn", "memory": 5})

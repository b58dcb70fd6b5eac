"""Detector registry: named detectors and their default parameters, read from ``conf/detectors.yaml``.

The configuration file maps names to entries::

    default: lakewatch_nab          # the detector get_detector("default") returns
    detectors:
      knn:                          # a plain detector
        kind: knn
        params: {memory: 1000, ...}
      knn_likelihood:               # a post-processor wrapping another named detector
        kind: likelihood
        base: knn
        params: {...}
      lakewatch_nab:                # an ensemble of named detectors
        kind: ensemble
        members: [knn_likelihood, record_deviation]
        params: {...}

``get_detector(name, params)`` builds the named detector; ``params`` override the entry's own parameters
(unknown names are rejected). The file is found through ``LAKEWATCH_DETECTORS_CONFIG`` or, by default, at
``conf/detectors.yaml`` of the repository holding this package.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lakewatch.detectors.base import Detector
from lakewatch.detectors.ensemble import EnsembleDetector
from lakewatch.detectors.errors import DetectorConfigError, DetectorParamsError, UnknownDetectorError
from lakewatch.detectors.holt_winters import HoltWintersDetector
from lakewatch.detectors.knn import KnnDetector
from lakewatch.detectors.likelihood import LikelihoodDetector
from lakewatch.detectors.multivariate import MahalanobisDetector
from lakewatch.detectors.record import RecordDetector
from lakewatch.detectors.robust_zscore import RobustZScoreDetector
from lakewatch.detectors.windowed_gaussian import WindowedGaussianDetector

CONFIG_ENV = "LAKEWATCH_DETECTORS_CONFIG"
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[3] / "conf" / "detectors.yaml"
DEFAULT_ALIAS = "default"

PLAIN_KINDS: dict[str, type[Detector]] = {
    cls.kind: cls
    for cls in (
        WindowedGaussianDetector,
        RobustZScoreDetector,
        HoltWintersDetector,
        KnnDetector,
        RecordDetector,
        MahalanobisDetector,
    )
}
WRAPPER_KINDS = {"likelihood": LikelihoodDetector}
ENSEMBLE_KINDS = {"ensemble": EnsembleDetector}
_ENTRY_KEYS = {"kind", "params", "base", "members", "description"}


@dataclass(frozen=True)
class _Entry:
    name: str
    kind: str
    params: Mapping[str, Any]
    base: str | None
    members: tuple[str, ...]


@dataclass(frozen=True)
class DetectorConfig:
    """The parsed configuration: the default detector's name and the entries by name."""

    path: str
    default: str
    entries: Mapping[str, _Entry]


_CACHE: dict[tuple[str, float], DetectorConfig] = {}


def config_path() -> Path:
    """The configuration file in use: ``$LAKEWATCH_DETECTORS_CONFIG`` or the repository's default."""
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else DEFAULT_CONFIG_PATH


def _parse_entry(name: str, raw: Any, where: str) -> _Entry:
    if not isinstance(raw, Mapping):
        raise DetectorConfigError(f"{where}: entry {name!r} must be a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _ENTRY_KEYS)
    if unknown:
        raise DetectorConfigError(
            f"{where}: entry {name!r} has unknown key(s) {unknown}; allowed {sorted(_ENTRY_KEYS)}"
        )
    kind = raw.get("kind")
    kinds = sorted({*PLAIN_KINDS, *WRAPPER_KINDS, *ENSEMBLE_KINDS})
    if kind not in kinds:
        raise DetectorConfigError(f"{where}: entry {name!r} has kind {kind!r}; expected one of {kinds}")
    params = raw.get("params") or {}
    if not isinstance(params, Mapping):
        raise DetectorConfigError(f"{where}: entry {name!r} params must be a mapping, got {type(params).__name__}")
    base = raw.get("base")
    members = raw.get("members") or []
    if kind in WRAPPER_KINDS and not isinstance(base, str):
        raise DetectorConfigError(f"{where}: entry {name!r} of kind {kind!r} needs 'base: <detector name>'")
    if kind in ENSEMBLE_KINDS and (
        not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members)
    ):
        raise DetectorConfigError(f"{where}: entry {name!r} of kind {kind!r} needs 'members: [<detector name>, ...]'")
    if kind not in WRAPPER_KINDS and base is not None:
        raise DetectorConfigError(f"{where}: entry {name!r} of kind {kind!r} takes no 'base'")
    if kind not in ENSEMBLE_KINDS and raw.get("members") is not None:
        raise DetectorConfigError(f"{where}: entry {name!r} of kind {kind!r} takes no 'members'")
    return _Entry(name, kind, dict(params), base, tuple(members))


def load_config(path: str | Path | None = None) -> DetectorConfig:
    """Read and check a detectors configuration file (cached until the file changes).

    Raises :class:`DetectorConfigError` when the file is missing, is not YAML, or an entry is malformed or
    refers to a name that is not defined.
    """
    file = Path(path) if path is not None else config_path()
    try:
        stamp = file.stat().st_mtime
    except OSError as exc:
        raise DetectorConfigError(
            f"detectors configuration {str(file)!r} cannot be read ({exc}); set {CONFIG_ENV} to its path"
        ) from exc
    key = (str(file.resolve()), stamp)
    if key in _CACHE:
        return _CACHE[key]
    try:
        raw = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise DetectorConfigError(f"{file}: not valid YAML ({exc})") from exc
    if not isinstance(raw, Mapping) or not isinstance(raw.get("detectors"), Mapping):
        raise DetectorConfigError(f"{file}: expected a mapping with a 'detectors' mapping at the top")
    entries = {str(name): _parse_entry(str(name), entry, str(file)) for name, entry in raw["detectors"].items()}
    if DEFAULT_ALIAS in entries:
        raise DetectorConfigError(f"{file}: {DEFAULT_ALIAS!r} is reserved; name the default with 'default: <name>'")
    default = raw.get("default")
    if default not in entries:
        raise DetectorConfigError(f"{file}: 'default: {default!r}' does not name an entry; entries: {sorted(entries)}")
    for entry in entries.values():
        for ref in (*((entry.base,) if entry.base else ()), *entry.members):
            if ref not in entries:
                raise DetectorConfigError(
                    f"{file}: entry {entry.name!r} refers to {ref!r}, which is not defined; entries: {sorted(entries)}"
                )
    config = DetectorConfig(str(file), str(default), entries)
    _CACHE[key] = config
    return config


def available_detectors(path: str | Path | None = None) -> list[str]:
    """Names that :func:`get_detector` accepts (``"default"`` included), sorted."""
    return sorted([*load_config(path).entries, DEFAULT_ALIAS])


def default_detector_name(path: str | Path | None = None) -> str:
    """The name of the configured default detector."""
    return load_config(path).default


def _build(config: DetectorConfig, name: str, overrides: Mapping[str, Any] | None, stack: tuple[str, ...]) -> Detector:
    if name in stack:
        raise DetectorConfigError(f"{config.path}: detector {name!r} refers to itself through {' -> '.join(stack)}")
    entry = config.entries[name]
    params = dict(entry.params)
    if overrides:
        if not isinstance(overrides, Mapping):
            raise DetectorParamsError(f"{name}: params must be a mapping, got {type(overrides).__name__}")
        params.update(overrides)
    if entry.kind in PLAIN_KINDS:
        return PLAIN_KINDS[entry.kind](params, name=name)
    if entry.kind in WRAPPER_KINDS:
        base = _build(config, entry.base or "", None, (*stack, name))
        return WRAPPER_KINDS[entry.kind](base, params, name=name)
    members = [_build(config, member, None, (*stack, name)) for member in entry.members]
    return ENSEMBLE_KINDS[entry.kind](members, params, name=name)


def _entry_overrides(entry: _Entry, given: Mapping[str, Any]) -> Mapping[str, Any]:
    """Overrides from an entry-shaped mapping (``{kind, params, ...}`` as read from the configuration file).

    Its ``kind``, ``base`` and ``members`` must match the configured entry; its ``params`` are the overrides.
    """
    stray = sorted(set(given) - _ENTRY_KEYS)
    if stray:
        raise DetectorParamsError(
            f"{entry.name}: params mix configuration keys {sorted(set(given) & _ENTRY_KEYS)} with parameter "
            f"name(s) {stray}; pass either plain parameters or the configuration entry"
        )
    expected = {"kind": entry.kind, "base": entry.base, "members": list(entry.members) or None}
    for key, value in expected.items():
        if key in given and (list(given[key]) if key == "members" else given[key]) != value:
            raise DetectorParamsError(f"{entry.name}: params give {key}={given[key]!r}; the entry has {value!r}")
    overrides = given.get("params") or {}
    if not isinstance(overrides, Mapping):
        raise DetectorParamsError(f"{entry.name}: params['params'] must be a mapping, got {type(overrides).__name__}")
    return overrides


def get_detector(name: str, params: Mapping[str, Any] | None = None, *, path: str | Path | None = None) -> Detector:
    """Build the detector configured under ``name`` (``"default"`` for the default one).

    ``params`` override the entry's own parameters (for a wrapper or ensemble, its own, not its members').
    The configuration entry itself (``{"kind": ..., "params": {...}}``, as read from the file) is accepted
    too: its ``kind``/``base``/``members`` must match and its ``params`` become the overrides.
    Raises :class:`UnknownDetectorError` for an unknown name and :class:`DetectorParamsError` for unknown or
    invalid parameters.
    """
    config = load_config(path)
    if not isinstance(name, str):
        raise UnknownDetectorError(f"detector name must be a string, got {type(name).__name__}")
    resolved = config.default if name == DEFAULT_ALIAS else name
    if resolved not in config.entries:
        raise UnknownDetectorError(
            f"unknown detector {name!r}; known detectors: {available_detectors(path)} (from {config.path})"
        )
    if isinstance(params, Mapping) and set(params) & _ENTRY_KEYS:
        params = _entry_overrides(config.entries[resolved], params)
    return _build(config, resolved, params, ())

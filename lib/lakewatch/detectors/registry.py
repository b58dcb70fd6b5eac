"""Detector registry: builds the named detectors of the configuration's detector catalog.

The catalog is section ``detectors:`` of the layered configuration (``conf/detectors.yaml``, read by
:func:`lakewatch.config.load_config` with ``conf/base.yaml``, then ``conf/<env>.yaml`` and ``--set`` overrides;
``LakewatchConfig.detectors``). It maps names to entries::

    default_detector: lakewatch_nab # the detector get_detector("default") returns
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
        threshold: 0.50347          # the flag threshold it was calibrated for (optional)

``get_detector(name, params, catalog=config.detectors)`` builds the named detector; ``params`` override the
entry's own parameters (unknown names are rejected). Without a catalog, the default environment's
configuration (``load_config().detectors``) is used.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lakewatch.config import (
    DEFAULT_DETECTOR_ALIAS,
    DEFAULT_ENV,
    DETECTORS_FILE,
    DetectorCatalog,
    DetectorEntry,
    default_conf_dir,
    load_config,
    validated,
)
from lakewatch.detectors.base import Detector
from lakewatch.detectors.ensemble import EnsembleDetector
from lakewatch.detectors.errors import DetectorConfigError, DetectorParamsError, UnknownDetectorError
from lakewatch.detectors.holt_winters import HoltWintersDetector
from lakewatch.detectors.knn import KnnDetector
from lakewatch.detectors.likelihood import LikelihoodDetector
from lakewatch.detectors.mknn import MultiKnnDetector
from lakewatch.detectors.multivariate import MahalanobisDetector
from lakewatch.detectors.pca import PcaT2QDetector
from lakewatch.detectors.record import RecordDetector
from lakewatch.detectors.robust_zscore import RobustZScoreDetector
from lakewatch.detectors.windowed_gaussian import WindowedGaussianDetector
from lakewatch.errors import ConfigError

DEFAULT_ALIAS = DEFAULT_DETECTOR_ALIAS

PLAIN_KINDS: dict[str, type[Detector]] = {
    cls.kind: cls
    for cls in (
        WindowedGaussianDetector,
        RobustZScoreDetector,
        HoltWintersDetector,
        KnnDetector,
        RecordDetector,
        MahalanobisDetector,
        PcaT2QDetector,
        MultiKnnDetector,
    )
}
WRAPPER_KINDS = {"likelihood": LikelihoodDetector}
ENSEMBLE_KINDS = {"ensemble": EnsembleDetector}
_ENTRY_KEYS = {"kind", "params", "base", "members", "description", "threshold"}
_KINDS: dict[str, type[Detector]] = {**PLAIN_KINDS, **WRAPPER_KINDS, **ENSEMBLE_KINDS}

_DEFAULT: dict[tuple[Any, ...], DetectorCatalog] = {}


def default_catalog() -> DetectorCatalog:
    """The detector catalog of the default configuration (``load_config().detectors``: $LAKEWATCH_ENV or local,
    no overrides), loaded again only when a configuration file changes."""
    conf = default_conf_dir()
    env = os.environ.get("LAKEWATCH_ENV", DEFAULT_ENV)
    key = (str(conf), env, *(_stamp(conf / name) for name in ("base.yaml", DETECTORS_FILE, f"{env}.yaml")))
    if key not in _DEFAULT:
        _DEFAULT.clear()
        _DEFAULT[key] = load_config(env).detectors
    return _DEFAULT[key]


def _stamp(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def check_catalog(catalog: DetectorCatalog) -> None:
    """Check every entry of ``catalog``: its kind, the base or members its kind needs, no cycles, and its
    parameters (by building it). Raises :class:`DetectorConfigError` or a ConfigError naming
    ``detectors.<name>.params.<key>``; lakewatch.config calls it when the configuration is loaded."""
    kinds = sorted(_KINDS)
    for name, entry in catalog.entries.items():
        where = f"detectors.{name}"
        if entry.kind not in _KINDS:
            raise DetectorConfigError(f"{where}.kind={entry.kind!r}: expected one of {kinds}")
        if entry.kind in WRAPPER_KINDS and not entry.base:
            raise DetectorConfigError(f"{where}: kind {entry.kind!r} needs 'base: <detector name>'")
        if entry.kind in ENSEMBLE_KINDS and not entry.members:
            raise DetectorConfigError(f"{where}: kind {entry.kind!r} needs 'members: [<detector name>, ...]'")
        if entry.kind not in WRAPPER_KINDS and entry.base is not None:
            raise DetectorConfigError(f"{where}: kind {entry.kind!r} takes no 'base'")
        if entry.kind not in ENSEMBLE_KINDS and entry.members:
            raise DetectorConfigError(f"{where}: kind {entry.kind!r} takes no 'members'")
    for name in catalog.entries:
        _build(catalog, name, None, (), ConfigError)


def available_detectors(catalog: DetectorCatalog | None = None) -> list[str]:
    """Names that :func:`get_detector` accepts (``"default"`` included), sorted."""
    return (catalog or default_catalog()).names()


def default_detector_name(catalog: DetectorCatalog | None = None) -> str:
    """The name of the configured default detector."""
    return (catalog or default_catalog()).default


def _build(catalog: DetectorCatalog, name: str, overrides: Mapping[str, Any] | None, stack: tuple[str, ...],
           error: type[Exception], channels: int | None = None, healthy_scale: float | None = None) -> Detector:
    if name in stack:
        raise DetectorConfigError(f"detectors.{name} refers to itself through {' -> '.join((*stack, name))}")
    entry = catalog.entries[name]
    params = dict(entry.params)
    if overrides:
        if not isinstance(overrides, Mapping):
            raise DetectorParamsError(f"{name}: params must be a mapping, got {type(overrides).__name__}")
        params.update(overrides)
    cls = _KINDS[entry.kind]
    if channels is not None and entry.kind in PLAIN_KINDS:
        if not _has_field(entry.kind, "channels"):
            raise DetectorParamsError(
                f"{name}: asked for {channels} channels; kind {entry.kind!r} is univariate (one channel)"
            )
        params["channels"] = channels
    if healthy_scale is not None and entry.kind not in ENSEMBLE_KINDS and _multichannel(catalog, name):
        _scaled_healthy(entry.kind, params, healthy_scale)
    where = f"detectors.{name}.params" if error is ConfigError else name
    checked = validated(cls.params_type, params, where, error=error)
    if entry.kind in PLAIN_KINDS:
        return cls(checked, name=name)
    if entry.kind in WRAPPER_KINDS:
        base = _build(catalog, entry.base or "", None, (*stack, name), error, channels, healthy_scale)
        return cls(base, checked, name=name)
    members = [_build(catalog, member, None, (*stack, name), error, channels, healthy_scale)
               for member in entry.members]
    return cls(members, checked, name=name)


def _entry_overrides(name: str, entry: DetectorEntry, given: Mapping[str, Any]) -> Mapping[str, Any]:
    """Overrides from an entry-shaped mapping (``{kind, params, ...}`` as in the configuration).

    Its ``kind``, ``base`` and ``members`` must match the configured entry; its ``params`` are the overrides.
    """
    stray = sorted(set(given) - _ENTRY_KEYS)
    if stray:
        raise DetectorParamsError(
            f"{name}: params mix configuration keys {sorted(set(given) & _ENTRY_KEYS)} with parameter "
            f"name(s) {stray}; pass either plain parameters or the configuration entry"
        )
    expected = {"kind": entry.kind, "base": entry.base, "members": list(entry.members) or None}
    for key, value in expected.items():
        if key in given and (list(given[key]) if key == "members" else given[key]) != value:
            raise DetectorParamsError(f"{name}: params give {key}={given[key]!r}; the entry has {value!r}")
    overrides = given.get("params") or {}
    if not isinstance(overrides, Mapping):
        raise DetectorParamsError(f"{name}: params['params'] must be a mapping, got {type(overrides).__name__}")
    return overrides


def get_detector(name: str, params: Mapping[str, Any] | None = None, *,
                 catalog: DetectorCatalog | None = None, channels: int | None = None,
                 healthy_rows: int | None = None) -> Detector:
    """Build the detector configured under ``name`` (``"default"`` for the default one) in ``catalog``
    (``config.detectors``; None: the default configuration's, see :func:`default_catalog`).

    ``params`` override the entry's own parameters (for a wrapper or ensemble, its own, not its members').
    The configuration entry itself (``{"kind": ..., "params": {...}}``) is accepted too: its
    ``kind``/``base``/``members`` must match and its ``params`` become the overrides.
    ``channels`` sets the channel count of every multichannel detector inside (an entity's channels: the
    catalog's ``channels`` is a default); asking a univariate detector for more than one channel is a
    :class:`DetectorParamsError`.
    ``healthy_rows`` fits the healthy start of every multichannel detector inside into an entity's first
    ``healthy_rows`` rows (see :func:`healthy_start_rows`); univariate detectors, which learn online, are left as
    they are.
    Raises :class:`UnknownDetectorError` for an unknown name and :class:`DetectorParamsError` for unknown or
    invalid parameters.
    """
    catalog = catalog or default_catalog()
    if not isinstance(name, str):
        raise UnknownDetectorError(f"detector name must be a string, got {type(name).__name__}")
    resolved = catalog.resolve(name)
    if resolved not in catalog.entries:
        raise UnknownDetectorError(
            f"unknown detector {name!r}; known detectors: {catalog.names()} (conf/{DETECTORS_FILE})"
        )
    if isinstance(params, Mapping) and set(params) & _ENTRY_KEYS:
        params = _entry_overrides(resolved, catalog.entries[resolved], params)
    if channels is not None and (isinstance(channels, bool) or not isinstance(channels, int) or channels < 1):
        raise DetectorParamsError(f"{resolved}: channels={channels!r}; expected a positive integer")
    if healthy_rows is not None and (isinstance(healthy_rows, bool) or not isinstance(healthy_rows, int)
                                     or healthy_rows < MIN_HEALTHY_ROWS):
        raise DetectorParamsError(f"{resolved}: healthy_rows={healthy_rows!r}; expected a whole number of rows, "
                                  f"at least {MIN_HEALTHY_ROWS}")
    configured = healthy_start_rows(resolved, catalog) if healthy_rows is not None else None
    scale = healthy_rows / configured if configured else None
    det = _build(catalog, resolved, params, (), DetectorParamsError,
                 None if channels is None or (channels == 1 and not _multichannel(catalog, resolved)) else channels,
                 scale)
    return det


MIN_HEALTHY_ROWS = 20
# Row counts of a multichannel detector's healthy start: the plain detector's own, then its likelihood's.
_HEALTHY_PLAIN = ("train_rows",)
_HEALTHY_LIKELIHOOD = ("learning_rows", "warmup_rows", "freeze_after_rows")


def healthy_start_rows(name: str, catalog: DetectorCatalog | None = None) -> int | None:
    """How many of an entity's first rows the named detector's multichannel parts learn "healthy" from, as
    configured: the largest ``train_rows`` of a multichannel detector inside, or of a likelihood over one its
    ``freeze_after_rows`` (the row its calibration stops learning at) when that is later. None for a detector
    without multichannel parts.

    ``get_detector(..., healthy_rows=n)`` scales every one of these row counts (and the likelihood's
    ``learning_rows`` and ``warmup_rows``) by ``n / healthy_start_rows``, so the whole healthy start, in its
    configured proportions, ends at row ``n`` (the evaluate job's ``--train-rows``).
    """
    catalog = catalog or default_catalog()
    entry = catalog.entries[catalog.resolve(name)]
    if entry.kind in PLAIN_KINDS:
        if not _multichannel(catalog, catalog.resolve(name)) or not _has_field(entry.kind, "train_rows"):
            return None
        return int(entry.params.get("train_rows", _param_default(entry.kind, "train_rows")))
    if entry.kind in WRAPPER_KINDS:
        base = healthy_start_rows(entry.base or "", catalog)
        if base is None:
            return None
        freeze = int(entry.params.get("freeze_after_rows", _param_default(entry.kind, "freeze_after_rows")))
        return max(base, freeze)
    found = [rows for member in entry.members if (rows := healthy_start_rows(member, catalog)) is not None]
    return max(found) if found else None


def _has_field(kind: str, field: str) -> bool:
    return field in {f.name for f in dataclasses.fields(_KINDS[kind].params_type)}


def _param_default(kind: str, field: str) -> Any:
    return next(f.default for f in dataclasses.fields(_KINDS[kind].params_type) if f.name == field)


def _scaled_healthy(kind: str, params: dict[str, Any], scale: float) -> None:
    """Scale a multichannel detector's (or its likelihood's) healthy-start row counts in place."""
    names = _HEALTHY_PLAIN if kind in PLAIN_KINDS else _HEALTHY_LIKELIHOOD
    for field in (name for name in names if _has_field(kind, name)):
        value = int(params.get(field, _param_default(kind, field)))
        if value > 0:
            params[field] = max(10, round(value * scale))
    if kind in WRAPPER_KINDS and "learning_rows" in params:
        params["warmup_rows"] = max(params["warmup_rows"], params["learning_rows"] + 1)


def _multichannel(catalog: DetectorCatalog, name: str) -> bool:
    """Whether the named entry has a plain detector with a ``channels`` parameter inside."""
    entry = catalog.entries[name]
    if entry.kind in PLAIN_KINDS:
        return _has_field(entry.kind, "channels")
    return any(_multichannel(catalog, child) for child in ([entry.base] if entry.base else list(entry.members)))

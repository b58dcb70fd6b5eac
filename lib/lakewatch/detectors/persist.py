"""Saving a detector to a directory and loading it back: ``save_detector`` / ``load_detector``.

The directory holds ``detector.json``::

    {"format": 1, "name": "lakewatch_nab", "kind": "ensemble", "params": {...}, "loader": null,
     "fingerprint": "...", "children": {"m0": {"name": ..., "kind": ..., "params": ..., "children": ...}, ...}}

A registry detector (conf/detectors.yaml) has ``loader: null`` and is rebuilt with ``get_detector(name, params)``.
Because a wrapper's or ensemble's members come from the configuration, it may have changed since
the detector was saved: when the rebuilt detector's fingerprint differs from the saved one (or the name is no
longer configured), the detector is rebuilt from the saved tree of kinds and parameters instead, so loading
gives back exactly the detector that was saved or fails naming the difference.

A detector with a ``save_artifacts(directory) -> "module:function"`` method (the deep detectors) writes its own
files; the returned loader is stored and ``load_detector`` calls it with the directory.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lakewatch.config import DetectorCatalog
from lakewatch.detectors.base import Detector
from lakewatch.detectors.errors import DetectorError, UnknownDetectorError
from lakewatch.detectors.registry import ENSEMBLE_KINDS, PLAIN_KINDS, WRAPPER_KINDS, get_detector

FORMAT_VERSION = 1
SPEC_FILE = "detector.json"


class DetectorPersistError(DetectorError, ValueError):
    """A saved detector directory is missing, malformed, or does not rebuild to the detector that was saved."""


def _params_of(detector: Detector) -> dict[str, Any]:
    params = detector.params
    values = params.as_dict() if hasattr(params, "as_dict") else dict(params or {})
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def _tree(detector: Detector) -> dict[str, Any]:
    return {
        "name": detector.name,
        "kind": detector.kind,
        "params": _params_of(detector),
        "children": {key: _tree(child) for key, child in detector.children().items()},
    }


def save_detector(detector: Detector, directory: str | Path) -> Path:
    """Write ``detector`` to ``directory`` (created if needed) as ``detector.json`` plus any files the detector
    writes itself; returns the directory. Loading it with :func:`load_detector` gives an equal detector."""
    if not isinstance(detector, Detector):
        raise DetectorPersistError(f"save_detector: expected a Detector, got {type(detector).__name__}")
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    loader = None
    if callable(getattr(detector, "save_artifacts", None)):
        loader = detector.save_artifacts(target)
        if not isinstance(loader, str) or ":" not in loader:
            raise DetectorPersistError(
                f"{detector.name}: save_artifacts returned {loader!r}; expected a 'module:function' loader path"
            )
    spec = {"format": FORMAT_VERSION, **_tree(detector), "loader": loader, "fingerprint": detector.fingerprint}
    (target / SPEC_FILE).write_text(json.dumps(spec, indent=2, sort_keys=True, default=_json_default))
    return target


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"parameter value {value!r} of type {type(value).__name__} is not JSON serialisable")


def read_spec(directory: str | Path) -> dict[str, Any]:
    """The parsed ``detector.json`` of a saved detector directory, checked for its format version."""
    file = Path(directory) / SPEC_FILE
    if not file.is_file():
        raise DetectorPersistError(f"{directory}: no {SPEC_FILE} there; expected a directory written by save_detector")
    try:
        spec = json.loads(file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DetectorPersistError(f"{file}: not valid JSON ({exc})") from exc
    if not isinstance(spec, Mapping) or spec.get("format") != FORMAT_VERSION:
        found = spec.get("format") if isinstance(spec, Mapping) else type(spec).__name__
        raise DetectorPersistError(f"{file}: format {found!r}; this library reads format {FORMAT_VERSION}")
    for key in ("name", "kind", "params"):
        if key not in spec:
            raise DetectorPersistError(f"{file}: missing key {key!r}")
    return dict(spec)


def _call_loader(loader: str, directory: Path) -> Detector:
    module_name, _, function = loader.partition(":")
    try:
        func = getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError) as exc:
        raise DetectorPersistError(f"{directory}: loader {loader!r} cannot be imported ({exc})") from exc
    detector = func(directory)
    if not isinstance(detector, Detector):
        raise DetectorPersistError(f"{directory}: loader {loader!r} returned {type(detector).__name__}, not a Detector")
    return detector


def _from_tree(node: Mapping[str, Any], where: str) -> Detector:
    kind, name, params = node.get("kind"), node.get("name"), node.get("params")
    children = [_from_tree(child, f"{where}/{key}") for key, child in sorted((node.get("children") or {}).items(),
                                                                              key=lambda kv: _child_order(kv[0]))]
    if kind in PLAIN_KINDS and not children:
        return PLAIN_KINDS[kind](params, name=name)
    if kind in WRAPPER_KINDS and len(children) == 1:
        return WRAPPER_KINDS[kind](children[0], params, name=name)
    if kind in ENSEMBLE_KINDS and children:
        return ENSEMBLE_KINDS[kind](children, params, name=name)
    raise DetectorPersistError(f"{where}: cannot rebuild kind {kind!r} with {len(children)} child detector(s)")


def _child_order(key: str) -> tuple[int, str]:
    digits = key.lstrip("m")
    return (int(digits), key) if digits.isdigit() else (0, key)


def load_detector(directory: str | Path, *, catalog: DetectorCatalog | None = None) -> Detector:
    """Rebuild the detector saved by :func:`save_detector` in ``directory`` (a registry detector through
    ``catalog``, the configuration's detector catalog; None: the default configuration's).

    Raises :class:`DetectorPersistError` when the directory is not a saved detector or the rebuilt detector's
    fingerprint differs from the saved one.
    """
    root = Path(directory)
    spec = read_spec(root)
    if spec.get("loader"):
        return _call_loader(str(spec["loader"]), root)
    saved = spec.get("fingerprint")
    try:
        detector = get_detector(str(spec["name"]), spec["params"], catalog=catalog)
    except UnknownDetectorError:
        detector = None
    if detector is not None and (saved is None or detector.fingerprint == saved):
        return detector
    if not spec.get("children") and detector is None and spec["kind"] not in PLAIN_KINDS:
        raise DetectorPersistError(f"{root}: detector {spec['name']!r} is not configured and has no saved tree")
    rebuilt = _from_tree(spec, str(root / SPEC_FILE))
    if saved is not None and rebuilt.fingerprint != saved:
        raise DetectorPersistError(
            f"{root}: detector {spec['name']!r} rebuilds with fingerprint {rebuilt.fingerprint}; saved {saved}"
        )
    return rebuilt

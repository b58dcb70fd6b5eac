"""Reading and writing NAB's files: label windows, cost profiles, thresholds and results directories.

A results directory follows NAB's layout, ``<results_dir>/<detector>/<category>/<detector>_<file>.csv``
with columns timestamp,value,anomaly_score,label; files are keyed as in the label files,
``"<category>/<file>.csv"``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from lakewatch.evaluation.nab_scoring import (
    CostProfile,
    NabDataError,
    NabFileNotFoundError,
    WindowLimits,
    window_spans,
)

_RESULT_COLUMNS = ("timestamp", "value", "anomaly_score")
_COST_KEYS = {"tp_weight": "tpWeight", "fp_weight": "fpWeight", "fn_weight": "fnWeight", "tn_weight": "tnWeight"}


def _read_json(path: str | Path, what: str) -> object:
    path = Path(path)
    if not path.is_file():
        raise NabFileNotFoundError(f"{what} file {path} does not exist")
    try:
        return json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NabDataError(f"{what} file {path} is not valid JSON ({exc})") from exc


def _timestamp(text: object, where: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(text)
    except (TypeError, ValueError) as exc:
        raise NabDataError(f"{where}: {text!r} is not a timestamp") from exc
    if pd.isna(stamp):
        raise NabDataError(f"{where}: {text!r} is not a timestamp")
    return stamp


def load_windows(path: str | Path) -> dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]]:
    """Read a NAB windows file (a corpus' ``NabCorpus.windows_file``).

    Returns ``{"category/file.csv": [(start, end), ...]}`` with inclusive limits as timestamps, in file
    order. Raises :class:`NabFileNotFoundError` or :class:`NabDataError` naming the file and the entry.
    """
    raw = _read_json(path, "windows")
    if not isinstance(raw, dict):
        raise NabDataError(f"windows file {path} must hold an object keyed by file, not {type(raw).__name__}")
    windows: dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]] = {}
    for key, entries in raw.items():
        where = f"windows file {path}, entry {key!r}"
        if not isinstance(entries, list):
            raise NabDataError(f"{where}: expected a list of [start, end] pairs, got {type(entries).__name__}")
        limits = []
        for entry in entries:
            if not isinstance(entry, list | tuple) or len(entry) != 2:
                raise NabDataError(f"{where}: expected a [start, end] pair, got {entry!r}")
            start, end = _timestamp(entry[0], where), _timestamp(entry[1], where)
            if start > end:
                raise NabDataError(f"{where}: window {entry!r} ends before it starts")
            limits.append((start, end))
        windows[key] = limits
    return windows


def _weight(matrix: Mapping[str, object], key: str, where: str) -> float:
    value = matrix[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise NabDataError(f"{where}: {key} must be a finite number, got {value!r}")
    return float(value)


def load_profiles(path: str | Path) -> dict[str, CostProfile]:
    """Read a NAB profiles file (``NabCorpus.profiles_file``): ``{name: {"CostMatrix": {"tpWeight": ..., ...}}}``.

    All four weights (tpWeight, fpWeight, fnWeight, tnWeight) are required. Returns ``{name: CostProfile}``
    in file order.
    """
    raw = _read_json(path, "profiles")
    if not isinstance(raw, dict) or not raw:
        raise NabDataError(f"profiles file {path} must hold a non-empty object keyed by profile name")
    profiles = {}
    for name, body in raw.items():
        where = f"profiles file {path}, profile {name!r}"
        matrix = body.get("CostMatrix") if isinstance(body, dict) else None
        if not isinstance(matrix, dict):
            raise NabDataError(f"{where}: expected an object with a 'CostMatrix' object")
        missing = sorted(key for key in _COST_KEYS.values() if key not in matrix)
        if missing:
            raise NabDataError(f"{where}: CostMatrix lacks {missing}")
        weights = {field: _weight(matrix, key, where) for field, key in _COST_KEYS.items()}
        profiles[name] = CostProfile(name=name, **weights)
    return profiles


def load_thresholds(path: str | Path) -> dict[str, dict[str, float]]:
    """Read a NAB thresholds file (``NabCorpus.thresholds_file``): ``{detector: {profile: {"threshold": t, ...}}}``.

    Returns ``{detector: {profile: threshold}}``.
    """
    raw = _read_json(path, "thresholds")
    if not isinstance(raw, dict):
        raise NabDataError(f"thresholds file {path} must hold an object keyed by detector")
    thresholds: dict[str, dict[str, float]] = {}
    for detector, by_profile in raw.items():
        if not isinstance(by_profile, dict):
            raise NabDataError(f"thresholds file {path}, detector {detector!r}: expected an object keyed by profile")
        thresholds[detector] = {}
        for profile, entry in by_profile.items():
            where = f"thresholds file {path}, {detector!r}/{profile!r}"
            if not isinstance(entry, dict) or "threshold" not in entry:
                raise NabDataError(f"{where}: expected an object with a 'threshold'")
            thresholds[detector][profile] = _weight(entry, "threshold", where)
    return thresholds


def _check_key(key: str) -> tuple[str, str]:
    parts = key.split("/")
    if len(parts) != 2 or not all(parts) or not parts[1].endswith(".csv"):
        raise NabDataError(f"file key {key!r} must look like 'category/file.csv'")
    return parts[0], parts[1]


def _read_result_file(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise NabDataError(f"results file {path} cannot be read as CSV ({exc})") from exc
    missing = [column for column in _RESULT_COLUMNS if column not in frame.columns]
    if missing:
        raise NabDataError(f"results file {path} lacks column(s) {missing}; it has {list(frame.columns)}")
    columns = [*_RESULT_COLUMNS, "label"] if "label" in frame.columns else list(_RESULT_COLUMNS)
    frame = frame[columns].copy()
    try:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    except (TypeError, ValueError) as exc:
        raise NabDataError(f"results file {path}: timestamp column cannot be parsed ({exc})") from exc
    return frame


def read_results_dir(results_dir: str | Path, detector: str) -> dict[str, pd.DataFrame]:
    """Read one detector's per-file outputs from a NAB-layout results directory.

    Looks in ``<results_dir>/<detector>/<category>/<detector>_<file>.csv`` (the per-profile score tables
    one level up are ignored). Returns ``{"category/file.csv": frame}`` sorted by key, each frame with
    columns timestamp (datetime64), value, anomaly_score and label when the file has one.
    """
    detector_dir = Path(results_dir) / detector
    if not Path(results_dir).is_dir():
        raise NabFileNotFoundError(f"results directory {results_dir} does not exist")
    if not detector_dir.is_dir():
        raise NabFileNotFoundError(f"results directory {results_dir} has no folder for detector {detector!r}")
    prefix = f"{detector}_"
    frames = {}
    for path in sorted(detector_dir.glob("*/*.csv")):
        if not path.name.startswith(prefix):
            raise NabDataError(f"results file {path} is not named {prefix}<file>.csv")
        frames[f"{path.parent.name}/{path.name.removeprefix(prefix)}"] = _read_result_file(path)
    if not frames:
        raise NabDataError(f"results directory {detector_dir} holds no <category>/{prefix}<file>.csv file")
    return frames


def point_labels(timestamps: pd.Series, windows: WindowLimits, key: str) -> np.ndarray:
    """1 for each of a file's (time-ordered) timestamps inside one of its labelled windows, else 0."""
    stamps = pd.DatetimeIndex(pd.to_datetime(timestamps)).to_numpy(dtype="datetime64[ns]")
    labels = np.zeros(len(stamps), dtype=np.int64)
    for first, last in window_spans(stamps, windows, key):
        labels[first : last + 1] = 1
    return labels


def write_results_dir(
    results_dir: str | Path,
    detector: str,
    frames: Mapping[str, pd.DataFrame],
    windows: Mapping[str, WindowLimits],
) -> list[Path]:
    """Write a detector's outputs in NAB's layout, one CSV per file key, overwriting existing files.

    Each frame needs timestamp, value and anomaly_score; the label column is recomputed from
    ``windows`` (1 on rows inside a window). Returns the written paths in key order.
    """
    written = []
    for key in sorted(frames):
        category, name = _check_key(key)
        frame = frames[key]
        missing = [column for column in _RESULT_COLUMNS if column not in frame.columns]
        if missing:
            raise NabDataError(f"{key}: frame lacks column(s) {missing}; it has {list(frame.columns)}")
        if key not in windows:
            raise NabDataError(f"{key}: file key has no entry in the windows (a file without anomalies needs [])")
        path = Path(results_dir) / detector / category / f"{detector}_{name}"
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_result_file(path, frame, point_labels(frame["timestamp"], windows[key], key))
        written.append(path)
    return written


def _write_result_file(path: Path, frame: pd.DataFrame, labels: np.ndarray) -> None:
    """One NAB results CSV (timestamp,value,anomaly_score,label), written by Arrow's CSV writer: pandas'
    to_csv formats each value in Python and holds the GIL for seconds over the corpus."""
    stamps = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"])).to_numpy(dtype="datetime64[ns]")
    whole_seconds = not (stamps.astype("int64") % 1_000_000_000).any()
    table = pa.table({"timestamp": pa.array(stamps.astype("datetime64[s]" if whole_seconds else "datetime64[us]")),
                      "value": pa.array(frame["value"].to_numpy(dtype="float64")),
                      "anomaly_score": pa.array(frame["anomaly_score"].to_numpy(dtype="float64")),
                      "label": pa.array(labels, pa.int64())})
    with path.open("wb") as out:
        out.write((",".join(table.column_names) + "\n").encode())
        pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=False))

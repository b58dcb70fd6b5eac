"""The detector interface shared by batch jobs and the streaming job.

A :class:`Detector` holds frozen parameters. For each series it creates a fresh :class:`DetectorState`
(:meth:`Detector.new_state`) and scores the series batch by batch with
``update(state, values, timestamps) -> (scores, new_state)``:

* ``values``: float64, shape ``(n,)`` (univariate) or ``(n, channels)`` (multivariate);
* ``timestamps``: int64 epoch nanoseconds (``datetime64[ns]`` is accepted), shape ``(n,)``. Rows are
  processed in the order given (that order is what "causal" refers to); timestamps are checked for shape and
  type and the last one is kept in the state, but they are not required to increase, because real feeds
  repeat and step back (NAB's machine_temperature file steps back 55 minutes);
* ``scores``: float64 in ``[0, 1]``, shape ``(n,)``; the score of a row uses only that row and earlier ones.

Every detector processes points strictly one after another through its kernel, so feeding a series in one
batch or in any split (down to single points, with the state round-tripped through bytes in between) gives
the same scores. A row with any non-finite value scores 0 and is not fed to the model: the model arrays are
left unchanged, only the ordering bookkeeping (last timestamp, counters) advances. Detectors whose
``partial_rows`` is true (the multichannel ones) instead receive rows with *some* finite channels, the missing
ones as NaN, and say in their docstring how they score them; a row with no finite channel still scores 0.

State is a tree of numpy arrays of bounded size (no unbounded history); :meth:`Detector.state_to_bytes`
serialises it with a format version that :meth:`Detector.state_from_bytes` checks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import struct
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from lakewatch.config import validated
from lakewatch.detectors.errors import DetectorInputError, DetectorParamsError, StateError, StateVersionError

STATE_FORMAT_VERSION = 1
# Flagging policies (a detector setting, see likelihood.py and ensemble.py): "onset" flags a fault's start and
# then stays quiet (NAB's rules), "hold" flags every row while the fault lasts (plant faults are segments).
FLAGGING = ("onset", "hold")
_MAGIC = b"LWDS"
_HEADER = struct.Struct("<4sHI")  # magic, format version, header length
_META = "__meta__"  # [last timestamp, rows seen, non-finite rows skipped]
_NO_TIMESTAMP = np.iinfo(np.int64).min

ArrayTree = dict[str, Any]  # nested dict whose leaves are numpy arrays


@dataclass(frozen=True)
class _Layout:
    """A state header already checked by state_from_bytes: the detector name it carries and, per array in
    header order, (array path, dtype string, shape, element count, byte offset in the state)."""

    detector: str
    leaves: tuple[tuple[str, str, tuple[int, ...], int, int], ...]
    body_size: int


# Caches of the state (de)serialisation, bounded (a process sees a handful of detectors): checked layouts by
# (detector name, kind, fingerprint, header bytes), expected arrays by (kind, fingerprint), and header bytes.
_MAX_LAYOUTS = 256
_LAYOUTS: dict[tuple[str, str, str, bytes], _Layout] = {}
_EXPECTED: dict[tuple[str, str], dict[str, tuple[str, list[int]]]] = {}
_HEADS: dict[tuple[Any, ...], bytes] = {}


@dataclass(frozen=True)
class DetectorState:
    """The state of one detector for one series; treat it as immutable (``update`` returns a new one).

    ``detector`` is the detector's name, ``fingerprint`` a hash of its kind and parameters (a state is only
    accepted by a detector with the same fingerprint), ``arrays`` the tree of numpy arrays.
    """

    detector: str
    fingerprint: str
    arrays: ArrayTree

    @property
    def nbytes(self) -> int:
        """Total bytes of the state's arrays (its in-memory footprint, bounded by the parameters)."""
        return sum(leaf.nbytes for _, leaf in _flatten(self.arrays))

    @property
    def last_timestamp(self) -> int | None:
        """The last timestamp (epoch ns) the state has seen, or None for a fresh state."""
        last = int(self.arrays[_META][0])
        return None if last == _NO_TIMESTAMP else last

    @property
    def rows_seen(self) -> int:
        """Rows passed to ``update`` so far, non-finite ones included."""
        return int(self.arrays[_META][1])


@dataclass(frozen=True)
class DetectorParams:
    """Base class of detector parameter sets: frozen dataclasses validated on construction.

    ``FINGERPRINT_NEUTRAL`` names parameters added after detectors were deployed, with the value that keeps the
    old behaviour: at that value they are left out of the fingerprint, so states and model versions written
    before the parameter existed stay valid.
    """

    FINGERPRINT_NEUTRAL: ClassVar[dict[str, Any]] = {}

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`DetectorParamsError` when a value is out of range; subclasses extend it."""

    def as_dict(self) -> dict[str, Any]:
        """The parameters as a plain dict (tuples stay tuples)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def check_range(owner: str, name: str, value: float, low: float | None = None, high: float | None = None) -> None:
    """Raise :class:`DetectorParamsError` unless ``low <= value <= high`` (bounds optional)."""
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise DetectorParamsError(f"{owner}: parameter {name}={value!r} is out of range; expected a value in {bounds}")


def make_params(params_type: type[DetectorParams], params: Mapping[str, Any] | DetectorParams | None, owner: str):
    """Build a ``params_type`` instance from a mapping with :func:`lakewatch.config.validated` (unknown names
    rejected, YAML/JSON values converted to the declared types, bounds and cross-field checks applied).

    ``owner`` names the detector in :class:`DetectorParamsError` messages. A ready ``params_type`` instance is
    returned unchanged; missing names take the dataclass defaults.
    """
    if params is None:
        return params_type()
    if isinstance(params, params_type):
        return params
    if not isinstance(params, Mapping):
        raise DetectorParamsError(f"{owner}: params must be a mapping, got {type(params).__name__}")
    return validated(params_type, params, owner, error=DetectorParamsError)


def _flatten(tree: ArrayTree, prefix: str = "") -> list[tuple[str, np.ndarray]]:
    out: list[tuple[str, np.ndarray]] = []
    for key in sorted(tree):
        value = tree[key]
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.extend(_flatten(value, path + "/"))
        else:
            out.append((path, value))
    return out


def _copy_tree(tree: ArrayTree) -> ArrayTree:
    return {k: _copy_tree(v) if isinstance(v, dict) else v.copy() for k, v in tree.items()}


def scratch_copy(arrays: ArrayTree) -> tuple[ArrayTree, list[tuple[np.ndarray, np.ndarray]]]:
    """A copy of ``arrays`` and its (copy leaf, original leaf) pairs, to refill the copy in place
    (``dst[...] = src``) before each of many evaluations from the same state: no allocation per evaluation."""
    scratch = _copy_tree(arrays)
    return scratch, [(dst, src) for (_, dst), (_, src) in zip(_flatten(scratch), _flatten(arrays), strict=True)]


def scratch_intact(scratch: ArrayTree, pairs: list[tuple[np.ndarray, np.ndarray]]) -> bool:
    """False when a kernel rebound an array of ``scratch`` instead of updating it in place (the refilled copy
    would then be stale: callers fall back to a fresh copy per evaluation)."""
    return all(dst is leaf for (dst, _), (_, leaf) in zip(pairs, _flatten(scratch), strict=True))


def per_window(fn, arrays: ArrayTree, windows: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """``fn(arrays copy, window, ts)`` for each window, each from the same state (``arrays`` unchanged), stacked."""
    scratch, pairs = scratch_copy(arrays)
    outs = []
    for window in windows:
        for dst, src in pairs:
            dst[...] = src
        outs.append(fn(scratch, window, ts))
    if not scratch_intact(scratch, pairs):
        outs = [fn(_copy_tree(arrays), window, ts) for window in windows]
    return np.stack(outs) if outs else np.empty((0, windows.shape[1]))


def _set_path(tree: ArrayTree, path: str, value: np.ndarray) -> None:
    *parents, leaf = path.split("/")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


class Detector(ABC):
    """A streaming anomaly detector with frozen parameters and explicit, serialisable per-series state."""

    kind: ClassVar[str] = "detector"
    params_type: ClassVar[type[DetectorParams]] = DetectorParams
    multivariate: ClassVar[bool] = False

    def __init__(self, params: Mapping[str, Any] | DetectorParams | None = None, *, name: str | None = None) -> None:
        self._name = name or self.kind
        self._params = make_params(self.params_type, params, self._name)
        self._fingerprint: str | None = None

    # ----------------------------------------------------------------------------------------- properties
    @property
    def name(self) -> str:
        """The detector's name (its registry name when built through the registry)."""
        return self._name

    @property
    def params(self) -> DetectorParams:
        """The frozen parameter set."""
        return self._params

    @property
    def channels(self) -> int:
        """Number of value channels the detector expects (1 for univariate detectors)."""
        return 1

    @property
    def partial_rows(self) -> bool:
        """Whether rows with some non-finite channels reach :meth:`_score` (as NaN) instead of scoring 0."""
        return False

    @property
    def raw_channels(self) -> int:
        """Number of raw channels :meth:`_raw` returns (1 unless a detector reports several)."""
        return 1

    def children(self) -> dict[str, Detector]:
        """Wrapped detectors, by the key their state lives under (empty for plain detectors)."""
        return {}

    @property
    def fingerprint(self) -> str:
        """A short hash of the kind, parameters and children: states only move between equal fingerprints."""
        if self._fingerprint is None:
            payload = {
                "kind": self.kind,
                "params": {
                    key: value
                    for key, value in self._params.as_dict().items()
                    if key not in self._params.FINGERPRINT_NEUTRAL or self._params.FINGERPRINT_NEUTRAL[key] != value
                },
                "children": {key: child.fingerprint for key, child in self.children().items()},
            }
            digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=repr).encode())
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self._name!r}, params={self._params!r})"

    # ----------------------------------------------------------------------------------------- public API
    def new_state(self) -> DetectorState:
        """A fresh state for a new series (nothing seen yet)."""
        arrays = self._init_arrays()
        arrays[_META] = np.array([_NO_TIMESTAMP, 0, 0], dtype=np.int64)
        return DetectorState(self._name, self.fingerprint, arrays)

    def update(self, state: DetectorState, values: Any, timestamps: Any) -> tuple[np.ndarray, DetectorState]:
        """Score the next batch of a series.

        ``values``: shape ``(n,)`` or ``(n, channels)``; ``timestamps``: int64 epoch ns (or datetime64),
        shape ``(n,)``, rows in arrival order. Returns ``(scores, new_state)``: float64
        scores in ``[0, 1]`` of shape ``(n,)`` and the state after the batch; ``state`` is not modified.
        """
        self._check_state(state)
        x = self._check_values(values)
        ts = self._check_timestamps(timestamps, len(x))
        arrays = _copy_tree(state.arrays)
        scores = np.zeros(len(x), dtype=np.float64)
        if x.ndim == 1:
            finite = np.isfinite(x)
        elif self.partial_rows:
            cells = np.isfinite(x)
            finite = cells.any(axis=1)
            if not cells.all():
                x = np.where(cells, x, np.nan)  # +-inf is missing too
        else:
            finite = np.isfinite(x).all(axis=1)
        n_finite = int(finite.sum())
        if n_finite:
            rows = x[finite] if n_finite < len(x) else x
            stamps = ts[finite] if n_finite < len(x) else ts
            scores[finite] = self._score(arrays, np.ascontiguousarray(rows), np.ascontiguousarray(stamps))
        np.clip(scores, 0.0, 1.0, out=scores)
        meta = arrays[_META]
        if len(ts):
            meta[0] = ts[-1]
        meta[1] += len(x)
        meta[2] += len(x) - n_finite
        return scores, DetectorState(self._name, self.fingerprint, arrays)

    def last_scores(self, state: DetectorState, windows: Any, timestamps: Any) -> np.ndarray:
        """The score of the last row of each window, each fed alone into ``state`` (which is not modified).

        ``windows``: shape ``(k, m)`` or ``(k, m, channels)``, every window ``m`` rows oldest first;
        ``timestamps``: shape ``(m,)``, shared by the windows. ``last_scores(state, w[None], ts)[0]`` equals
        ``update(state, w, ts)[0][-1]`` exactly: the same kernels on a copy of the state, without the per-call
        checks and bookkeeping that ``update`` repeats (this is what explanations evaluate thousands of times).
        """
        self._check_state(state)
        w = np.asarray(windows, dtype=np.float64)
        if w.ndim < 2:
            raise DetectorInputError(f"{self._name}: windows have shape {w.shape}; expected (k, m) or (k, m, c)")
        k, m = w.shape[:2]
        x0 = self._check_values(w[0] if k else w.reshape(m, *w.shape[2:]))
        ts = np.ascontiguousarray(self._check_timestamps(timestamps, m))
        w = np.ascontiguousarray(w.reshape(k, *x0.shape))
        finite = np.isfinite(w) if w.ndim == 2 else np.isfinite(w).all(axis=2)
        whole = finite.all(axis=1)
        if whole.all():
            scores = self._score_windows(state.arrays, w, ts)
            return np.clip(scores[:, -1], 0.0, 1.0)
        out = np.zeros(k)
        for i in range(k):
            if finite[i, -1]:  # a non-finite last row scores 0
                x = w[i] if whole[i] else np.ascontiguousarray(w[i][finite[i]])
                scores = self._score(_copy_tree(state.arrays), x, ts if whole[i] else ts[finite[i]])
                out[i] = np.clip(scores[-1], 0.0, 1.0)
        return out

    def score_series(self, values: Any, timestamps: Any) -> np.ndarray:
        """Score a whole series from a fresh state (convenience for batch jobs and evaluation)."""
        scores, _ = self.update(self.new_state(), values, timestamps)
        return scores

    def state_to_bytes(self, state: DetectorState) -> bytes:
        """Serialise ``state`` (format version :data:`STATE_FORMAT_VERSION`)."""
        self._check_state(state)
        leaves = _flatten(state.arrays)
        key = (state.detector, self.kind, state.fingerprint, tuple((path, leaf.dtype.str, leaf.shape)
                                                                   for path, leaf in leaves))
        head = _HEADS.get(key)
        if head is None:
            header = {
                "detector": state.detector,
                "kind": self.kind,
                "fingerprint": state.fingerprint,
                "arrays": [[path, leaf.dtype.str, list(leaf.shape)] for path, leaf in leaves],
            }
            head = json.dumps(header, separators=(",", ":")).encode()
            if len(_HEADS) < _MAX_LAYOUTS:
                _HEADS[key] = head
        body = b"".join(np.ascontiguousarray(leaf).tobytes() for _, leaf in leaves)
        return _HEADER.pack(_MAGIC, STATE_FORMAT_VERSION, len(head)) + head + body

    def state_from_bytes(self, data: bytes) -> DetectorState:
        """Rebuild a state serialised by :meth:`state_to_bytes` of a detector with the same fingerprint.

        Raises :class:`StateVersionError` when the bytes carry another format version and
        :class:`StateError` when they are malformed or belong to a different detector or parameter set.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise StateError(f"{self._name}: state bytes must be bytes, got {type(data).__name__}")
        data = bytes(data)
        if len(data) < _HEADER.size:
            raise StateError(
                f"{self._name}: state bytes are {len(data)} bytes long; expected a {_HEADER.size}-byte header"
            )
        magic, version, head_len = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise StateError(f"{self._name}: state bytes start with {magic!r}; expected the magic {_MAGIC!r}")
        if version != STATE_FORMAT_VERSION:
            raise StateVersionError(
                f"{self._name}: state bytes have format version {version}; "
                f"this library reads version {STATE_FORMAT_VERSION}"
            )
        head = data[_HEADER.size : _HEADER.size + head_len]
        layout = _LAYOUTS.get((self._name, self.kind, self.fingerprint, head))
        if layout is None or _HEADER.size + head_len + layout.body_size != len(data):
            return self._parse_state(data, head)  # first sight of this header, or bad bytes: full checks
        arrays: ArrayTree = {}
        for path, dtype, shape, count, offset in layout.leaves:
            _set_path(arrays, path, np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape).copy())
        return DetectorState(layout.detector, self.fingerprint, arrays)

    def _parse_state(self, data: bytes, head: bytes) -> DetectorState:
        """state_from_bytes past the fixed header: parse and check the JSON header and every array, and
        remember the checked layout so later states with the same header skip the checks."""
        try:
            header = json.loads(head)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StateError(f"{self._name}: state header is not valid JSON ({exc})") from exc
        if header.get("kind") != self.kind or header.get("fingerprint") != self.fingerprint:
            raise StateError(
                f"{self._name}: state belongs to detector {header.get('detector')!r} (kind {header.get('kind')!r}, "
                f"fingerprint {header.get('fingerprint')!r}); expected kind {self.kind!r}, "
                f"fingerprint {self.fingerprint!r}"
            )
        expected = self._expected_layout()
        start = offset = _HEADER.size + len(head)
        arrays: ArrayTree = {}
        leaves: list[tuple[str, str, tuple[int, ...], int, int]] = []
        for path, dtype, shape in header.get("arrays", []):
            if expected.get(path) != (dtype, shape):
                raise StateError(
                    f"{self._name}: state array {path!r} has dtype {dtype} shape {shape}; "
                    f"expected {expected.get(path, 'no such array')}"
                )
            count = int(math.prod(shape))
            size = count * np.dtype(dtype).itemsize
            if offset + size > len(data):
                raise StateError(f"{self._name}: state bytes end inside array {path!r}; the data is truncated")
            _set_path(arrays, path, np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape).copy())
            leaves.append((path, dtype, tuple(shape), count, offset))
            offset += size
        missing = sorted(set(expected) - {path for path, _ in _flatten(arrays)})
        if missing or offset != len(data):
            raise StateError(
                f"{self._name}: state bytes lack array(s) {missing} or carry {len(data) - offset} unexpected byte(s)"
            )
        detector = str(header.get("detector", self._name))
        if len(_LAYOUTS) < _MAX_LAYOUTS:
            _LAYOUTS[(self._name, self.kind, self.fingerprint, head)] = _Layout(detector, tuple(leaves), offset - start)
        return DetectorState(detector, self.fingerprint, arrays)

    def _expected_layout(self) -> dict[str, tuple[str, list[int]]]:
        """{array path: (dtype string, shape)} of this detector's states (those of a fresh state)."""
        key = (self.kind, self.fingerprint)
        if key not in _EXPECTED:
            leaves = _flatten(self.new_state().arrays)
            _EXPECTED[key] = {path: (leaf.dtype.str, list(leaf.shape)) for path, leaf in leaves}
        return _EXPECTED[key]

    # ------------------------------------------------------------------------------ hooks for subclasses
    @abstractmethod
    def _init_arrays(self) -> ArrayTree:
        """The model arrays of a fresh state."""

    @abstractmethod
    def _score(self, arrays: ArrayTree, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Score finite rows ``x`` (``(m,)`` or ``(m, channels)``) in order, updating ``arrays`` in place."""

    def _score_windows(self, arrays: ArrayTree, windows: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Scores ``(k, m)`` of every row of each finite window, each window scored by :meth:`_score` from its own
        copy of ``arrays`` (left unchanged). Composite detectors override it to pay their per-call costs once
        per batch; the result must equal the loop exactly."""
        return per_window(self._score, arrays, windows, ts)

    def _raw_windows(self, arrays: ArrayTree, windows: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """:meth:`_raw` of each window from its own copy of ``arrays``: shape ``(k, m, raw channels)``."""
        return per_window(self._raw, arrays, windows, ts)

    def _raw(self, arrays: ArrayTree, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """Raw anomaly channels in ``[0, 1]``, shape ``(m, k)``, for post-processors such as the likelihood.

        The default is the detector's score as a single channel; detectors with several natural channels
        (e.g. one per time scale) override it.
        """
        return self._score(arrays, x, ts)[:, None]

    # ------------------------------------------------------------------------------------------ checks
    def _check_state(self, state: DetectorState) -> None:
        if not isinstance(state, DetectorState):
            raise StateError(f"{self._name}: state must be a DetectorState, got {type(state).__name__}")
        if state.fingerprint != self.fingerprint:
            raise StateError(
                f"{self._name}: state was made by detector {state.detector!r} with fingerprint "
                f"{state.fingerprint!r}; expected fingerprint {self.fingerprint!r} (same kind and parameters)"
            )

    def _check_values(self, values: Any) -> np.ndarray:
        try:
            x = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DetectorInputError(f"{self._name}: values cannot be converted to float64 ({exc})") from exc
        channels = self.channels
        if x.ndim == 2 and x.shape[1] == 1 and channels == 1:
            x = x[:, 0]
        if channels == 1 and not self.multivariate:
            if x.ndim != 1:
                raise DetectorInputError(
                    f"{self._name}: values have shape {x.shape}; this univariate detector expects (n,) or (n, 1)"
                )
            return x
        if x.ndim == 1 and channels == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != channels:
            raise DetectorInputError(
                f"{self._name}: values have shape {x.shape}; this detector expects (n, {channels})"
            )
        return x

    def _check_timestamps(self, timestamps: Any, n: int) -> np.ndarray:
        ts = np.asarray(timestamps)
        if ts.dtype.kind == "M":
            ts = ts.astype("datetime64[ns]").view(np.int64)
        if ts.dtype.kind not in "iu":
            raise DetectorInputError(
                f"{self._name}: timestamps have dtype {ts.dtype}; expected int64 epoch nanoseconds or datetime64"
            )
        ts = ts.astype(np.int64, copy=False)
        if ts.shape != (n,):
            raise DetectorInputError(f"{self._name}: timestamps have shape {ts.shape}; expected ({n},) like the values")
        return ts

"""Shapley (SHAP) attributions for flagged points: which recent inputs made a detector's score high.

Detectors are stateful: ``score_t = f(state_{t-1}, x_t)``. The score of a flagged point t is explained as a
function of the detector's recent inputs ``z = (x_{t-L+1}, ..., x_t)`` (``L = settings.lags``; channels x lags
for a multivariate entity) with the detector state just before that window, ``S_{t-L}``, held fixed::

    g(z) = last score of detector.update(S_{t-L}, z, timestamps of the window)

so ``g(actual z)`` is exactly the streamed score. The attributions are baseline Shapley values of ``g`` from a
reference window ``r`` to the actual one: ``r`` is, input by input, the mean of the most recent preceding windows
whose last point was not flagged (``background`` of them), and input i's value is the Shapley value of the game
``v(S) = g(z_S = x_S, z_rest = r_rest)``. So ``base_value = g(r)`` ("the score had the last L inputs looked like
the recent normal ones, on average") and ``base_value + sum(values) == score`` by construction (efficiency),
checked to 1e-6. The players are lag groups by default (``ExplainSettings.lag_groups``: ``value[t]``,
``value[t-1]``, ``value[t-3..t-2]``, ``value[t-7..t-4]`` per channel, each group's inputs switching together) or
single inputs (``lag_groups=None``) or channels (``by_channel``). Up to ``exact_max_inputs`` players all
``2**players`` coalitions are evaluated (16 for the default groups, 256 for 8 single lags) and the values are
exact; above, seeded antithetic permutations (each adds up exactly as well). The coalitions of
one point are scored as one batch of windows on copies of ``S_{t-L}`` (:meth:`Detector.last_scores`). The
inputs are only the lagged values: detectors read nothing else (timestamps are carried in the state but no
registry detector scores with them), so rolling statistics or hour-of-day would not be inputs of ``g`` and are
not offered.

Compared with SHAP's interventional expectation over the background windows (``E_b[g(x_S, b_rest)]``, what the
``shap`` package computed here before, 16x the evaluations), one averaged reference trades "averaged over
normal windows" for "against the average normal window"; for a non-linear detector the two differ, and the
single reference is the one that is cheap enough to explain every flagged point.

To have ``S_{t-L}`` for a point early in a micro-batch, the stream keeps per series an :class:`ExplainTrail`:
one detector-state snapshot plus the rows fed since it (at most ``2 * snapshot_every`` + one batch, see
:func:`explain_batch`). Replaying rows from the snapshot reproduces any state needed, because detectors are
batch-split invariant; states the caller met while scoring (``known_states``) spare the replays. Explaining
never raises into the stream: a failure gives no attribution, a logged warning and a count in
:func:`warning_counts`.
"""

from __future__ import annotations

import json
import logging
import math
import struct
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lakewatch.detectors.base import Detector, DetectorState

log = logging.getLogger(__name__)

TRAIL_FORMAT = 1
_TRAIL_MAGIC = b"LWXT"
_TRAIL_HEADER = struct.Struct("<4sHI")  # magic, format, header length
ADDITIVITY_TOLERANCE = 1e-6
SCORE_TOLERANCE = 1e-9
_WARNINGS: Counter[str] = Counter()
# The players of a channel's lags, newest first: t, t-1, t-3..t-2, t-7..t-4 (the last group takes any older lag):
# 4 players, 16 coalitions instead of 256 for 8 lags (ExplainSettings.lag_groups, README "Explanations").
DEFAULT_LAG_GROUPS = (1, 1, 2, 4)


class ExplainError(ValueError):
    """Inputs to an explanation do not fit together (shapes, detector, settings)."""


# ------------------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class ExplainSettings:
    """How flagged points are explained (config: ``streaming.explain``).

    lags: window length L (inputs per channel); top_k: attributions the stream stores per point;
    background: preceding normal windows averaged into the reference; snapshot_every: rows between trail snapshots;
    enabled: off = no explanations. exact_max_inputs: exact Shapley values (all ``2**inputs`` coalitions) up
    to this many inputs, seeded antithetic permutation sampling (about ``permutation_evals`` model evaluations)
    above. Every flagged point is explained: there is no cap per batch (the cost is one batch of ``2**inputs``
    window evaluations per flagged point, see the module doc). by_channel: for a multichannel detector, the
    players of the game are the channels (all lags of a channel switch between actual and reference together), so
    the attributions name sensors, one value each, and are exact up to ``exact_max_inputs`` channels.
    """

    lags: int = 8
    top_k: int = 5
    background: int = 16
    snapshot_every: int = 64
    enabled: bool = True
    exact_max_inputs: int = 10
    permutation_evals: int = 1000
    by_channel: bool = False
    lag_groups: tuple[int, ...] | None = DEFAULT_LAG_GROUPS

    def __post_init__(self) -> None:
        if self.lag_groups is not None:
            groups = self.lag_groups
            if isinstance(groups, (str, bytes)) or not hasattr(groups, "__iter__") or not len(groups) or any(
                    isinstance(g, bool) or not isinstance(g, int) or g < 1 for g in groups):
                raise ExplainError(f"explain settings: lag_groups={groups!r}; expected a list of positive integers "
                                   f"(group sizes, newest lag first) or null for one player per lag")
            object.__setattr__(self, "lag_groups", tuple(groups))
        for name in ("lags", "top_k", "background", "snapshot_every", "exact_max_inputs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ExplainError(f"explain settings: {name}={value!r}; expected a positive integer")
        if isinstance(self.permutation_evals, bool) or not isinstance(self.permutation_evals, int):
            raise ExplainError(f"explain settings: permutation_evals={self.permutation_evals!r}; expected an integer")
        if self.exact_max_inputs > 16:
            raise ExplainError(f"explain settings: exact_max_inputs={self.exact_max_inputs}; expected at most 16 "
                               f"(2**inputs detector evaluations per point)")
        if not isinstance(self.by_channel, bool):
            raise ExplainError(f"explain settings: by_channel={self.by_channel!r}; expected true or false")
        if not isinstance(self.enabled, bool):
            raise ExplainError(f"explain settings: enabled={self.enabled!r}; expected true or false")

    def lag_group_of(self, ages: np.ndarray) -> np.ndarray:
        """The ``lag_groups`` group of each input age (0 = the newest row): the groups' sizes are taken newest
        first and the last group takes every older lag."""
        bounds = np.cumsum(self.lag_groups)[:-1]  # first age of groups 1..
        return np.searchsorted(bounds, np.asarray(ages, dtype=np.int64), side="right")

    def lag_group_label(self, group: int, oldest_age: int) -> str:
        """The lag part of a ``lag_groups`` group's input name: "t", "t-1", or "t-3..t-2" for a group of several
        lags (``oldest_age``: the window's oldest row, which ends a group cut short by a short window)."""
        first = int(sum(self.lag_groups[:group]))
        last = oldest_age if group == len(self.lag_groups) - 1 else min(first + self.lag_groups[group] - 1,
                                                                        oldest_age)

        def age(a: int) -> str:
            return "t" if a == 0 else f"t-{a}"
        return age(first) if first == last else f"{age(last)}..{age(first)}"

    @property
    def history(self) -> int:
        """Rows the trail keeps after a snapshot moves: enough for one window and its background."""
        return max(self.snapshot_every, self.lags + self.background)


# ---------------------------------------------------------------------------------------------- attribution
@dataclass(frozen=True)
class Attribution:
    """The Shapley explanation of one point's score.

    index: row of the point in its batch; score: the explained score (the streamed one); base_value: the
    score of the reference window (the mean recent normal window); contributions: (input name, Shapley value)
    for every input, sorted by absolute value, largest first, so that ``base_value + sum(values) == score`` within 1e-6.
    """

    index: int
    score: float
    base_value: float
    contributions: tuple[tuple[str, float], ...]

    def top(self, k: int) -> tuple[tuple[str, float], ...]:
        """The ``k`` largest contributions by absolute value."""
        return self.contributions[: max(int(k), 0)]

    @property
    def total(self) -> float:
        """base_value plus all contributions (equals score)."""
        return self.base_value + float(sum(v for _, v in self.contributions))


def input_names(lags: int, channels: int = 1, channel_names: Sequence[str] | None = None) -> list[str]:
    """Names of a window's inputs, oldest row first, channel by channel within a row:
    "value[t-7]", ..., "value[t]" (univariate) or "<channel>[t-1]" (multivariate)."""
    channel_names = _channel_labels(channels, channel_names)
    if len(channel_names) != channels:
        raise ExplainError(f"channel_names has {len(channel_names)} names; the detector has {channels} channel(s)")
    names = []
    for age in range(lags - 1, -1, -1):
        lag = "t" if age == 0 else f"t-{age}"
        names.extend(f"{name}[{lag}]" for name in channel_names)
    return names


def player_names(settings: ExplainSettings, lags: int, channels: int = 1,
                 channel_names: Sequence[str] | None = None) -> list[str]:
    """The names attributions of a full window (``lags`` rows, nothing missing) carry under ``settings``: one per
    input (:func:`input_names`) without ``lag_groups``, one per lag group and channel with them (e.g.
    "value[t]", "value[t-1]", "value[t-3..t-2]", "value[t-7..t-4]"), one per channel with ``by_channel``."""
    names = input_names(lags, channels, channel_names)
    labels = _channel_labels(channels, channel_names)
    if settings.by_channel and channels > 1:
        return labels
    if settings.lag_groups is None:
        return names
    return _lag_players(np.arange(lags * channels), lags, channels, labels, settings)[1]


def _channel_labels(channels: int, channel_names: Sequence[str] | None) -> list[str]:
    """The channels' names in input names: ``channel_names``, else "value" for one channel, "ch0", "ch1", ..."""
    if channel_names is not None:
        return list(channel_names)
    return ["value"] if channels == 1 else [f"ch{j}" for j in range(channels)]


# ---------------------------------------------------------------------------------------------- warnings
def warning_counts() -> dict[str, int]:
    """Explanations given up in this process, by reason (not_explained, score_mismatch, trail_error, no_trail)."""
    return dict(_WARNINGS)


def reset_warning_counts() -> None:
    """Zero the counters of :func:`warning_counts`."""
    _WARNINGS.clear()


def _warn(reason: str, detail: str, count: int = 1) -> None:
    _WARNINGS[reason] += count
    total = _WARNINGS[reason]
    if total == count or total % 100 < count:  # the first time, then about every 100th
        log.warning("explain: %s (%d so far): %s", reason, total, detail)


# ---------------------------------------------------------------------------------------- explain_points
def _as_rows(values: np.ndarray, channels: int) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != channels:
        raise ExplainError(f"window values have shape {np.shape(values)}; expected (m,) or (m, {channels})")
    return x


def _reference(window: np.ndarray, background: np.ndarray | None, features: np.ndarray, limit: int) -> np.ndarray:
    """The reference values of the inputs: per input, the mean over up to ``limit`` background windows with
    finite values at every input; without any, each channel's mean of the finite window values."""
    if background is not None and len(background):
        rows = background.reshape(len(background), -1)[:, features]
        rows = rows[np.isfinite(rows).all(axis=1)][:limit]
        if len(rows):
            return rows.mean(axis=0)
    means = np.array([np.nanmean(col) if np.isfinite(col).any() else 0.0 for col in window.T])
    return np.broadcast_to(means, window.shape).reshape(-1)[features]


def _exact_shapley(v: np.ndarray, m: int) -> np.ndarray:
    """Exact Shapley values of the game with value ``v[mask]`` for all ``2**m`` coalitions (bit i set = input i
    takes its actual value): ``phi_i = sum_S |S|!(m-|S|-1)!/m! (v[S+i] - v[S])`` over S without i."""
    masks = np.arange(1 << m)
    sizes = np.zeros(1 << m, dtype=np.int64)
    for i in range(m):
        sizes += (masks >> i) & 1
    weights = np.array([math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m) for s in range(m)])
    phi = np.empty(m)
    for i in range(m):
        without = masks[((masks >> i) & 1) == 0]
        phi[i] = float(np.dot(weights[sizes[without]], v[without | (1 << i)] - v[without]))
    return phi


def _permutation_masks(m: int, evals: int) -> tuple[np.ndarray, int]:
    """Coalitions along seeded antithetic permutations (each followed by its reverse): row ``p * (m + 1) + k`` is
    the first ``k`` inputs of permutation p switched to their actual values; returns (masks, permutations)."""
    rng = np.random.default_rng(0)
    count = max(2, 2 * ((evals // (m + 1)) // 2))
    orders = []
    for _ in range(count // 2):
        order = rng.permutation(m)
        orders.extend([order, order[::-1]])
    masks = np.zeros((count, m + 1, m), dtype=bool)
    for p, order in enumerate(orders):
        for k in range(1, m + 1):
            masks[p, k, order[:k]] = True
    return masks, count


def _window_scores(detector: Detector, state: DetectorState, windows: np.ndarray, stamps: np.ndarray,
                   split: bool = True) -> np.ndarray:
    """g for a batch of windows (k, rows, channels): the last score of each window fed into ``state``.

    With ``split``, where the windows share their older half among few distinct values (2**(inputs/2) for the
    exact explainer over lagged inputs), each distinct older half is fed once (``update``) and the newer halves
    are scored from its state in one :meth:`Detector.last_scores` batch: half the rows through the detector, the
    same scores (detectors are batch-split invariant; the streamed-score check of every explanation would catch a
    difference). Channel players (``by_channel``) switch every row of the window, so their older halves are all
    distinct and the caller passes ``split=False``."""
    k, rows = windows.shape[:2]
    univariate = not (detector.multivariate or windows.shape[2] > 1)
    feed = windows[:, :, 0] if univariate else windows
    half = rows // 2
    if rows < 4 or k < 8 or not split:
        return detector.last_scores(state, feed, stamps)
    prefixes, group = np.unique(feed[:, :half].reshape(k, -1), axis=0, return_inverse=True)
    group = np.asarray(group).reshape(-1)
    if len(prefixes) * 2 > k:
        return detector.last_scores(state, feed, stamps)
    out = np.empty(k)
    for g, prefix in enumerate(prefixes):
        members = np.flatnonzero(group == g)
        _, after = detector.update(state, prefix.reshape(half, *feed.shape[2:]), stamps[:half])
        out[members] = detector.last_scores(after, feed[members, half:], stamps[half:])
    return out


def _shapley(detector: Detector, state: DetectorState, window: np.ndarray, stamps: np.ndarray,
             features: np.ndarray, reference: np.ndarray, settings: ExplainSettings,
             groups: np.ndarray | None = None, split: bool = True) -> tuple[np.ndarray, float, float]:
    """Baseline Shapley values of g(z) = last score of the window with inputs z, from ``reference`` to the
    actual inputs; returns (values, g(reference), g(actual)). All coalitions go through the detector as one
    batch of windows (:meth:`Detector.last_scores`); the values add up to g(actual) - g(reference) by
    construction (exactly for the exact explainer, per permutation for the sampled one). ``groups`` (player of
    each feature, 0..players-1): the players switch their features together, one value per player."""
    m = len(features) if groups is None else int(groups.max()) + 1
    x = window.reshape(-1)[features]
    if m <= settings.exact_max_inputs:
        bits = (np.arange(1 << m)[:, None] >> np.arange(m)[None, :]) & 1
        chosen = bits.astype(bool)
    else:
        perm_masks, count = _permutation_masks(m, settings.permutation_evals)
        chosen, inverse = np.unique(perm_masks.reshape(-1, m), axis=0, return_inverse=True)
    windows = np.broadcast_to(window.reshape(-1), (len(chosen), window.size)).copy()
    windows[:, features] = np.where(chosen if groups is None else chosen[:, groups], x, reference)
    v = _window_scores(detector, state, windows.reshape(len(chosen), *window.shape), stamps, split=split)
    if m <= settings.exact_max_inputs:
        return _exact_shapley(v, m), float(v[0]), float(v[-1])
    chain = v[np.asarray(inverse).reshape(-1)].reshape(count, m + 1)
    phi = np.zeros(m)
    for p in range(count):
        order = np.argmax(perm_masks[p, 1:] & ~perm_masks[p, :-1], axis=1)  # the input added at each step
        phi[order] += np.diff(chain[p])
    phi /= count
    return phi, float(chain[0, 0]), float(chain[0, -1])


def explain_points(detector: Detector, state_before_window: DetectorState, window_values: np.ndarray,
                   window_timestamps: np.ndarray, background_windows: np.ndarray | None,
                   settings: ExplainSettings | None = None, *, index: int = 0,
                   channel_names: Sequence[str] | None = None) -> Attribution:
    """Explain the score of the last row of a window fed into ``state_before_window``.

    ``window_values``: the window's rows, oldest first, shape (m,) or (m, channels), m <= settings.lags (a
    shorter window where less history exists); ``window_timestamps``: int64 epoch ns, shape (m,);
    ``background_windows``: shape (b, m) or (b, m, channels), other windows of the same length (rows with a
    non-finite value at an input position are dropped, the first ``settings.background`` others are averaged
    into the reference; with none left, a flat window at the window's mean is the reference). Rows of the
    window with a non-finite value are not inputs (the detector skips them); they stay as they are. Returns an
    :class:`Attribution` for row ``index``; raises on bad input or a detector failure (the stream's
    :func:`explain_batch` catches and counts those).
    """
    settings = settings or ExplainSettings()
    channels = detector.channels
    window = _as_rows(window_values, channels)
    m = len(window)
    if not 1 <= m <= settings.lags:
        raise ExplainError(f"window has {m} rows; expected 1 to lags={settings.lags}")
    stamps = np.asarray(window_timestamps)
    stamps = stamps.astype("datetime64[ns]").view(np.int64) if stamps.dtype.kind == "M" else stamps.astype(np.int64)
    if stamps.shape != (m,):
        raise ExplainError(f"window timestamps have shape {stamps.shape}; expected ({m},)")
    row_finite = np.isfinite(window).all(axis=1)
    features = np.flatnonzero(np.repeat(row_finite, channels))
    all_names = input_names(m, channels, channel_names)
    names = [all_names[i] for i in features]
    multivariate = channels > 1 or detector.multivariate
    groups = None
    channel_label = _channel_labels(channels, channel_names)
    by_channel = settings.by_channel and channels > 1
    if by_channel and len(features):
        players, groups = np.unique(features % channels, return_inverse=True)
        names = [channel_label[int(c)] for c in players]
    elif settings.lag_groups is not None and len(features):
        groups, names = _lag_players(features, m, channels, channel_label, settings)
    if len(features) == 0 or not row_finite[-1]:  # the detector skips a non-finite last row: score 0, no inputs
        score = float(detector.last_scores(state_before_window, (window if multivariate else window[:, 0])[None],
                                           stamps)[0])
        return Attribution(index, score, score, ())
    bg = None
    if background_windows is not None and len(background_windows):
        bg = np.asarray(background_windows, dtype=np.float64)
        if bg.shape[1:] not in ((m,), (m, channels)) or (bg.ndim == 2 and channels != 1):
            raise ExplainError(f"background windows have shape {bg.shape}; expected (b, {m}) or (b, {m}, {channels})")
    reference = _reference(window, bg, features, settings.background)
    values, base, score = _shapley(detector, state_before_window, window, stamps, features, reference, settings,
                                   groups, split=not by_channel)
    if not abs(base + values.sum() - score) <= ADDITIVITY_TOLERANCE:
        raise ExplainError(f"Shapley values do not add up: base {base!r} + sum {values.sum()!r} != score {score!r}")
    order = np.argsort(-np.abs(values), kind="stable")
    contributions = tuple((names[i], float(values[i])) for i in order)
    return Attribution(int(index), score, base, contributions)


def _lag_players(features: np.ndarray, rows: int, channels: int, channel_label: Sequence[str],
                 settings: ExplainSettings) -> tuple[np.ndarray, list[str]]:
    """Players of a game over lag groups (``settings.lag_groups``): per channel, the inputs whose ages fall in one
    group switch together. Returns each feature's player (0..players-1) and the players' names."""
    ages = rows - 1 - features // channels
    lag_group = settings.lag_group_of(ages)
    keys = lag_group * channels + features % channels
    players, groups = np.unique(keys, return_inverse=True)
    names = []
    for key in players:
        group, channel = divmod(int(key), channels)
        names.append(f"{channel_label[channel]}[{settings.lag_group_label(group, rows - 1)}]")
    return np.asarray(groups).reshape(-1), names


# -------------------------------------------------------------------------------------------------- trail
@dataclass(frozen=True)
class ExplainTrail:
    """What the stream keeps per series to explain later points exactly (bounded; see the module doc).

    snapshot: the detector state (bytes) at the start of the trail, b"" for an empty trail; values,
    timestamps, flagged: every row fed to the detector since the snapshot, in feeding order; start: rows the
    detector had seen at the snapshot.
    """

    snapshot: bytes
    values: np.ndarray
    timestamps: np.ndarray
    flagged: np.ndarray
    start: int = 0
    fingerprint: str = ""

    @property
    def empty(self) -> bool:
        """True for a trail without a snapshot (nothing can be explained from it)."""
        return not self.snapshot

    @property
    def rows(self) -> int:
        """Rows fed since the snapshot."""
        return len(self.timestamps)

    @property
    def nbytes(self) -> int:
        """Size of the serialised trail."""
        return len(self.to_bytes())

    def to_bytes(self) -> bytes:
        """Serialise the trail (format :data:`TRAIL_FORMAT`); an empty trail is b""."""
        if self.empty:
            return b""
        values = np.ascontiguousarray(self.values, dtype=np.float64)
        header = json.dumps({
            "start": int(self.start), "fingerprint": self.fingerprint, "rows": self.rows,
            "channels": 1 if values.ndim == 1 else int(values.shape[1]), "ndim": values.ndim,
            "snapshot": len(self.snapshot),
        }, separators=(",", ":")).encode()
        return b"".join([
            _TRAIL_HEADER.pack(_TRAIL_MAGIC, TRAIL_FORMAT, len(header)), header, self.snapshot,
            values.tobytes(), np.ascontiguousarray(self.timestamps, dtype=np.int64).tobytes(),
            np.ascontiguousarray(self.flagged, dtype=np.bool_).tobytes(),
        ])

    @classmethod
    def from_bytes(cls, data: bytes) -> ExplainTrail:
        """Rebuild a trail from :meth:`to_bytes`; b"" gives an empty trail. Raises ExplainError when malformed."""
        data = bytes(data or b"")
        if not data:
            return _empty_trail()
        if len(data) < _TRAIL_HEADER.size:
            raise ExplainError(
                f"trail bytes are {len(data)} long; expected at least a {_TRAIL_HEADER.size}-byte header")
        magic, version, head_len = _TRAIL_HEADER.unpack_from(data)
        if magic != _TRAIL_MAGIC or version != TRAIL_FORMAT:
            raise ExplainError(f"trail bytes start with {magic!r} format {version}; expected {_TRAIL_MAGIC!r} "
                               f"format {TRAIL_FORMAT}")
        try:
            head = json.loads(data[_TRAIL_HEADER.size:_TRAIL_HEADER.size + head_len])
            pos = _TRAIL_HEADER.size + head_len
            snapshot = data[pos:pos + head["snapshot"]]
            pos += head["snapshot"]
            n, c = int(head["rows"]), int(head["channels"])
            values = np.frombuffer(data, np.float64, n * c, pos).copy()
            pos += 8 * n * c
            timestamps = np.frombuffer(data, np.int64, n, pos).copy()
            pos += 8 * n
            flagged = np.frombuffer(data, np.bool_, n, pos).copy()
            pos += n
        except (ValueError, KeyError, TypeError) as exc:
            raise ExplainError(f"trail bytes are malformed or truncated ({exc})") from exc
        if pos != len(data) or len(snapshot) != head["snapshot"]:
            raise ExplainError(f"trail bytes have {len(data) - pos} unexpected byte(s) at the end")
        values = values.reshape(n, c) if head["ndim"] == 2 else values
        return cls(snapshot, values, timestamps, flagged, int(head["start"]), str(head["fingerprint"]))


def _empty_trail() -> ExplainTrail:
    return ExplainTrail(b"", np.empty(0), np.empty(0, np.int64), np.empty(0, np.bool_))


def new_trail(detector: Detector, state: DetectorState) -> ExplainTrail:
    """A trail starting at ``state`` (the detector state before the series' next batch)."""
    empty = np.empty((0, detector.channels)) if detector.multivariate else np.empty(0)
    return ExplainTrail(detector.state_to_bytes(state), empty, np.empty(0, np.int64), np.empty(0, np.bool_),
                        state.rows_seen, detector.fingerprint)


def _append(trail: ExplainTrail, values: np.ndarray, timestamps: np.ndarray, flagged: np.ndarray) -> ExplainTrail:
    vals = values if trail.values.ndim == values.ndim else values.reshape(len(values), *trail.values.shape[1:])
    return ExplainTrail(trail.snapshot, np.concatenate([trail.values, vals]),
                        np.concatenate([trail.timestamps, timestamps]), np.concatenate([trail.flagged, flagged]),
                        trail.start, trail.fingerprint)


class _Replay:
    """Detector states along a trail: each one asked for is reached by feeding trail rows from the nearest state
    already known before it (the snapshot, or one the caller passed by trail position), moving forward."""

    def __init__(self, detector: Detector, trail: ExplainTrail, known: Mapping[int, DetectorState]) -> None:
        self.detector, self.trail, self.known = detector, trail, dict(known)
        self.position = -1
        self.state: DetectorState | None = None

    def at(self, target: int) -> DetectorState:
        """The detector state after the trail's first ``target`` rows."""
        start = max((p for p in self.known if p <= target), default=None)
        if self.state is None or self.position > target or (start is not None and start > self.position):
            if start is None:
                self.position, self.state = 0, self.detector.state_from_bytes(self.trail.snapshot)
            else:
                self.position, self.state = start, self.known[start]
        if target > self.position:
            rows = slice(self.position, target)
            _, self.state = self.detector.update(self.state, self.trail.values[rows], self.trail.timestamps[rows])
            self.position = target
        return self.state


def snapshot_cut(trail: ExplainTrail, rows: int, settings: ExplainSettings) -> int | None:
    """The row of a coming batch of ``rows`` rows before which the trail's snapshot will move (see
    :func:`explain_batch`), when it falls inside the batch: a caller that feeds the batch in updates split there
    (and anywhere else) passes the states between them in ``known_states`` and the move needs no replay. None
    otherwise."""
    cut = rows - settings.history  # the moved snapshot keeps the last `history` rows after it
    return cut if cut > 0 and trail.rows + cut >= settings.snapshot_every else None


def _rotate(detector: Detector, trail: ExplainTrail, settings: ExplainSettings, replay: _Replay) -> ExplainTrail:
    """Move the snapshot forward when the rows since it reach history + snapshot_every, keeping ``history``."""
    keep = settings.history
    drop = trail.rows - keep
    if drop < settings.snapshot_every:
        return trail
    state = replay.at(drop)
    return ExplainTrail(detector.state_to_bytes(state), trail.values[drop:].copy(), trail.timestamps[drop:].copy(),
                        trail.flagged[drop:].copy(), trail.start + drop, trail.fingerprint)


# ---------------------------------------------------------------------------------------------- explain_batch
def _background(values: np.ndarray, flagged: np.ndarray, end: int, length: int, count: int) -> np.ndarray:
    """Up to ``count`` windows of ``length`` rows ending before ``end`` (most recent first) whose last row was
    not flagged."""
    windows = []
    for last in range(end - 1, length - 2, -1):
        if len(windows) == count:
            break
        if not flagged[last]:
            windows.append(values[last - length + 1:last + 1])
    return np.stack(windows) if windows else np.empty((0, length, *values.shape[1:]))


def explain_batch(detector: Detector, trail: ExplainTrail, values, timestamps, scores, flagged_mask,
                  settings: ExplainSettings | None = None, *, channel_names: Sequence[str] | None = None,
                  known_states: Mapping[int, DetectorState] | None = None,
                  ) -> tuple[list[Attribution], ExplainTrail]:
    """Explain the flagged points of one series' micro-batch and advance the trail past the batch.

    ``values`` (n,) or (n, channels), ``timestamps`` (int64 ns), ``scores`` and ``flagged_mask`` (n,): the
    batch exactly as it was fed to ``detector.update`` and scored; ``trail``: the series' trail before the
    batch (:func:`new_trail` for a new series). Returns one :class:`Attribution` per explained flagged point
    (``index`` = its row in the batch) and the new trail. Never raises for a point: a point that cannot be
    explained is left out and counted in :func:`warning_counts`; a trail that no longer matches the detector's
    scores comes back empty (b"" as bytes), so the caller starts a new one. ``known_states`` ({batch row: the
    detector state before that row}, e.g. {0: the state the batch was scored from}): replays start from the
    nearest of them instead of the trail's snapshot (with a state at :func:`snapshot_cut`, moving the snapshot
    costs nothing).
    """
    settings = settings or ExplainSettings()
    x = np.asarray(values, dtype=np.float64)
    ts = np.asarray(timestamps)
    ts = ts.astype("datetime64[ns]").view(np.int64) if ts.dtype.kind == "M" else ts.astype(np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    flags = np.asarray(flagged_mask, dtype=np.bool_)
    if not (len(x) == len(ts) == len(scores) == len(flags)):
        raise ExplainError(f"batch arrays differ in length: values {len(x)}, timestamps {len(ts)}, "
                           f"scores {len(scores)}, flagged {len(flags)}")
    if trail.empty or trail.fingerprint != detector.fingerprint:
        if flags.any():
            _warn("no_trail", f"{detector.name}: no trail for this series (or one of another detector); "
                  f"{int(flags.sum())} flagged point(s) not explained", int(flags.sum()))
        return [], _empty_trail()
    offset = trail.rows
    combined = _append(trail, x, ts, flags)
    replay = _Replay(detector, combined, {offset + int(row): state for row, state in (known_states or {}).items()})
    attributions: list[Attribution] = []
    explain_rows = np.flatnonzero(flags) if settings.enabled else np.empty(0, int)
    if len(explain_rows):
        try:
            attributions, in_sync = _explain_rows(detector, combined, offset, explain_rows, scores, settings,
                                                  channel_names, replay)
        except Exception as exc:  # the stream must never fail because of an explanation
            _warn("trail_error", f"{detector.name}: {exc!r}", len(explain_rows))
            return [], _empty_trail()
        if not in_sync:
            return [], _empty_trail()
    try:
        advanced = _rotate(detector, combined, settings, replay)
    except Exception as exc:  # same: a failed snapshot move only costs the trail
        _warn("trail_error", f"{detector.name}: could not move the trail snapshot: {exc!r}")
        return attributions, _empty_trail()
    return attributions, advanced


def _explain_rows(detector: Detector, trail: ExplainTrail, offset: int, rows: np.ndarray, scores: np.ndarray,
                  settings: ExplainSettings, channel_names: Sequence[str] | None,
                  replay: _Replay) -> tuple[list[Attribution], bool]:
    """Replay the trail to each window start and explain each row; False when the replay disagrees."""
    out: list[Attribution] = []
    for row in rows:
        t = offset + int(row)
        first = max(0, t - settings.lags + 1)
        state = replay.at(first)
        window = trail.values[first:t + 1]
        background = _background(trail.values, trail.flagged, t, t + 1 - first, settings.background)
        try:
            attribution = explain_points(detector, state, window, trail.timestamps[first:t + 1], background,
                                         settings, index=int(row), channel_names=channel_names)
        except Exception as exc:  # one bad point must not stop the others
            _warn("not_explained", f"{detector.name}: row {int(row)}: {exc!r}")
            continue
        if abs(attribution.score - scores[row]) > SCORE_TOLERANCE:
            _warn("score_mismatch", f"{detector.name}: replayed score {attribution.score} != streamed score "
                  f"{scores[row]} at row {int(row)}; the trail is reset")
            return [], False
        out.append(attribution)
    return out, True

"""In-process scoring for POST /score: a detector of the catalog (the default one unless another is named) or the
MLflow registry's champion, fed readings causally (per series and channel, in timestamp order), and the signed
state tokens that let a caller continue a series across calls.

A state token is ``<payload>.<signature>``: the payload is the zlib-compressed JSON of the series id, the
detector's name, fingerprint and model version, and per channel the detector state bytes
(Detector.state_to_bytes) and the last timestamp scored; the signature is its HMAC-SHA256 under the state key
(api.state_key_env, else the API key), both base64url. A token that does not verify, or that belongs to another
series or detector, is refused with an error naming ``state_token``; the API never trusts a state it did not sign.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lakewatch.config import LakewatchConfig
from lakewatch.detectors import Detector, DetectorError, DetectorState, get_detector
from lakewatch.errors import ConfigError, LakewatchError

TOKEN_VERSION = 1
CHAMPION = "champion"
_CHAMPION_TTL_SECONDS = 60.0


class ScoreRequestError(LakewatchError, ValueError):
    """A /score request that cannot be scored as given; ``field`` names the input (``state_token``, ``model``,
    ``readings[3].timestamp``...) and ``status`` the HTTP status to answer with."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.status = status


@dataclass(frozen=True)
class Scorer:
    """A detector ready to score, with the name and model version its scores are stamped with and the flag
    threshold (None when the detector has no calibrated one and streaming.threshold is unset)."""

    detector: Detector
    name: str
    model_version: str
    threshold: float | None


@dataclass(frozen=True)
class Reading:
    """One reading of a request, with its position in the request's list (``index``)."""

    index: int
    series_id: str
    channel: str
    timestamp_ns: int
    value: float


class ScorerCache:
    """Detectors by requested model name, built once; the champion is reloaded at most once a minute, so that a
    new champion is picked up without restarting the API, and MLflow is imported only when it is first asked for."""

    def __init__(self, config: LakewatchConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._scorers: dict[str, tuple[float, Scorer]] = {}

    def get(self, model: str) -> Scorer:
        """The scorer for `model`: ``default`` (conf/detectors.yaml's default_detector), a detector name of the
        catalog, or ``champion``; ScoreRequestError naming ``model`` when it is unknown or cannot be loaded."""
        with self._lock:
            cached = self._scorers.get(model)
            if cached is not None and (model != CHAMPION or time.monotonic() - cached[0] < _CHAMPION_TTL_SECONDS):
                return cached[1]
            scorer = _load_champion(self._config) if model == CHAMPION else _catalog_scorer(self._config, model)
            self._scorers[model] = (time.monotonic(), scorer)
            return scorer

    def warm_up(self) -> None:
        """Build the default detector and score one reading, so that the first /score does not pay for numba's
        compilation (seconds); errors are left for the first request to report."""
        with contextlib.suppress(LakewatchError):
            score(self.get("default"), [Reading(0, "warm-up", "value", 0, 0.0)])


def _threshold(config: LakewatchConfig, name: str) -> float | None:
    configured = (config.raw.get("streaming") or {}).get("threshold")
    if configured is not None:
        return float(configured)
    return config.detectors.threshold(name)


def _catalog_scorer(config: LakewatchConfig, model: str) -> Scorer:
    name = config.detectors.resolve(model)
    if name not in config.detectors.entries:
        raise ScoreRequestError("model", f"unknown model {model!r}; expected {CHAMPION!r} or a detector of "
                                f"conf/detectors.yaml: {config.detectors.names()}")
    try:
        detector = get_detector(name, catalog=config.detectors)
    except (DetectorError, ConfigError) as exc:
        raise ScoreRequestError("model", f"detector {name!r} cannot be built: {exc}", 503) from exc
    return Scorer(detector, name, f"{name}@{detector.fingerprint}", _threshold(config, name))


def _load_champion(config: LakewatchConfig) -> Scorer:
    """The registry's champion, read from the configured MLflow store without writing to it (the API never creates
    a store or an experiment: a missing one is a 503 naming ``model``)."""
    from lakewatch import tracking  # MLflow is heavy: imported only when the champion is asked for

    uri = tracking.champion_uri(config)
    try:
        store = tracking.resolve_settings(config).tracking_uri
        if store.startswith("sqlite:///") and not Path(store[len("sqlite:///"):]).is_file():
            raise ScoreRequestError("model", f"there is no MLflow store at {store[len('sqlite:///'):]}, so no "
                                    f"champion {uri}: register one with ./spark-submit.sh tune (or train), or ask "
                                    "for model 'default'", 503)
        import mlflow

        tracking.quiet_mlflow()
        mlflow.set_tracking_uri(store)
        mlflow.set_registry_uri(store)
        detector = tracking.load_model_detector(uri)
        name, alias = uri[len("models:/"):].split("@", 1)
        version = f"{name}/{mlflow.MlflowClient().get_model_version_by_alias(name, alias).version}"
    except ScoreRequestError:
        raise
    except Exception as exc:  # MLflow raises many kinds; the caller needs one answer naming the model
        raise ScoreRequestError("model", f"the registry's champion {uri} cannot be loaded ({exc}); register one "
                                "with ./spark-submit.sh tune (or train), or ask for model 'default'", 503) from exc
    return Scorer(detector, detector.name, version, _threshold(config, detector.name))


# ------------------------------------------------------------------------------------------------ state tokens
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(key: str, series_id: str, scorer: Scorer, states: dict[str, tuple[DetectorState, int]]) -> str:
    """A signed token carrying `series_id`'s detector state per channel (state, last timestamp scored in ns)."""
    payload = {"v": TOKEN_VERSION, "series_id": series_id, "detector": scorer.name,
               "fingerprint": scorer.detector.fingerprint, "model_version": scorer.model_version,
               "channels": {channel: {"last_ns": last, "state": _b64(scorer.detector.state_to_bytes(state))}
                            for channel, (state, last) in sorted(states.items())}}
    body = zlib.compress(json.dumps(payload, separators=(",", ":")).encode(), 6)
    signature = hmac.new(key.encode(), body, hashlib.sha256).digest()
    return f"{_b64(body)}.{_b64(signature)}"


def read_token(key: str, token: str, series_id: str, scorer: Scorer) -> dict[str, tuple[DetectorState, int]]:
    """The per-channel states a token issued by :func:`issue_token` carries; ScoreRequestError (400) naming
    ``state_token`` when it is malformed, tampered with, signed with another key, or made for another series or
    detector."""
    try:
        body_text, signature_text = token.split(".")
        body, signature = _unb64(body_text), _unb64(signature_text)
    except ValueError:
        raise ScoreRequestError("state_token", "malformed: expected the token a previous /score answer returned",
                                400) from None
    expected = hmac.new(key.encode(), body, hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise ScoreRequestError("state_token", "signature does not match: the token was altered or was issued "
                                "under another key", 400)
    payload = json.loads(zlib.decompress(body))
    if payload.get("v") != TOKEN_VERSION:
        raise ScoreRequestError("state_token", f"version {payload.get('v')!r}; this API reads {TOKEN_VERSION}", 400)
    if payload["series_id"] != series_id:
        raise ScoreRequestError("state_token", f"issued for series {payload['series_id']!r}, not {series_id!r}", 400)
    if payload["fingerprint"] != scorer.detector.fingerprint:
        raise ScoreRequestError("state_token", f"issued for detector {payload['detector']!r} "
                                f"({payload['model_version']}); this request scores with {scorer.name!r} "
                                f"({scorer.model_version}): start again without a token", 400)
    try:
        return {channel: (scorer.detector.state_from_bytes(_unb64(item["state"])), int(item["last_ns"]))
                for channel, item in payload["channels"].items()}
    except (DetectorError, KeyError, ValueError) as exc:
        raise ScoreRequestError("state_token", f"carries a state this detector cannot read: {exc}", 400) from exc


# ------------------------------------------------------------------------------------------------ scoring
def score(scorer: Scorer, readings: Sequence[Reading],
          states: dict[str, tuple[DetectorState, int]] | None = None
          ) -> tuple[list[dict[str, Any]], dict[tuple[str, str], tuple[DetectorState, int]]]:
    """Score `readings` causally: per (series_id, channel), in timestamp order (ties keep request order), from the
    given `states` (by channel; for the one series of a stateful request) or a fresh state. Returns one result
    per reading, in the order scored, and the state after each (series_id, channel).

    ScoreRequestError naming ``readings[i].timestamp`` for a reading older than the state's last timestamp (the
    score would not be causal)."""
    detector = scorer.detector
    if detector.channels != 1:
        raise ScoreRequestError("model", f"detector {scorer.name!r} is multivariate ({detector.channels} channels "
                                "side by side); /score takes univariate detectors")
    groups: dict[tuple[str, str], list[Reading]] = {}
    for reading in readings:
        groups.setdefault((reading.series_id, reading.channel), []).append(reading)
    results: list[dict[str, Any]] = []
    after: dict[tuple[str, str], tuple[DetectorState, int]] = {}
    for key in sorted(groups):
        rows = sorted(groups[key], key=lambda r: (r.timestamp_ns, r.index))
        state, last = (states or {}).get(key[1], (detector.new_state(), None))
        if last is not None and rows[0].timestamp_ns < last:
            raise ScoreRequestError(f"readings[{rows[0].index}].timestamp",
                                    f"is before the last reading the state token has scored for channel {key[1]!r} "
                                    f"({np.datetime64(last, 'ns')}Z); send newer readings, or no token")
        stamps = np.fromiter((r.timestamp_ns for r in rows), np.int64, len(rows))
        values = np.fromiter((r.value for r in rows), np.float64, len(rows))
        scores, state = detector.update(state, values, stamps)
        after[key] = (state, int(stamps[-1]))
        for reading, value in zip(rows, scores, strict=True):
            results.append({"index": reading.index, "series_id": reading.series_id, "channel": reading.channel,
                            "timestamp_ns": reading.timestamp_ns, "value": reading.value, "score": float(value),
                            "flag": None if scorer.threshold is None else bool(value >= scorer.threshold)})
    return results, after

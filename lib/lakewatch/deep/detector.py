"""A trained window autoencoder behind the normal :class:`~lakewatch.detectors.base.Detector` interface.

The state of a series is the last ``window - 1`` rows it has seen (fixed size). A row's score is the
calibrated reconstruction error of the window that ends at it, so it uses only that row and earlier ones;
the first ``window - 1`` rows of a series score 0. The model runs in float64 and every window is scored on
its own rows only, so feeding a series in one batch or point by point gives the same scores (to rounding
far below 1e-9). Non-finite rows score 0 and are not fed (the base class's policy).

Artifacts (``save_artifacts``): ``model.pt`` (the float32 state dict as trained) and ``autoencoder.json``
(model spec, scaler, calibration, error tail, channel names, training info).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lakewatch.deep.calibration import Calibration
from lakewatch.deep.models import MODEL_KINDS, ModelSpec, build_model, window_errors
from lakewatch.deep.windows import SCALINGS, RobustScaler, sliding_windows
from lakewatch.detectors.base import ArrayTree, Detector, DetectorParams, check_range
from lakewatch.detectors.errors import DetectorParamsError, StateError

ARTIFACT_FORMAT = 1
LOADER = "lakewatch.deep.detector:load_autoencoder_detector"
_META_FILE = "autoencoder.json"
_WEIGHTS_FILE = "model.pt"


@dataclass(frozen=True)
class AutoencoderParams(DetectorParams):
    """What identifies a trained autoencoder detector; ``digest`` hashes everything that decides its scores
    (weights, spec, scaler, calibration, tail), so states only move between detectors of the same model."""

    model: str = "cnn_ae"
    window: int = 64
    channels: int = 1
    latent: int = 8
    hidden: int = 16
    tail: int = 1
    scaling: str = "window"
    digest: str = ""

    def validate(self) -> None:
        """Check the model kind, scaling and sizes."""
        if self.model not in MODEL_KINDS:
            raise DetectorParamsError(f"autoencoder: model {self.model!r} is not one of {MODEL_KINDS}")
        if self.scaling not in SCALINGS:
            raise DetectorParamsError(f"autoencoder: scaling {self.scaling!r} is not one of {SCALINGS}")
        check_range("autoencoder", "window", self.window, 4, 100_000)
        check_range("autoencoder", "channels", self.channels, 1, 10_000)
        check_range("autoencoder", "tail", self.tail, 1, self.window)


class AutoencoderDetector(Detector):
    """Scores each row by the calibrated reconstruction error of the window ending at it."""

    kind = "autoencoder"
    params_type = AutoencoderParams
    params: AutoencoderParams

    def __init__(self, spec: ModelSpec, state_dict: Mapping[str, torch.Tensor], scaler: RobustScaler,
                 calibration: Calibration, *, tail: int = 1, channel_names: tuple[str, ...] = (),
                 name: str | None = None, info: Mapping[str, Any] | None = None) -> None:
        if scaler.channels != spec.channels:
            raise DetectorParamsError(
                f"autoencoder: scaler has {scaler.channels} channel(s) but the model expects {spec.channels}"
            )
        if channel_names and len(channel_names) != spec.channels:
            raise DetectorParamsError(
                f"autoencoder: {len(channel_names)} channel name(s) {list(channel_names)} for a "
                f"{spec.channels}-channel model"
            )
        weights = {k: v.detach().to("cpu", torch.float32).clone() for k, v in state_dict.items()}
        params = AutoencoderParams(spec.kind, spec.window, spec.channels, spec.latent, spec.hidden, tail,
                                   scaler.mode, _digest(weights, spec, scaler, calibration, tail))
        super().__init__(params, name=name or f"autoencoder_{spec.kind}")
        self.spec = spec
        self.scaler = scaler
        self.calibration = calibration
        self.channel_names = tuple(channel_names)
        self.info = dict(info or {})
        self._weights = weights
        self._model = build_model(spec).double()
        self._model.load_state_dict({k: v.double() for k, v in weights.items()})
        self._model.eval()

    @property
    def channels(self) -> int:
        """Number of value channels the model was trained on."""
        return self.spec.channels

    @property
    def multivariate(self) -> bool:  # type: ignore[override]
        """True for a model of several channels (values then have shape ``(n, channels)``)."""
        return self.spec.channels > 1

    @property
    def state_dict(self) -> dict[str, torch.Tensor]:
        """The trained float32 weights (a copy)."""
        return {k: v.clone() for k, v in self._weights.items()}

    def window_scores(self, windows: np.ndarray) -> np.ndarray:
        """Scores in ``[0, 1]`` of raw windows ``(m, window, channels)`` (no state involved)."""
        errors = window_errors(self._model, self.scaler.transform(windows), self.params.tail)
        return self.calibration.score(errors)

    def _init_arrays(self) -> ArrayTree:
        return {
            "history": np.zeros((self.spec.window - 1, self.spec.channels), dtype=np.float64),
            "filled": np.zeros(1, dtype=np.int64),
        }

    def _score(self, arrays: ArrayTree, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        rows = x[:, None] if x.ndim == 1 else x
        keep = self.spec.window - 1
        history, filled = arrays["history"], int(arrays["filled"][0])
        if not 0 <= filled <= keep:
            raise StateError(f"{self.name}: state says {filled} rows of history; expected 0..{keep}")
        joined = np.concatenate([history[keep - filled :], rows])
        scores = np.zeros(len(rows), dtype=np.float64)
        windows = sliding_windows(joined, self.spec.window)
        if len(windows):
            scores[len(rows) - len(windows) :] = self.window_scores(windows)
        history[:] = np.concatenate([history, rows])[-keep:]
        arrays["filled"][0] = min(keep, filled + len(rows))
        return scores

    def save_artifacts(self, directory: str | Path) -> str:
        """Write ``model.pt`` and ``autoencoder.json`` into ``directory``; return the loader path."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        torch.save(self._weights, out / _WEIGHTS_FILE)
        meta = {
            "format": ARTIFACT_FORMAT,
            "name": self.name,
            "spec": self.spec.to_dict(),
            "scaler": self.scaler.to_dict(),
            "calibration": self.calibration.to_dict(),
            "tail": self.params.tail,
            "channel_names": list(self.channel_names),
            "digest": self.params.digest,
            "info": self.info,
        }
        (out / _META_FILE).write_text(json.dumps(meta, indent=1, default=str))
        return LOADER


def load_autoencoder_detector(directory: str | Path) -> AutoencoderDetector:
    """Rebuild a detector written by :meth:`AutoencoderDetector.save_artifacts` (checks format and digest)."""
    folder = Path(directory)
    meta_path = folder / _META_FILE
    if not meta_path.is_file() or not (folder / _WEIGHTS_FILE).is_file():
        raise DetectorParamsError(f"autoencoder artifacts: {folder} lacks {_META_FILE} or {_WEIGHTS_FILE}")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != ARTIFACT_FORMAT:
        raise DetectorParamsError(
            f"autoencoder artifacts {meta_path}: format {meta.get('format')!r}; this library reads {ARTIFACT_FORMAT}"
        )
    weights = torch.load(folder / _WEIGHTS_FILE, map_location="cpu", weights_only=True)
    detector = AutoencoderDetector(
        ModelSpec(**meta["spec"]), weights, RobustScaler.from_dict(meta["scaler"]),
        Calibration.from_dict(meta["calibration"]), tail=int(meta["tail"]),
        channel_names=tuple(meta.get("channel_names") or ()), name=meta.get("name"), info=meta.get("info"),
    )
    if meta.get("digest") and meta["digest"] != detector.params.digest:
        raise DetectorParamsError(
            f"autoencoder artifacts {folder}: weights digest {detector.params.digest} differs from the recorded "
            f"{meta['digest']}; the files do not belong together"
        )
    return detector


def _digest(weights: Mapping[str, torch.Tensor], spec: ModelSpec, scaler: RobustScaler, calibration: Calibration,
            tail: int) -> str:
    h = hashlib.sha256()
    for key in sorted(weights):
        h.update(key.encode())
        h.update(weights[key].numpy().tobytes())
    h.update(json.dumps([spec.to_dict(), scaler.to_dict(), calibration.to_dict(), tail], sort_keys=True).encode())
    return h.hexdigest()[:16]

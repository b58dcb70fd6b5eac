"""Deep anomaly detectors: window autoencoders (1D-CNN, LSTM, beta-VAE) in PyTorch, with the robust scaling
and error calibration they are trained with, behind the common Detector interface."""

from __future__ import annotations

from lakewatch.deep.calibration import Calibration, fit_calibration
from lakewatch.deep.detector import AutoencoderDetector, AutoencoderParams, load_autoencoder_detector
from lakewatch.deep.models import MODEL_KINDS, ModelSpec, build_model, window_errors
from lakewatch.deep.windows import SCALINGS, RobustScaler, fit_scaler, fit_scaler_numpy, sliding_windows

__all__ = [
    "MODEL_KINDS",
    "SCALINGS",
    "AutoencoderDetector",
    "AutoencoderParams",
    "Calibration",
    "ModelSpec",
    "RobustScaler",
    "build_model",
    "fit_calibration",
    "fit_scaler",
    "fit_scaler_numpy",
    "load_autoencoder_detector",
    "sliding_windows",
    "window_errors",
]

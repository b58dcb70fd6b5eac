"""A detector as an MLflow pyfunc model: the wrapper that scores readings, logging a detector in the active run
and loading the detector back from a logged or registered model.

The model is "from code": a one-line script that builds :class:`DetectorModel`, with the detector's
:func:`lakewatch.detectors.persist.save_detector` directory as its artifact ``detector``.
"""

from __future__ import annotations

import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from lakewatch.config import LakewatchConfig
from lakewatch.detectors.base import Detector
from lakewatch.detectors.persist import load_detector, save_detector
from lakewatch.tracking.errors import TrackingError
from lakewatch.tracking.store import configure

INPUT_COLUMNS = ("series_id", "channel", "timestamp", "value")
SCORE_COLUMN = "anomaly_score"
MODEL_NAME_IN_RUN = "detector"
ARTIFACT_KEY = "detector"


def score_frame(detector: Detector, frame: pd.DataFrame) -> pd.DataFrame:
    """Score readings (series_id, channel, timestamp, value) with ``detector``; returns ``anomaly_score`` aligned
    with ``frame``. A univariate detector scores each (series_id, channel) from a fresh state in timestamp order
    (ties keep input order); a multivariate one scores each series_id over its channels side by side (in the
    detector's ``channel_names`` order, else sorted) and gives every row of a timestamp that timestamp's score."""
    missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise TrackingError(f"model input lacks column(s) {missing}; expected columns {list(INPUT_COLUMNS)}")
    original_index = frame.index
    frame = frame.reset_index(drop=True)  # positions, whatever index (duplicates included) the caller passes
    scores = pd.Series(0.0, index=frame.index, name=SCORE_COLUMN)
    if frame.empty:
        return scores.to_frame().set_index(original_index)
    stamps = pd.to_datetime(frame["timestamp"], utc=True).dt.tz_localize(None)
    values = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    if detector.channels == 1:
        for rows in frame.groupby(["series_id", "channel"], sort=False, dropna=False).groups.values():
            order = stamps.loc[rows].sort_values(kind="stable").index
            nanos = stamps.loc[order].to_numpy(dtype="datetime64[ns]").view("int64")
            scores.loc[order] = detector.score_series(values.loc[order].to_numpy(), nanos)
    else:
        for series_id, rows in frame.groupby("series_id", sort=False, dropna=False).groups.items():
            scores.loc[rows] = _score_wide(detector, series_id, frame.loc[rows, "channel"], stamps.loc[rows],
                                           values.loc[rows])
    return scores.to_frame().set_index(original_index)


def _score_wide(detector: Detector, series_id: Any, channels: pd.Series, stamps: pd.Series,
                values: pd.Series) -> Any:
    names = tuple(getattr(detector, "channel_names", ()) or ()) or tuple(sorted(channels.unique()))
    unknown = sorted(set(channels) - set(names))
    if unknown or len(names) != detector.channels:
        raise TrackingError(f"series {series_id!r}: channels {sorted(set(channels))}; detector {detector.name!r} "
                            f"expects {detector.channels} channel(s) {list(names)}")
    wide = (pd.DataFrame({"ts": stamps, "channel": channels, "value": values})
            .groupby(["ts", "channel"], sort=True)["value"].last().unstack("channel").reindex(columns=list(names)))
    nanos = wide.index.to_numpy(dtype="datetime64[ns]").view("int64")
    per_time = pd.Series(detector.score_series(wide.to_numpy(dtype="float64"), nanos), index=wide.index)
    return per_time.reindex(stamps.to_numpy()).to_numpy()


class DetectorModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper of a saved detector directory (artifact ``detector``); predict scores per series."""

    def load_context(self, context: Any) -> None:
        """Load the detector from the model's artifacts."""
        self.detector = load_detector(context.artifacts[ARTIFACT_KEY])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """``anomaly_score`` per input row (see :func:`score_frame`)."""
        return score_frame(self.detector, pd.DataFrame(model_input))


def _requirements() -> list[str]:
    return [f"{name}=={version(name)}" for name in ("mlflow", "numpy", "pandas", "pyyaml")]


# Models logged before lakewatch.tracking became a package import DetectorModel from lakewatch.tracking, which
# still re-exports it.
_MODEL_CODE = """from mlflow.models import set_model

from lakewatch.tracking.pyfunc import DetectorModel

set_model(DetectorModel())
"""


def log_detector(detector: Detector, input_example: pd.DataFrame) -> str:
    """Log ``detector`` as a pyfunc model (signature and input example) in the active run; returns its URI.

    ``input_example`` has columns series_id, channel, timestamp, value (a few rows are enough).
    """
    if mlflow.active_run() is None:
        raise TrackingError("log_detector needs an active MLflow run (use lakewatch.tracking.start_run)")
    example = pd.DataFrame(input_example)
    output = score_frame(detector, example)
    signature = infer_signature(example[list(INPUT_COLUMNS)], output)
    with tempfile.TemporaryDirectory(prefix="lakewatch-detector-") as tmp:
        directory = save_detector(detector, Path(tmp) / ARTIFACT_KEY)
        # "Models from code": the model is this one-line script, not a pickled object.
        code = Path(tmp) / "detector_model.py"
        code.write_text(_MODEL_CODE)
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME_IN_RUN, python_model=str(code), artifacts={ARTIFACT_KEY: str(directory)},
            signature=signature, input_example=example[list(INPUT_COLUMNS)], pip_requirements=_requirements(),
        )
    mlflow.set_tags({"lakewatch.detector": detector.name, "lakewatch.detector_fingerprint": detector.fingerprint})
    return info.model_uri


def load_pyfunc(model_uri: str) -> Any:
    """The pyfunc model at ``model_uri`` (a run, registry or storage URI) from the store MLflow points at."""
    try:
        return mlflow.pyfunc.load_model(model_uri)
    except MlflowException as exc:
        raise TrackingError(f"model {model_uri!r} cannot be loaded from {mlflow.get_tracking_uri()}: "
                            f"{exc.message}") from exc
    except OSError as exc:
        raise TrackingError(f"model {model_uri!r} cannot be loaded: {exc}") from exc


def load_model_detector(model_uri: str, config: LakewatchConfig | None = None) -> Detector:
    """The detector inside a logged or registered model, e.g. ``models:/lakewatch-detector@champion``
    (``config`` selects the store; without it, the store MLflow is already pointed at)."""
    if config is not None:
        configure(config)
    return load_pyfunc(model_uri).unwrap_python_model().detector

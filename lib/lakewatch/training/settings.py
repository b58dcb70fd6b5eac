"""Settings of deep-detector training (config section ``training:``), read with
``config.settings("training", TrainingSettings)``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Annotated, Any

from pydantic import Field

from lakewatch.config import Flag, Int, NonNegativeInt, Number, PositiveInt, validated
from lakewatch.deep.models import MODEL_KINDS
from lakewatch.deep.windows import SCALINGS
from lakewatch.errors import ConfigError


@dataclass(frozen=True)
class TrainingSettings:
    """How to train a window autoencoder and where its data comes from.

    ``table`` "" means ``config.tables.gold_features``. Univariate training (``multivariate: false``) treats
    every (series, channel) pair as one series; multivariate training pivots ``channels`` (empty: every
    channel in the table) into the model's input channels per (series, timestamp). ``use_gpu`` is "auto"
    (CUDA available and GPUs configured in Spark), true or false. ``threads_per_process`` is the torch
    intra-op thread count of each rank (0: torch's default); one thread per rank was fastest on a loaded
    2-core machine, where two threads per rank under torchrun ran ten times slower (BENCHMARKS).
    """

    model: str = "cnn_ae"
    window: Annotated[Int, Field(ge=4)] = 64
    latent: PositiveInt = 8
    hidden: PositiveInt = 16
    epochs: PositiveInt = 5
    batch_size: PositiveInt = 256
    learning_rate: Annotated[Number, Field(gt=0, lt=10)] = 1e-3
    beta: Annotated[Number, Field(ge=0)] = 1.0
    stride: PositiveInt = 1
    tail: PositiveInt = 1
    scaling: str = "window"
    num_processes: PositiveInt = 2
    local_mode: Flag = True
    use_gpu: Any = "auto"
    table: str = ""
    series_column: str = "series_id"
    channel_column: str = "channel"
    timestamp_column: str = "timestamp"
    value_column: str = "value"
    multivariate: Flag = False
    channels: tuple[str, ...] = ()
    seed: Int = 42
    files_per_process: PositiveInt = 2
    threads_per_process: NonNegativeInt = 1
    max_calibration_errors: PositiveInt = 50_000
    keep_training_files: Flag = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(str(c) for c in (self.channels or ())))
        if isinstance(self.use_gpu, str) and self.use_gpu.lower() in ("true", "false"):
            object.__setattr__(self, "use_gpu", self.use_gpu.lower() == "true")
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad value of the checks the field types cannot express
        (types and bounds: lakewatch.config.validated)."""
        if self.model not in MODEL_KINDS:
            raise ConfigError(f"training.model {self.model!r} is not one of {list(MODEL_KINDS)}")
        if self.scaling not in SCALINGS:
            raise ConfigError(f"training.scaling {self.scaling!r} is not one of {list(SCALINGS)}")
        if self.tail > self.window:
            raise ConfigError(f"training.tail {self.tail} is longer than training.window {self.window}")
        if self.use_gpu not in ("auto", True, False):
            raise ConfigError(f"training.use_gpu must be 'auto', true or false, found {self.use_gpu!r}")

    def with_overrides(self, **changes: Any) -> TrainingSettings:
        """A copy with the given fields replaced (``None`` values are ignored), validated again (ConfigError
        naming ``training.<key>``)."""
        current = {f.name: getattr(self, f.name) for f in fields(self)}
        return validated(TrainingSettings, {**current, **{k: v for k, v in changes.items() if v is not None}},
                         "training")

    def as_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (for run parameters)."""
        return asdict(self)

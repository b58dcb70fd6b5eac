"""Settings of deep-detector training (config section ``training:``), read with
``config.settings("training", TrainingSettings)``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from lakewatch.deep.models import MODEL_KINDS
from lakewatch.deep.windows import SCALINGS
from lakewatch.errors import ConfigError

_POSITIVE_INTS = ("window", "latent", "hidden", "epochs", "batch_size", "stride", "tail", "num_processes",
                  "files_per_process", "max_calibration_errors")


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
    window: int = 64
    latent: int = 8
    hidden: int = 16
    epochs: int = 5
    batch_size: int = 256
    learning_rate: float = 1e-3
    beta: float = 1.0
    stride: int = 1
    tail: int = 1
    scaling: str = "window"
    num_processes: int = 2
    local_mode: bool = True
    use_gpu: Any = "auto"
    table: str = ""
    series_column: str = "series_id"
    channel_column: str = "channel"
    timestamp_column: str = "timestamp"
    value_column: str = "value"
    multivariate: bool = False
    channels: tuple[str, ...] = ()
    seed: int = 42
    files_per_process: int = 2
    threads_per_process: int = 1
    max_calibration_errors: int = 50_000
    keep_training_files: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(str(c) for c in (self.channels or ())))
        if isinstance(self.use_gpu, str) and self.use_gpu.lower() in ("true", "false"):
            object.__setattr__(self, "use_gpu", self.use_gpu.lower() == "true")
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first bad value."""
        for name in _POSITIVE_INTS:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"training.{name} must be a positive integer, found {value!r}")
        if self.model not in MODEL_KINDS:
            raise ConfigError(f"training.model {self.model!r} is not one of {list(MODEL_KINDS)}")
        if self.scaling not in SCALINGS:
            raise ConfigError(f"training.scaling {self.scaling!r} is not one of {list(SCALINGS)}")
        if self.window < 4:
            raise ConfigError(f"training.window must be at least 4 rows, found {self.window}")
        if self.tail > self.window:
            raise ConfigError(f"training.tail {self.tail} is longer than training.window {self.window}")
        if not isinstance(self.learning_rate, int | float) or not 0 < self.learning_rate < 10:
            raise ConfigError(f"training.learning_rate must be in (0, 10), found {self.learning_rate!r}")
        if not isinstance(self.beta, int | float) or self.beta < 0:
            raise ConfigError(f"training.beta must be a non-negative number, found {self.beta!r}")
        if not isinstance(self.threads_per_process, int) or self.threads_per_process < 0:
            raise ConfigError(f"training.threads_per_process must be 0 (torch's default) or more, "
                              f"found {self.threads_per_process!r}")
        if self.use_gpu not in ("auto", True, False):
            raise ConfigError(f"training.use_gpu must be 'auto', true or false, found {self.use_gpu!r}")
        for name in ("local_mode", "multivariate", "keep_training_files"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"training.{name} must be true or false, found {getattr(self, name)!r}")

    def with_overrides(self, **changes: Any) -> TrainingSettings:
        """A copy with the given fields replaced (``None`` values are ignored), validated again."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(f"training: unknown setting(s) {unknown}")
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (for run parameters)."""
        return asdict(self)

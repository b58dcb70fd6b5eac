"""Settings of retraining (config section ``retrain:``), read with :func:`retrain_settings`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from lakewatch.config import Flag, Fraction, LakewatchConfig, Number, PositiveInt
from lakewatch.errors import ConfigError
from lakewatch.evaluation.corpus import NabCorpus, NabCorpusError, default_corpus_path, resolve_corpus_path
from lakewatch.streaming.settings import parse_duration

SECTION = "retrain"
DEEP = "deep"


@dataclass(frozen=True)
class RetrainSettings:
    """What a retrain trains and how it judges.

    The held-back window is the last ``holdout`` of the series' readings; the candidate trains on the
    ``train_period`` before it. ``model`` "deep" trains a window autoencoder (the ``training:`` section with
    ``training`` overrides, as the train job does); a detector name of conf/detectors.yaml takes that online
    detector as it is configured (nothing is fitted offline: it is judged as the candidate). Both models score the
    training period and the held-back window in one pass, so online detectors are warm when the window starts.

    With label windows (gold.labels) covering part of the held-back window the criterion is the average precision
    of the scores (higher is better); without, it is the flag-rate error |share of held-back points flagged -
    ``expected_flag_rate``| (lower is better), a point being flagged at ``flag_threshold`` (null: the detector's
    calibrated threshold in conf/detectors.yaml, else 0.5). The candidate must beat the champion by more than
    ``min_improvement``. Fewer than ``min_rows`` readings in the held-back window or the training period fail the
    request.

    With ``nab`` on, a univariate candidate and champion are also scored on the NAB corpus ``nab_corpus`` (""
    = the default corpus; only its files ``nab_files`` when given) with the NAB scorer, standard profile, and the
    candidate is promoted only if its score is not below the champion's by more than ``nab_tolerance`` (points of
    the normalised 0-100 score). Off by default: the full corpus costs minutes per request on a small machine.
    """

    holdout: str = "24h"
    train_period: str = "7d"
    model: str = DEEP
    expected_flag_rate: Fraction = 0.01
    flag_threshold: Fraction | None = None
    min_improvement: Annotated[Number, Field(ge=0)] = 0.0
    min_rows: PositiveInt = 30
    training: Mapping[str, Any] = field(default_factory=dict)
    nab: Flag = False
    nab_tolerance: Annotated[Number, Field(ge=0)] = 0.0
    nab_corpus: str = ""
    nab_files: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "nab_files", tuple(str(f) for f in (self.nab_files or ())))
        for key in ("holdout", "train_period"):
            if parse_duration(getattr(self, key), f"{SECTION}.{key}") <= 0:
                raise ConfigError(f"{SECTION}.{key}={getattr(self, key)!r}: expected a duration above 0, e.g. '24h'")

    @property
    def nab_corpus_path(self) -> Path:
        """The NAB corpus: ``nab_corpus`` resolved against the project root, or the default corpus when empty."""
        return resolve_corpus_path(self.nab_corpus) if self.nab_corpus else default_corpus_path()

    @property
    def holdout_seconds(self) -> float:
        """The held-back window's length in seconds."""
        return parse_duration(self.holdout, f"{SECTION}.holdout")

    @property
    def train_seconds(self) -> float:
        """The training period's length in seconds."""
        return parse_duration(self.train_period, f"{SECTION}.train_period")


def retrain_settings(config: LakewatchConfig) -> RetrainSettings:
    """The ``retrain:`` section of `config` (ConfigError naming a bad key or value, a ``model`` that is neither
    "deep" nor a configured detector, or with ``nab`` on an unusable NAB corpus)."""
    settings = config.settings(SECTION, RetrainSettings)
    if settings.model != DEEP and config.detectors.resolve(settings.model) not in config.detectors.entries:
        raise ConfigError(f"{SECTION}.model={settings.model!r}: expected 'deep' or a detector of conf/detectors.yaml "
                          f"({', '.join(config.detectors.names())})")
    if settings.nab:  # checked before any Spark work, as the train job checks --corpus
        try:
            NabCorpus(settings.nab_corpus_path).check()
        except NabCorpusError as exc:
            raise ConfigError(f"{SECTION}.nab_corpus={settings.nab_corpus!r}: {exc}") from exc
    return settings

"""A trained multichannel model as a machine's detector (the score stream's `streaming.entities.model`, the evaluate
job's `--model`): loaded from MLflow, checked against the machines' channels, wrapped in the machine likelihood."""

from __future__ import annotations

from collections.abc import Sequence

from lakewatch.config import LakewatchConfig
from lakewatch.detectors import Detector, get_detector
from lakewatch.detectors.likelihood import LikelihoodDetector
from lakewatch.errors import ConfigError
from lakewatch.tracking.pyfunc import load_model_detector

#: The catalog entry whose likelihood parameters wrap a model's scores for machines (conf/detectors.yaml).
MACHINE_LIKELIHOOD = "mknn_likelihood"


def machine_model_detector(config: LakewatchConfig, uri: str, channel_lists: Sequence[Sequence[str]],
                           setting: str) -> Detector:
    """The multichannel detector logged at `uri` (an MLflow model, e.g. trained by `train` with
    training.multivariate), wrapped in the machine likelihood (MACHINE_LIKELIHOOD's parameters), so its scores mean
    what lakewatch_machine's members' scores mean. Every machine's channels (`channel_lists`) must be the model's,
    in its order when the model names them (a model reads its inputs by position). ConfigError naming `setting`
    (the option that gave the URI), the URI and what does not fit."""
    try:
        base = load_model_detector(uri, config)
    except Exception as exc:  # MLflow raises its own types for a missing model, alias or store
        raise ConfigError(f"{setting} {uri!r} cannot be loaded: {str(exc).splitlines()[0]}") from exc
    if not base.multivariate:
        raise ConfigError(f"{setting} {uri!r} is a univariate detector ({base.name}); machines need a multichannel "
                          "one (train it with training.multivariate=true)")
    for channels in channel_lists:
        problem = channels_problem(base, channels)
        if problem:
            raise ConfigError(f"{setting} {uri!r}: {problem}")
    params = get_detector(MACHINE_LIKELIHOOD, catalog=config.detectors).params.as_dict()
    return LikelihoodDetector(base, params, name=f"likelihood({base.name})")


def channels_problem(detector: Detector, channels: Sequence[str]) -> str | None:
    """Why a machine with `channels` (in the order its rows are fed) cannot be scored by `detector` (a model from
    :func:`machine_model_detector`, or its base), or None when it can: the count, and the names and their order
    when the model names its channels."""
    count, named = _channels(detector)
    if len(channels) == count and (not named or tuple(channels) == named):
        return None
    return (f"the model scores {model_channels(detector)}; entities with channels {list(channels)} cannot use it "
            "(train the model on those channels, in that order: training.channels)")


def model_channels(detector: Detector) -> str:
    """The channels a model scores, for messages: its channel names in order, else their count."""
    count, named = _channels(detector)
    return str(list(named)) if named else f"{count} channels"


def _channels(detector: Detector) -> tuple[int, tuple[str, ...]]:
    """A model's channel count and names (empty when it does not name them), through a likelihood wrapper."""
    base = getattr(detector, "base", detector)
    return base.channels, tuple(getattr(base, "channel_names", ()) or ())

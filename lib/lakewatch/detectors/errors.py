"""Exceptions of the detector library; every message names the input, what was found and what was expected."""

from __future__ import annotations

from lakewatch.errors import ConfigError, LakewatchError


class DetectorError(LakewatchError):
    """Base class of the errors the detector library raises on purpose."""


class UnknownDetectorError(DetectorError, KeyError):
    """A detector name is not in the registry."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0]) if self.args else ""


class DetectorParamsError(DetectorError, ValueError):
    """Detector parameters are unknown, missing, of the wrong type or out of range."""


class DetectorInputError(DetectorError, ValueError):
    """Values or timestamps passed to ``update`` have the wrong shape, dtype or order."""


class StateError(DetectorError, ValueError):
    """A detector state is malformed or belongs to another detector."""


class StateVersionError(StateError):
    """Serialised state bytes carry a format version this library cannot read."""


class DetectorConfigError(DetectorError, ConfigError):
    """The detector catalog (conf/detectors.yaml, as layered into the configuration) is malformed."""

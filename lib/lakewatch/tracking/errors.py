"""The error every part of lakewatch.tracking raises."""

from __future__ import annotations

from lakewatch.errors import LakewatchError


class TrackingError(LakewatchError):
    """The tracking store, registry or a logged model cannot be used as configured."""

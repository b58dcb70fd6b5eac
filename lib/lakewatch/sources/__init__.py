"""Sources of raw readings, each behind the same small interface (see base.Source)."""

from lakewatch.sources.base import RawRead, RejectedFile, Source
from lakewatch.sources.factory import build_source

__all__ = ["RawRead", "RejectedFile", "Source", "build_source"]

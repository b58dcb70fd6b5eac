"""Build a source from its name in the config: 'synthetic', 'machines', or a files source defined under sources:."""

from __future__ import annotations

from lakewatch.config import LakewatchConfig
from lakewatch.sources.base import Source
from lakewatch.sources.files import FileSource
from lakewatch.sources.machine_source import SOURCE_NAME as MACHINES
from lakewatch.sources.machine_source import MachineSource
from lakewatch.sources.nab import NabSource
from lakewatch.sources.synthetic import SOURCE_NAME, SyntheticSource


def build_source(config: LakewatchConfig, name: str, path: str | None = None) -> Source:
    """The source called `name`; `path` replaces its configured location (a NAB checkout for 'nab')."""
    if name == SOURCE_NAME:
        return SyntheticSource(config.synthetic)
    if name == MACHINES:
        return MachineSource(config.machines)
    spec = config.source(name)
    if spec.labels or name == "nab":
        return NabSource(spec, nab_dir=path)
    return FileSource(spec, path=path)

"""The labelled-lakehouse objective: a detector configuration scored over every chosen entity of a lakehouse
(a series_id with one or more channels) against its labels, the way the evaluate job scores it.

A trial evaluates each entity with :func:`lakewatch.evaluation.entities.evaluate_entity` (the evaluate job's own
per-entity function: alignment, the ``--train-rows`` healthy start, point counts and NAB window scores), sums the
results with :func:`lakewatch.evaluation.general.summed_results` and returns minus the overall point-wise F1
(``f1``) or minus the overall normalised NAB standard score (``nab``). The readings are a Parquet copy of the
chosen silver rows that the driver writes once; each process (a Spark executor under SparkTrials) reads it once
for all its trials, so on a cluster it must be on a shared file system, as the NAB corpus must.

A search-space parameter names what it changes:

* ``name`` - a parameter of the tuned detector's own entry (``--set detectors.<detector>.params.<name>``);
* ``entry.name`` - a parameter of another entry of conf/detectors.yaml, e.g. ``pca_t2q.variance_kept`` or
  ``mknn.k`` inside ``lakewatch_machine`` (``--set detectors.<entry>.params.<name>``);
* ``threshold`` - the flag threshold (the evaluate job's ``--threshold``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from lakewatch.config import DetectorCatalog
from lakewatch.evaluation.entities import SCORED, EvaluationSpec, evaluate_entity
from lakewatch.evaluation.general import result_metrics, summed_results
from lakewatch.tuning.base import ObjectiveResult, SearchSpace, TuningError

THRESHOLD = "threshold"
LAKEHOUSE_OBJECTIVES = ("f1", "nab")
_READINGS: dict[str, list[pd.DataFrame]] = {}  # per process: a worker reads the readings once for all its trials


def entity_frames(path: str) -> list[pd.DataFrame]:
    """The readings at `path` as one frame per series_id, read once per process."""
    if path not in _READINGS:
        frame = pd.read_parquet(path, columns=["series_id", "channel", "micros", "value"])
        _READINGS[path] = [group.reset_index(drop=True) for _, group in frame.groupby("series_id", sort=True)]
    return _READINGS[path]


def entry_tree(catalog: DetectorCatalog, name: str) -> list[str]:
    """``name`` and every entry it wraps or combines, depth first."""
    entry = catalog.entries[name]
    return [name, *(inner for ref in entry.refs() for inner in entry_tree(catalog, ref))]


def with_overrides(catalog: DetectorCatalog, overrides: Mapping[str, Mapping[str, Any]], detector: str
                   ) -> DetectorCatalog:
    """``catalog`` with each entry's parameters updated by ``overrides`` ({entry: {param: value}}); TuningError
    naming an entry that is not ``detector`` or inside it."""
    inside = entry_tree(catalog, detector)
    stray = sorted(set(overrides) - set(inside))
    if stray:
        raise TuningError(f"search space of {detector} names {stray}, not {detector} or an entry inside it "
                          f"({', '.join(dict.fromkeys(inside))})")
    entries = dict(catalog.entries)
    for name, params in overrides.items():
        entries[name] = replace(entries[name], params={**entries[name].params, **params})
    return replace(catalog, entries=entries)


@dataclass(frozen=True)
class LakehouseObjective:
    """Loss = minus the overall ``metric`` (``f1`` or ``nab``) of ``detector`` with the trial's parameters over
    the entities whose readings (series_id, channel, micros, value) are the Parquet files at ``readings``;
    ``spec`` is the evaluate job's specification of the run (detectors, thresholds, labels, train rows)."""

    readings: str
    detector: str
    spec: EvaluationSpec
    metric: str = "f1"

    def __post_init__(self) -> None:
        if self.metric not in LAKEHOUSE_OBJECTIVES:
            raise TuningError(f"lakehouse objective {self.metric!r} is not one of {list(LAKEHOUSE_OBJECTIVES)}")

    def split(self, params: Mapping[str, Any]) -> tuple[float | None, dict[str, dict[str, Any]]]:
        """A trial's parameters as (threshold or None, {catalog entry: {param: value}})."""
        threshold = params.get(THRESHOLD)
        overrides: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            if key == THRESHOLD:
                continue
            entry, _, name = key.rpartition(".")
            overrides.setdefault(entry or self.detector, {})[name] = value
        return (None if threshold is None else float(threshold)), overrides

    def trial_spec(self, params: Mapping[str, Any]) -> EvaluationSpec:
        """The evaluation specification of a trial with ``params`` (see the module docstring)."""
        threshold, overrides = self.split(params)
        thresholds = dict(self.spec.thresholds)
        if threshold is not None:
            thresholds = dict.fromkeys(thresholds, threshold)
        catalog = with_overrides(self.spec.catalog, overrides, self.detector)
        return replace(self.spec, catalog=catalog, thresholds=thresholds)

    def results(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One evaluate result row (ENTITY_RESULT_SCHEMA) per entity, with ``params``."""
        spec = self.trial_spec(params)
        return [evaluate_entity(group, spec).iloc[0].to_dict() for group in entity_frames(self.readings)]

    def evaluate(self, params: Mapping[str, Any]) -> dict[str, float]:
        """Overall metrics with ``params``: precision, recall, f1, false/missed alarm rates, nab_standard (with the
        nab objective), the point counts and the number of entities scored."""
        results = self.results(params)
        scored = [row for row in results if row["status"] == SCORED]
        if not scored:
            reasons = "; ".join(f"{row['entity']}: {row['reason']}" for row in results[:5])
            raise TuningError(f"no entity could be evaluated ({reasons})")
        total = summed_results(scored)
        metrics = result_metrics(total, self.metric == "nab")
        out = {k: float(v) for k, v in metrics.items() if v is not None}
        out.update({k: float(total[k]) for k in ("tp", "fp", "fn", "tn")})
        out["entities_scored"] = float(len(scored))
        return out

    def __call__(self, params: dict[str, Any]) -> ObjectiveResult:
        """Score one configuration over every entity (see the class docstring)."""
        began = time.perf_counter()
        metrics = self.evaluate(params)
        key = "f1" if self.metric == "f1" else "nab_standard"
        value = metrics.get(key, math.nan)
        if not math.isfinite(value):
            raise TuningError(f"overall {key} is undefined with {dict(params)} (no labelled and no flagged row)")
        return ObjectiveResult(-value, metrics, time.perf_counter() - began)


def check_space(objective: LakehouseObjective, space: SearchSpace) -> None:
    """Build the tuned detector with every parameter of ``space`` at its low end (or first choice), so a misnamed
    entry or parameter fails before any trial; raises TuningError naming it."""
    from lakewatch.detectors import DetectorParamsError, get_detector

    sample = {spec.name: spec.cast(spec.args[0]) for spec in space}
    try:
        spec = objective.trial_spec(sample)
        get_detector(objective.detector, catalog=spec.catalog, channels=max(spec.detectors) or None)
    except DetectorParamsError as exc:
        raise TuningError(f"search space for {objective.detector}: {exc}") from exc

"""The NAB check of a retrain (``retrain.nab``): the candidate and the champion scored on the NAB corpus with the
project's NAB scorer (lakewatch.evaluation, the in-process run the train job's ``--evaluate-nab`` uses), and the
rule that a candidate worse on NAB than the champion by more than ``retrain.nab_tolerance`` is not promoted.

NAB is univariate: a multivariate candidate or champion (a multichannel entity, channel '*') is not checked, and
the decision says so. Both models run over the same series, read once, from a fresh state per file."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from lakewatch.evaluation.in_process import run_on_nab, score_nab_run
from lakewatch.retrain.settings import RetrainSettings
from lakewatch.tracking.registry import NAB_METRIC
from lakewatch.training.run import nab_series

PROFILE = "standard"


@dataclass(frozen=True)
class NabCheck:
    """Both models' normalised NAB scores per profile (``champion`` None without a champion), or why the check
    was skipped (``skipped``), and what it ran on."""

    candidate: dict[str, float] | None = None
    champion: dict[str, float] | None = None
    tolerance: float = 0.0
    files: int = 0
    seconds: float = 0.0
    skipped: str | None = None
    whole_corpus: bool = False

    @property
    def blocks(self) -> bool:
        """Whether the candidate's standard score is below the champion's by more than the tolerance."""
        if self.skipped or self.candidate is None or self.champion is None:
            return False
        return self.candidate[PROFILE] < self.champion[PROFILE] - self.tolerance

    def reason(self) -> str:
        """The comparison in words, e.g. 'NAB standard 61.2 < champion 74.9'."""
        if self.skipped:
            return f"NAB not checked: {self.skipped}"
        ours = f"NAB {PROFILE} {self.candidate[PROFILE]:.1f}"
        if self.champion is None:
            return f"{ours}, no champion"
        slack = f" - tolerance {self.tolerance:g}" if self.tolerance else ""
        return f"{ours} {'<' if self.blocks else '>='} champion {self.champion[PROFILE]:.1f}{slack}"

    def to_json(self) -> dict[str, Any]:
        """The check for ops.retrain_requests' details: the standard scores, every profile, and what it ran on."""
        if self.skipped:
            return {"skipped": self.skipped}
        return {"profile": PROFILE, "candidate": self.candidate[PROFILE],
                "champion": self.champion[PROFILE] if self.champion else None,
                "profiles": {"candidate": self.candidate, "champion": self.champion}, "tolerance": self.tolerance,
                "files": self.files, "whole_corpus": self.whole_corpus, "seconds": self.seconds}

    def metrics(self) -> dict[str, float]:
        """MLflow metrics: ``candidate_nab_<profile>`` and ``champion_nab_<profile>`` for every profile, and on the
        whole corpus the candidate's standard score as ``nab_standard`` too, the metric the train and tune jobs'
        promotion reads from a version's run (a score on some files only is not comparable with theirs)."""
        out = {f"candidate_nab_{p}": v for p, v in (self.candidate or {}).items()}
        if self.whole_corpus and self.candidate:
            out[NAB_METRIC] = self.candidate[PROFILE]
        return {**out, **{f"champion_nab_{p}": v for p, v in (self.champion or {}).items()}}


def _univariate(role: str, detector: Any) -> str | None:
    channels = getattr(detector, "channels", 1)
    return None if channels == 1 else f"the {role} is multivariate ({channels} channels); NAB is univariate"


def nab_check(settings: RetrainSettings, candidate: Any, champion: Any | None) -> NabCheck:
    """Score `candidate` and `champion` (detectors; champion None when there is none) on the corpus of `settings`
    (only ``nab_files`` when given). A multivariate model skips the check. NabCorpusError for an unusable corpus,
    ConfigError for files the corpus does not label."""
    for role, detector in (("candidate", candidate), ("champion", champion)):
        why = _univariate(role, detector) if detector is not None else None
        if why:
            return NabCheck(tolerance=float(settings.nab_tolerance), skipped=why)
    began = time.perf_counter()
    corpus, series = nab_series(settings.nab_corpus_path, settings.nab_files)
    ours = score_nab_run(corpus, run_on_nab(corpus, candidate, series))
    theirs = score_nab_run(corpus, run_on_nab(corpus, champion, series)) if champion is not None else None
    return NabCheck(ours, theirs, float(settings.nab_tolerance), len(series), round(time.perf_counter() - began, 2),
                    whole_corpus=not settings.nab_files)

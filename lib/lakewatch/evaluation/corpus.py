"""The NAB corpus: where a NAB checkout keeps its files, the one check that it is usable, and loading it.

A NAB checkout has ``data/<category>/<file>.csv`` (timestamp,value), ``labels/combined_windows.json`` (the
labelled windows, keyed ``"<category>/<file>.csv"``), ``config/profiles.json`` (the cost profiles) and, in a
full checkout, ``results/`` with the published detectors' outputs. No other lakewatch module spells these
names or the default corpus location: they ask a :class:`NabCorpus`. Spark-free.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lakewatch.config import project_root
from lakewatch.evaluation.nab_files import load_profiles, load_windows
from lakewatch.evaluation.nab_scoring import CostProfile, NabError

#: The default corpus, relative to the project root (a NAB checkout next to the lakewatch checkout).
DEFAULT_CORPUS = "../shared/nab"
#: The environment variable that names another default corpus.
NAB_DIR_VARIABLE = "LAKEWATCH_NAB_DIR"
#: NAB's three cost profiles; a usable corpus defines all of them.
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")

_DATA = "data"
_WINDOWS = "labels/combined_windows.json"
_PROFILES = "config/profiles.json"
_THRESHOLDS = "config/thresholds.json"
_RESULTS = "results"
_FINAL_RESULTS = "final_results.json"


class NabCorpusError(NabError, ValueError):
    """A NAB corpus directory is missing, incomplete or inconsistent (a labelled data file absent, ...)."""


def resolve_corpus_path(path: str | Path) -> Path:
    """``path`` as an absolute corpus directory: relative paths are relative to the project root."""
    path = Path(path)
    return (path if path.is_absolute() else project_root() / path).resolve()


def default_corpus_path() -> Path:
    """The default NAB corpus, resolved: ``$LAKEWATCH_NAB_DIR`` if set (a checkout elsewhere, e.g. for a second
    working tree of the project), else :data:`DEFAULT_CORPUS` under the project root."""
    return resolve_corpus_path(os.environ.get(NAB_DIR_VARIABLE) or DEFAULT_CORPUS)


@dataclass(frozen=True)
class NabSeries:
    """One NAB data file: its key (``category/file.csv``), timestamps (epoch ns) and values."""

    key: str
    timestamps: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class NabCorpus:
    """A NAB checkout at ``root`` (a path; relative paths are taken as given, i.e. from the working directory)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @classmethod
    def at(cls, corpus: NabCorpus | str | Path) -> NabCorpus:
        """``corpus`` itself when it is a :class:`NabCorpus`, else the corpus at that path."""
        return corpus if isinstance(corpus, NabCorpus) else cls(Path(corpus))

    # ------------------------------------------------------------------------------------------- paths
    @property
    def data_dir(self) -> Path:
        """``data/``: one folder per category, one CSV per series."""
        return self.root / _DATA

    @property
    def windows_file(self) -> Path:
        """``labels/combined_windows.json``: the labelled anomaly windows per data file."""
        return self.root / _WINDOWS

    @property
    def profiles_file(self) -> Path:
        """``config/profiles.json``: NAB's cost profiles."""
        return self.root / _PROFILES

    @property
    def thresholds_file(self) -> Path:
        """``config/thresholds.json``: the published detectors' optimised thresholds per profile."""
        return self.root / _THRESHOLDS

    @property
    def results_dir(self) -> Path:
        """``results/``: the published detectors' outputs in NAB's results layout."""
        return self.root / _RESULTS

    @property
    def final_results_file(self) -> Path:
        """``results/final_results.json``: the published normalised scores per detector and profile."""
        return self.results_dir / _FINAL_RESULTS

    def data_file(self, key: str) -> Path:
        """The data file of window key ``key`` (``category/file.csv``)."""
        return self.data_dir / key

    # ------------------------------------------------------------------------------------------- check
    def check(self) -> NabCorpus:
        """This corpus, after checking it can be evaluated on: the root, ``data/``, the windows file and the
        profiles file exist, the windows list at least one file, every listed file is under ``data/`` and the
        profiles define all of :data:`PROFILES`. Raises :class:`NabCorpusError` naming the corpus and what is
        missing (malformed JSON raises the file readers' :class:`NabDataError`)."""
        where = f"NAB corpus {str(self.root)!r}"
        if not self.root.is_dir():
            raise NabCorpusError(f"{where} is not a directory; expected a NAB checkout")
        for needed, path in ((_DATA, self.data_dir), (_WINDOWS, self.windows_file), (_PROFILES, self.profiles_file)):
            if not path.exists():
                raise NabCorpusError(f"{where}: no {needed} there; expected a NAB checkout")
        windows = self.windows()
        if not windows:
            raise NabCorpusError(f"{where}: {_WINDOWS} lists no data file; expected at least one")
        missing = sorted(key for key in windows if not self.data_file(key).is_file())
        if missing:
            raise NabCorpusError(f"{where}: {len(missing)} labelled file(s) missing under {_DATA}/, e.g. "
                                 f"{missing[:3]}; expected one data file per key of {_WINDOWS}")
        absent = [name for name in PROFILES if name not in self.profiles()]
        if absent:
            raise NabCorpusError(f"{where}: {_PROFILES} lacks profile(s) {absent}; expected {list(PROFILES)}")
        return self

    # ------------------------------------------------------------------------------------------- loading
    def windows(self) -> dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]]:
        """The labelled windows, ``{"category/file.csv": [(start, end), ...]}`` (see ``load_windows``)."""
        return load_windows(self.windows_file)

    def profiles(self) -> dict[str, CostProfile]:
        """The cost profiles, ``{name: CostProfile}`` (see ``load_profiles``)."""
        return load_profiles(self.profiles_file)

    def series(self) -> list[NabSeries]:
        """Every labelled data file as a :class:`NabSeries` (timestamp and value columns), sorted by key, after
        :meth:`check`."""
        self.check()
        out = []
        for key in sorted(self.windows()):
            frame = pd.read_csv(self.data_file(key))
            stamps = pd.to_datetime(frame["timestamp"]).to_numpy(dtype="datetime64[ns]").view(np.int64)
            out.append(NabSeries(key, stamps, frame["value"].to_numpy(dtype=np.float64)))
        return out

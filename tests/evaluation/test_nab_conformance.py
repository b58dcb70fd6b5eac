"""Conformance with NAB v1.1's published results, using the NAB corpus in the shared data directory."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pandas as pd
import pytest

from lakewatch.evaluation import (
    PROFILES,
    NabCorpus,
    load_thresholds,
    probation_length,
    read_results_dir,
    score_all_profiles,
    score_corpus,
)
from tests.conftest import nab_dir

DETECTORS = ("numenta", "windowedGaussian")


@pytest.fixture(scope="module")
def nab() -> NabCorpus:
    return NabCorpus(nab_dir())


@pytest.fixture(scope="module")
def windows(nab: NabCorpus) -> dict:
    return nab.windows()


@pytest.fixture(scope="module")
def profiles(nab: NabCorpus) -> dict:
    return nab.profiles()


@pytest.fixture(scope="module")
def published_thresholds(nab: NabCorpus) -> dict:
    return load_thresholds(nab.thresholds_file)


@pytest.fixture(scope="module")
def frames(nab: NabCorpus) -> dict:
    return {detector: read_results_dir(nab.results_dir, detector) for detector in DETECTORS}


@pytest.fixture(scope="module")
def scored(frames, windows, profiles, published_thresholds) -> dict:
    return {
        detector: score_all_profiles(frames[detector], windows, profiles, published_thresholds[detector])
        for detector in DETECTORS
    }


def _score_table(nab: NabCorpus, detector: str, profile: str) -> pd.DataFrame:
    table = pd.read_csv(nab.results_dir / detector / f"{detector}_{profile}_scores.csv")
    return table[table["Detector"] != "Totals"].set_index("File")


def test_corpus_is_the_one_expected(frames, windows) -> None:
    assert sum(len(limits) for limits in windows.values()) == 116
    for detector in DETECTORS:
        assert sorted(frames[detector]) == sorted(windows)
        assert sum(len(frame) for frame in frames[detector].values()) == 365558


@pytest.mark.parametrize("detector", DETECTORS)
@pytest.mark.parametrize("profile", PROFILES)
def test_normalised_scores_reproduce_final_results(nab: NabCorpus, scored, detector: str, profile: str) -> None:
    final = json.loads(nab.final_results_file.read_text())
    assert scored[detector][profile].normalized == pytest.approx(final[detector][profile], abs=0.01)


@pytest.mark.parametrize("detector", DETECTORS)
@pytest.mark.parametrize("profile", PROFILES)
def test_per_file_scores_and_counts_match_nab_tables(nab: NabCorpus, scored, detector: str, profile: str) -> None:
    table = _score_table(nab, detector, profile)
    result = scored[detector][profile]
    assert sorted(f.file for f in result.files) == sorted(table.index)
    for file_score in result.files:
        row = table.loc[file_score.file]
        assert file_score.score == pytest.approx(row["Score"], abs=1e-6), file_score.file
        counts = (file_score.tp, file_score.tn, file_score.fp, file_score.fn, file_score.total)
        assert counts == (row["TP"], row["TN"], row["FP"], row["FN"], row["Total_Count"]), file_score.file
        scored_rows = row["Total_Count"] - probation_length(row["Total_Count"])
        assert row["TP"] + row["TN"] + row["FP"] + row["FN"] == scored_rows


@pytest.mark.parametrize("detector", DETECTORS)
def test_null_baseline_matches_published_null_detector(nab: NabCorpus, scored, detector: str) -> None:
    published = json.loads(nab.thresholds_file.read_text())["null"]
    for profile in PROFILES:
        assert scored[detector][profile].null_score == pytest.approx(published[profile]["score"])


def test_null_and_perfect_detectors_on_the_corpus(frames, windows, profiles) -> None:
    null, perfect = {}, {}
    for key, frame in frames["numenta"].items():
        null[key] = frame.assign(anomaly_score=0.0)
        stamps = frame["timestamp"]
        starts = stamps.isin([start for start, _ in windows[key]])
        perfect[key] = frame.assign(anomaly_score=np.where(starts, 1.0, 0.0))
    for profile in profiles.values():
        assert score_corpus(null, windows, profile, 0.5).normalized == pytest.approx(0.0, abs=1e-9)
        assert score_corpus(perfect, windows, profile, 0.5).normalized == pytest.approx(100.0)


@pytest.mark.parametrize("detector", DETECTORS)
def test_optimised_threshold_is_at_least_as_good_as_published(frames, windows, profiles, scored, detector) -> None:
    optimised = score_all_profiles(frames[detector], windows, profiles)
    for profile in PROFILES:
        assert optimised[profile].raw_score >= scored[detector][profile].raw_score - 1e-9
        assert optimised[profile].normalized >= scored[detector][profile].normalized - 1e-9
        # The optimum is an actual anomaly score of the detector (or 1.1, nothing detected).
        all_scores = np.concatenate([frame["anomaly_score"].to_numpy() for frame in frames[detector].values()])
        assert optimised[profile].threshold in set(all_scores) | {1.1}
        assert math.isfinite(optimised[profile].normalized)


def test_corpus_optimisation_is_fast(frames, windows, profiles) -> None:
    started = time.perf_counter()
    score_all_profiles(frames["numenta"], windows, profiles)
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0, f"optimising three profiles over the corpus took {elapsed:.2f}s"

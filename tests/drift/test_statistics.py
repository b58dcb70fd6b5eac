"""Drift statistics on known distributions, the per-group comparisons and the drift settings, without Spark."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lakewatch.config import load_config, validated
from lakewatch.drift import statistics
from lakewatch.drift.measure import (
    COMPARED,
    ENTITY_CHANNEL,
    STATS_COLUMNS,
    TOO_FEW_ROWS,
    compare_channel,
    compare_entity,
    judge,
)
from lakewatch.drift.settings import DriftSettings, DriftThresholds, drift_settings
from lakewatch.errors import ConfigError

RNG = np.random.default_rng(7)
REFERENCE = RNG.normal(10.0, 2.0, 5000)
SAME = RNG.normal(10.0, 2.0, 400)
SHIFTED = RNG.normal(12.0, 2.0, 400)      # a level shift of one sigma
WIDER = RNG.normal(10.0, 5.0, 400)        # the spread 2.5 times larger, same mean


def correlated(n: int, rho: float, rng: np.random.Generator) -> np.ndarray:
    """n rows of two standard normal channels with correlation rho (each channel alone is N(0, 1) whatever rho)."""
    z = rng.normal(size=(n, 2))
    return np.column_stack([z[:, 0], rho * z[:, 0] + np.sqrt(1 - rho ** 2) * z[:, 1]])


def test_identical_distributions_give_statistics_near_zero() -> None:
    assert statistics.ks(REFERENCE, SAME)[0] < 0.1
    assert statistics.psi(REFERENCE, SAME) < 0.05
    assert statistics.wasserstein(REFERENCE, SAME) < 0.2
    assert statistics.ks(REFERENCE, REFERENCE) == (0.0, 1.0)
    assert statistics.psi(REFERENCE, REFERENCE) == pytest.approx(0.0, abs=1e-12)
    assert statistics.wasserstein(REFERENCE, REFERENCE) == 0.0


def test_a_level_shift_gives_large_statistics_and_wasserstein_in_reference_sigmas() -> None:
    ks, p_value = statistics.ks(REFERENCE, SHIFTED)
    assert ks > 0.3 and p_value < 1e-10
    assert statistics.psi(REFERENCE, SHIFTED) > 0.5
    assert statistics.wasserstein(REFERENCE, SHIFTED) == pytest.approx(1.0, abs=0.15)  # 2.0 / sigma 2.0


def test_a_variance_change_gives_large_statistics_though_the_mean_stays() -> None:
    assert abs(WIDER.mean() - REFERENCE.mean()) < 0.5
    assert statistics.ks(REFERENCE, WIDER)[0] > 0.2
    assert statistics.psi(REFERENCE, WIDER) > 0.5
    assert statistics.wasserstein(REFERENCE, WIDER) > 0.8


def test_psi_bins_follow_the_reference_quantiles_and_an_empty_bin_stays_finite() -> None:
    reference = np.arange(1000.0)
    assert statistics.psi(reference, reference[:500], bins=2) == pytest.approx(
        (1 - 0.5) * np.log(1 / 0.5) + (1e-4 - 0.5) * np.log(1e-4 / 0.5))
    constant = np.full(100, 3.0)
    assert statistics.psi(constant, constant) == 0.0 and np.isfinite(statistics.psi(constant, constant + 1))


def test_the_reference_scale_is_robust_and_never_zero() -> None:
    assert statistics.reference_scale(REFERENCE) == pytest.approx(2.0, rel=0.05)
    assert statistics.reference_scale(np.array([0.0] * 90 + [1.0] * 10)) == pytest.approx(0.3)  # IQR 0: std
    assert statistics.reference_scale(np.full(10, 5.0)) > 0


def test_mmd_sees_a_correlation_break_that_each_channel_alone_does_not() -> None:
    rng = np.random.default_rng(11)
    reference = correlated(3000, 0.9, rng)
    unchanged, broken = correlated(300, 0.9, rng), correlated(300, -0.5, rng)
    assert max(statistics.ks(reference[:, j], broken[:, j])[0] for j in range(2)) < 0.12
    stat_broken, p_broken = statistics.mmd(reference, broken, permutations=200, max_rows=400, seed=1)
    stat_same, p_same = statistics.mmd(reference, unchanged, permutations=200, max_rows=400, seed=1)
    assert stat_broken > 0.05 and p_broken <= 1 / 201 + 1e-12
    assert stat_same < 0.01 and p_same > 0.05
    assert statistics.mmd(reference, broken, permutations=200, max_rows=400, seed=1) == (stat_broken, p_broken)


def test_judge_names_every_statistic_that_crossed_and_skips_null_thresholds() -> None:
    row = {"ks_statistic": 0.41, "psi": 1.9, "wasserstein": 0.1, "flag_rate_shift": -0.08, "mmd": 0.3,
           "mmd_p_value": 0.2}
    assert judge(row, DriftThresholds()) == (True, "ks 0.41 >= 0.2; psi 1.9 >= 0.2; flag_rate_shift -0.08 >= 0.05")
    assert judge(row, DriftThresholds(ks=None, psi=None, flag_rate_shift=None)) == (False, "")
    assert judge({**row, "mmd_p_value": 0.01}, DriftThresholds(ks=None, psi=None, flag_rate_shift=None)) == (
        True, "mmd 0.3 >= 0.02 (p 0.01)")


def _channel_group(reference: np.ndarray, window: np.ndarray, scores: tuple[np.ndarray, np.ndarray] | None = None):
    rows = [("s", "value", side, float(v), None, None)
            for side, values in (("reference", reference), ("window", window)) for v in values]
    if scores is not None:
        rows += [("s", "value", side, None, float(v), bool(v >= 0.5))
                 for side, values in zip(("reference", "window"), scores, strict=True) for v in values]
    return pd.DataFrame(rows, columns=["series_id", "channel", "side", "value", "score", "flag"])


def test_compare_channel_measures_values_and_scores_or_says_too_few_rows() -> None:
    settings = DriftSettings()
    scores = (np.full(100, 0.1), np.concatenate([np.full(80, 0.1), np.full(20, 0.9)]))
    row = compare_channel(_channel_group(REFERENCE[:1000], SHIFTED[:100], scores), settings).iloc[0]
    assert list(row.index) == list(STATS_COLUMNS)
    assert (row["status"], row["rows_reference"], row["rows_window"], bool(row["drifted"])) == (COMPARED, 1000, 100,
                                                                                               True)
    assert row["score_shift"] == pytest.approx(0.16) and row["flag_rate_shift"] == pytest.approx(0.2)
    assert "ks " in row["reason"] and "score_shift 0.16 >= 0.1" in row["reason"]
    same = compare_channel(_channel_group(REFERENCE[:1000], SAME[:100]), settings).iloc[0]
    assert not same["drifted"] and same["reason"] == "" and same["score_shift"] is None
    few = compare_channel(_channel_group(REFERENCE[:1000], SHIFTED[:29]), settings).iloc[0]
    assert (few["status"], bool(few["drifted"]), few["ks_statistic"]) == (TOO_FEW_ROWS, False, None)
    assert few["reason"] == ("too few readings: reference 1000, window 29; at least 30 a side (drift.min_rows) "
                             "are needed")


def test_compare_entity_aligns_channels_by_timestamp() -> None:
    rng = np.random.default_rng(3)
    ref, win = correlated(600, 0.9, rng), correlated(200, -0.5, rng)
    rows = [("m", ch, pd.Timestamp("2026-01-01") + pd.Timedelta(minutes=i), side, values[i, j])
            for side, values in (("reference", ref), ("window", win)) for i in range(len(values))
            for j, ch in enumerate(("a", "b"))]
    group = pd.DataFrame(rows, columns=["series_id", "channel", "timestamp", "side", "value"])
    group = group.drop(index=[1])  # channel b lacks the first reference timestamp: that row is not aligned
    row = compare_entity(group, DriftSettings(mmd_permutations=100)).iloc[0]
    assert (row["channel"], row["rows_reference"], row["rows_window"], bool(row["drifted"])) == (
        ENTITY_CHANNEL, 599, 200, True)
    assert row["mmd"] > 0.05 and row["mmd_p_value"] < 0.02 and row["ks_statistic"] is None


def test_drift_settings_come_from_base_yaml_and_bad_values_name_their_key() -> None:
    settings = drift_settings(load_config("local"))
    assert (settings.reference_seconds, settings.window_seconds) == (30 * 86400, 86400)
    assert settings.thresholds == DriftThresholds()
    assert settings.with_overrides(window="2h", reference=None).window_seconds == 7200
    for bad, message in (({"window": "0"}, "drift.window='0': expected a duration above 0"),
                         ({"reference": "soon"}, "drift.reference='soon': expected a duration like"),
                         ({"thresholds": {"kss": 1}}, r"drift.thresholds: unknown keys \['kss'\]"),
                         ({"thresholds": {"psi": -1}}, "drift.thresholds.psi=-1: expected greater than or equal"),
                         ({"min_rows": 1}, "drift.min_rows=1: expected greater than or equal to 2")):
        with pytest.raises(ConfigError, match=message):
            validated(DriftSettings, bad, "drift")

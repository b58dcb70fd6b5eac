"""One comparison per group, on pandas: the functions lakewatch.drift.spark hands to applyInPandas, testable
without Spark. A channel's group holds its readings and scores of both periods; an entity's group the readings of
all its channels. Each returns one row of :data:`STATS_COLUMNS` (statistics, status, drifted, reason).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from lakewatch.drift import statistics
from lakewatch.drift.settings import STATISTICS, DriftSettings, DriftThresholds

REFERENCE, WINDOW = "reference", "window"
#: The channel of an entity's multichannel row (its joint distribution across channels).
ENTITY_CHANNEL = "*"
COMPARED, TOO_FEW_ROWS = "compared", "too_few_rows"
STATISTIC_COLUMNS = ("ks_statistic", "ks_p_value", "psi", "wasserstein", "score_shift", "flag_rate_reference",
                     "flag_rate_window", "flag_rate_shift", "mmd", "mmd_p_value")
STATS_COLUMNS = ("series_id", "channel", "rows_reference", "rows_window", "status", *STATISTIC_COLUMNS, "drifted",
                 "reason")
# Which output column each judged statistic is read from; flag_rate_shift is judged on its absolute value.
_JUDGED = {"ks": "ks_statistic", "psi": "psi", "wasserstein": "wasserstein", "score_shift": "score_shift",
           "flag_rate_shift": "flag_rate_shift", "mmd": "mmd"}


def judge(row: Mapping[str, float | None], thresholds: DriftThresholds) -> tuple[bool, str]:
    """Whether the statistics of `row` (columns of STATISTIC_COLUMNS, None when not computed) cross their
    thresholds, and the reason: "ks 0.41 >= 0.2; psi 1.9 >= 0.2", or "" when none does. A null threshold or
    statistic is never judged; the MMD counts only with its p-value at most mmd_max_p_value."""
    crossed = []
    for name in STATISTICS:
        limit, value = getattr(thresholds, name), row.get(_JUDGED[name])
        if limit is None or value is None or math.isnan(value):
            continue
        if name == "mmd" and (row.get("mmd_p_value") or 1.0) > thresholds.mmd_max_p_value:
            continue
        if abs(value) >= limit:
            crossed.append(f"{name} {value:.4g} >= {limit:g}" + (
                f" (p {row['mmd_p_value']:.3g})" if name == "mmd" else ""))
    return bool(crossed), "; ".join(crossed)


def _empty_statistics() -> dict[str, float | None]:
    return dict.fromkeys(STATISTIC_COLUMNS)


def _result(series_id: str, channel: str, rows: tuple[int, int], status: str, values: dict[str, float | None],
            drifted: bool, reason: str) -> pd.DataFrame:
    row = {"series_id": series_id, "channel": channel, "rows_reference": rows[0], "rows_window": rows[1],
           "status": status, **values, "drifted": drifted, "reason": reason}
    return pd.DataFrame([row], columns=list(STATS_COLUMNS))


def _too_few(series_id: str, channel: str, rows: tuple[int, int], settings: DriftSettings, what: str) -> pd.DataFrame:
    reason = (f"too few {what}: reference {rows[0]}, window {rows[1]}; at least {settings.min_rows} a side "
              "(drift.min_rows) are needed")
    return _result(series_id, channel, rows, TOO_FEW_ROWS, _empty_statistics(), False, reason)


def compare_channel(group: pd.DataFrame, settings: DriftSettings) -> pd.DataFrame:
    """Statistics of one (series_id, channel) group: columns series_id, channel, side ('reference' | 'window'),
    value (a reading; null on score rows), score and flag (a scored point; null on reading rows).

    Readings give ks, psi and wasserstein; scored points (when both sides have min_rows) give score_shift and the
    flag rates. Fewer than min_rows readings on either side: status too_few_rows, no statistic.
    """
    series_id, channel = str(group["series_id"].iloc[0]), str(group["channel"].iloc[0])
    readings = group[group["value"].notna()]
    ref = readings.loc[readings["side"] == REFERENCE, "value"].to_numpy(float)
    win = readings.loc[readings["side"] == WINDOW, "value"].to_numpy(float)
    rows = (len(ref), len(win))
    if min(rows) < settings.min_rows:
        return _too_few(series_id, channel, rows, settings, "readings")
    values = _empty_statistics()
    values["ks_statistic"], values["ks_p_value"] = statistics.ks(ref, win)
    values["psi"] = statistics.psi(ref, win, settings.psi_bins, settings.psi_epsilon)
    values["wasserstein"] = statistics.wasserstein(ref, win)
    scored = group[group["score"].notna()]
    ref_scored, win_scored = scored[scored["side"] == REFERENCE], scored[scored["side"] == WINDOW]
    if min(len(ref_scored), len(win_scored)) >= settings.min_rows:
        values["score_shift"] = statistics.score_shift(ref_scored["score"].to_numpy(float),
                                                       win_scored["score"].to_numpy(float))
        before, after = statistics.flag_rates(ref_scored["flag"].to_numpy(bool), win_scored["flag"].to_numpy(bool))
        values.update(flag_rate_reference=before, flag_rate_window=after, flag_rate_shift=after - before)
    drifted, reason = judge(values, settings.thresholds)
    return _result(series_id, channel, rows, COMPARED, values, drifted, reason)


def aligned(readings: pd.DataFrame) -> pd.DataFrame:
    """Readings (timestamp, channel, value) as one row per timestamp and one column per channel, keeping the
    timestamps every channel has a reading at."""
    wide = readings.pivot_table(index="timestamp", columns="channel", values="value", aggfunc="last")
    return wide.dropna().sort_index(axis=1)


def compare_entity(group: pd.DataFrame, settings: DriftSettings) -> pd.DataFrame:
    """The MMD and its permutation p-value of one multichannel series (columns series_id, channel, timestamp,
    side, value), on the readings aligned by timestamp (:func:`aligned`); channel ENTITY_CHANNEL ('*').
    Fewer than min_rows aligned timestamps on a side: status too_few_rows."""
    series_id = str(group["series_id"].iloc[0])
    ref = aligned(group[group["side"] == REFERENCE])
    win = aligned(group[group["side"] == WINDOW])
    channels = sorted(set(ref.columns) & set(win.columns))
    rows = (len(ref), len(win))
    if min(rows) < settings.min_rows or len(channels) < 2:
        return _too_few(series_id, ENTITY_CHANNEL, rows, settings, "timestamps with every channel")
    values = _empty_statistics()
    values["mmd"], values["mmd_p_value"] = statistics.mmd(
        ref[channels].to_numpy(float), win[channels].to_numpy(float), settings.mmd_permutations,
        settings.mmd_max_rows, settings.seed)
    drifted, reason = judge(values, settings.thresholds)
    return _result(series_id, ENTITY_CHANNEL, rows, COMPARED, values, drifted, reason)

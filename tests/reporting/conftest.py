"""Fixtures of the report tests: the dashboard's lakehouse of known anomalies (tests/dashboard/lakehouse.py) with
reviewer verdicts, drift measurements and retrain requests added, and an empty lakehouse; built once per module."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from pyspark.sql.pandas.types import to_arrow_schema

from lakewatch.config import LakewatchConfig
from lakewatch.event_ids import event_id
from lakewatch.schemas import GOLD_DRIFT_METRICS, GOLD_FEEDBACK, OPS_RETRAIN_REQUESTS
from tests.conftest import make_config
from tests.dashboard.lakehouse import DETECTOR, EVENTS, MODEL_VERSION, START, THRESHOLD, write_known_lakehouse

#: Verdicts (event index in EVENTS, is_true_positive), oldest first: event 0 is first marked false, then true,
#: so its newest verdict counts; precision so far is 2 of 3.
VERDICTS = [(0, False), (1, True), (2, False), (0, True)]
#: Drift windows (series_id, channel, day after START, drifted): pump/pressure drifted on two windows.
DRIFT_WINDOWS = [("pump", "pressure", 1, False), ("pump", "pressure", 2, True), ("pump", "pressure", 3, True),
                 ("cpu_util", "value", 2, False), ("cpu_util", "value", 3, False)]
#: The retrain request of pump/pressure, decided: the candidate was worse, so the champion stayed.
RETRAIN = {"decision": "kept_champion", "details": '{"candidate": 0.41, "champion": 0.63}'}


def _write(config: LakewatchConfig, key: str, struct, columns: dict) -> None:
    write_deltalake(config.lakehouse.table(getattr(config.tables, key)),
                    pa.table(columns, schema=to_arrow_schema(struct)), mode="overwrite")


def write_reviews_and_drift(config: LakewatchConfig) -> None:
    """gold.feedback (VERDICTS), gold.drift_metrics (DRIFT_WINDOWS) and ops.retrain_requests (RETRAIN)."""
    events = [EVENTS[i] for i, _ in VERDICTS]
    n = len(VERDICTS)
    _write(config, "gold_feedback", GOLD_FEEDBACK, {
        "feedback_id": [f"f{i}" for i in range(n)],
        "event_id": [event_id(e.series_id, e.channel, e.start, DETECTOR, MODEL_VERSION) for e in events],
        "series_id": [e.series_id for e in events], "channel": [e.channel for e in events],
        "event_start": [e.start for e in events], "detector": [DETECTOR] * n, "model_version": [MODEL_VERSION] * n,
        "peak_score": [0.9] * n, "threshold": [THRESHOLD] * n,
        "label": ["true_positive" if tp else "false_positive" for _, tp in VERDICTS],
        "is_true_positive": [tp for _, tp in VERDICTS], "note": [None] * n, "reviewer": ["ana"] * n,
        "source": ["api"] * n, "created_at": [START + timedelta(days=3, hours=i) for i in range(n)]})
    m = len(DRIFT_WINDOWS)
    ends = [START + timedelta(days=d) for _, _, d, _ in DRIFT_WINDOWS]
    _write(config, "gold_drift_metrics", GOLD_DRIFT_METRICS, {
        "series_id": [w[0] for w in DRIFT_WINDOWS], "channel": [w[1] for w in DRIFT_WINDOWS],
        "reference_start": [START - timedelta(days=30)] * m, "reference_end": [START] * m,
        "window_start": [e - timedelta(days=1) for e in ends], "window_end": ends,
        "rows_reference": [8640] * m, "rows_window": [288] * m, "status": ["ok"] * m,
        "ks_statistic": [0.6 if w[3] else 0.05 for w in DRIFT_WINDOWS], "ks_p_value": [0.0] * m,
        "psi": [0.9 if w[3] else 0.02 for w in DRIFT_WINDOWS], "wasserstein": [1.0] * m, "score_shift": [0.1] * m,
        "flag_rate_reference": [0.01] * m, "flag_rate_window": [0.02] * m, "flag_rate_shift": [0.01] * m,
        "mmd": [None] * m, "mmd_p_value": [None] * m, "drifted": [w[3] for w in DRIFT_WINDOWS],
        "reason": ["psi 0.90 > 0.25" if w[3] else None for w in DRIFT_WINDOWS], "run_id": ["drift-1"] * m,
        "computed_at": ends})
    _write(config, "ops_retrain_requests", OPS_RETRAIN_REQUESTS, {
        "request_id": ["r1"], "series_id": ["pump"], "channel": ["pressure"], "window_end": [ends[2]],
        "requested_at": [ends[2]], "reason": ["drifted 2 windows in a row"], "windows": pa.array([2], pa.int32()),
        "status": ["decided"], "run_id": ["drift-1"], "decision": [RETRAIN["decision"]],
        "decided_at": [ends[2] + timedelta(minutes=20)], "details": [RETRAIN["details"]]})


@pytest.fixture(scope="module")
def report_lake(tmp_path_factory: pytest.TempPathFactory) -> LakewatchConfig:
    """The known lakehouse of the dashboard tests with reviews, drift and a retrain."""
    config = make_config(tmp_path_factory.mktemp("report") / "lake")
    write_known_lakehouse(config)
    write_reviews_and_drift(config)
    return config


@pytest.fixture(scope="module")
def empty_lake(tmp_path_factory: pytest.TempPathFactory) -> LakewatchConfig:
    """A lakehouse with no table at all (its root does not exist yet)."""
    return make_config(Path(tmp_path_factory.mktemp("empty")) / "lake")

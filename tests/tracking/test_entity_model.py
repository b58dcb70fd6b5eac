"""A model trained over a machine's channels scores the stream's machines (`streaming.entities.model`): loaded
from the MLflow store, wrapped in the machine likelihood, stamped with the registered version; a model that does
not fit the machines is refused naming what differs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lakewatch import tracking
from lakewatch.detectors import get_detector
from lakewatch.detectors.likelihood import LikelihoodDetector
from lakewatch.errors import ConfigError
from lakewatch.progress import Progress
from lakewatch.streaming.job import entity_scorer
from lakewatch.streaming.settings import stream_settings
from lakewatch.tracking.machines import MACHINE_LIKELIHOOD
from lakewatch.tracking.store import resolve_settings
from tests.conftest import make_config
from tests.deep import trained_detector
from tests.detectors import make_series, timestamps

CHANNELS = ["c0", "c1", "c2"]


def _example() -> pd.DataFrame:
    stamps = pd.date_range("2026-01-01", periods=4, freq="5min")
    return pd.DataFrame([{"series_id": "m-1", "channel": c, "timestamp": t, "value": float(i)}
                         for i, t in enumerate(stamps) for c in CHANNELS])


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 3-channel window autoencoder trained in-process, logged and registered in a lakehouse's store."""
    root = tmp_path_factory.mktemp("entity-model") / "lake"
    config = make_config(root)
    with tracking.start_run(config, "test"):
        uri = tracking.log_detector(trained_detector("cnn_ae", channels=3), _example())
    version = tracking.register_version(config, uri, {"test": "entity-model"})
    return root, f"models:/{resolve_settings(config).registered_model}/{version}"


def _scorer(root: Path, *overrides: str):
    config = make_config(root, *overrides)
    said = io.StringIO()
    return config, entity_scorer(config, stream_settings(config), Progress("test-entity-model", stream=said)), said


def test_a_registered_multichannel_model_scores_the_machines_through_the_machine_likelihood(registered) -> None:
    root, uri = registered
    series = json.dumps({"m-*": CHANNELS})
    config, scorer, said = _scorer(root, f"streaming.entities.series={series}", f"streaming.entities.model={uri}")
    detector = scorer.detector(3)
    assert isinstance(detector, LikelihoodDetector) and detector.base.channel_names == tuple(CHANNELS)
    assert detector.params == get_detector(MACHINE_LIKELIHOOD, catalog=config.detectors).params
    # the model in the store is the one trained: the same scores through the same likelihood
    wide, stamps = make_series(1200, seed=7, channels=3, spike_at=1100, shift=False), timestamps(1200)
    want = LikelihoodDetector(trained_detector("cnn_ae", channels=3), detector.params).score_series(wide, stamps)
    got = detector.score_series(wide, stamps)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert not np.allclose(got, LikelihoodDetector(trained_detector("cnn_ae", channels=3, epochs=1), detector.params)
                           .score_series(wide, stamps), atol=1e-6), "another model scores differently"
    assert scorer.threshold == config.detectors.threshold("lakewatch_machine")
    name, version = uri.removeprefix("models:/").split("/")
    assert scorer.stamp("m-1") == {"detector": uri, "model_version": f"{name}/{version}"}
    assert uri in said.getvalue()


@pytest.mark.parametrize(("overrides", "message"), [
    ([f"streaming.entities.series={json.dumps({'m-*': ['c0', 'c2', 'c1']})}"],
     r"scores \['c0', 'c1', 'c2'\]; entities with channels \['c0', 'c2', 'c1'\] cannot use it"),
    ([f"streaming.entities.series={json.dumps({'m-*': ['c0', 'c1']})}"], r"entities with channels \['c0', 'c1'\]"),
    ([f"streaming.entities.series={json.dumps({'m-*': CHANNELS})}", "streaming.entities.detector=lakewatch_machine"],
     "a detector name or a model URI, not both"),
])
def test_a_model_that_does_not_fit_the_machines_is_refused_naming_why(registered, overrides, message) -> None:
    root, uri = registered
    with pytest.raises(ConfigError, match=message):
        _scorer(root, *overrides, f"streaming.entities.model={uri}")


def test_a_missing_or_univariate_model_is_refused(registered) -> None:
    root, _ = registered
    series = f"streaming.entities.series={json.dumps({'m-*': CHANNELS})}"
    with pytest.raises(ConfigError, match=r"streaming.entities.model 'models:/no-such-model/1' cannot be loaded"):
        _scorer(root, series, "streaming.entities.model=models:/no-such-model/1")
    config = make_config(root)
    with tracking.start_run(config, "test"):
        univariate = tracking.log_detector(get_detector("robust_zscore"), _example().head(4))
    with pytest.raises(ConfigError, match="is a univariate detector"):
        _scorer(root, series, f"streaming.entities.model={univariate}")

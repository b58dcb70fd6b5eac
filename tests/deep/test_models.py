"""Model shapes and losses, window building, scaling and calibration."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lakewatch.deep import (
    MODEL_KINDS,
    Calibration,
    ModelSpec,
    RobustScaler,
    build_model,
    fit_calibration,
    fit_scaler_numpy,
    sliding_windows,
    window_errors,
)
from lakewatch.errors import CalibrationError, LakewatchError, ModelSpecError


@pytest.mark.parametrize("kind", MODEL_KINDS)
@pytest.mark.parametrize("channels", [1, 3])
def test_models_reconstruct_batches_of_their_shape(kind: str, channels: int) -> None:
    torch.manual_seed(0)
    spec = ModelSpec(kind, window=20, channels=channels, latent=4, hidden=8)
    model = build_model(spec)
    x = torch.randn(7, channels, 20)
    assert model(x).shape == (7, channels, 20)
    loss = model.training_loss(x, beta=1.0)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_odd_windows_keep_their_length() -> None:
    model = build_model(ModelSpec("cnn_ae", window=13, channels=2, latent=3, hidden=4))
    assert model(torch.randn(2, 2, 13)).shape == (2, 2, 13)


def test_vae_is_deterministic_at_inference_and_beta_adds_the_kl_term() -> None:
    torch.manual_seed(1)
    model = build_model(ModelSpec("vae", window=16, channels=1, latent=4, hidden=8))
    x = torch.randn(32, 1, 16)
    model.eval()
    assert torch.equal(model(x), model(x))
    torch.manual_seed(2)
    no_kl = model.training_loss(x, beta=0.0)
    torch.manual_seed(2)
    with_kl = model.training_loss(x, beta=10.0)
    assert with_kl > no_kl


def test_sliding_windows_end_at_each_row() -> None:
    x = np.arange(10.0)
    w = sliding_windows(x, 4)
    assert w.shape == (7, 4, 1)
    np.testing.assert_array_equal(w[0, :, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(w[-1, :, 0], [6, 7, 8, 9])
    assert sliding_windows(x, 4, stride=3).shape == (3, 4, 1)
    assert sliding_windows(x[:3], 4).shape == (0, 4, 1)
    two = sliding_windows(np.stack([x, -x], axis=1), 5)
    np.testing.assert_array_equal(two[2, :, 1], -np.arange(2.0, 7.0))


def test_window_scaling_is_per_window_and_ignores_the_last_row_for_its_statistics() -> None:
    scaler = RobustScaler("window", (0.0,), (1.0,))
    base = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 100.0])
    w = sliding_windows(base, 6)
    shifted = sliding_windows(base + 1000.0, 6)
    np.testing.assert_allclose(scaler.transform(w), scaler.transform(shifted), atol=1e-12)
    out = scaler.transform(w)
    assert out.shape == (1, 1, 6)
    assert out[0, 0, -1] == 20.0  # clipped: the spike is far outside the context's spread


def test_global_scaler_round_trips_and_centres() -> None:
    values = np.random.default_rng(0).normal(5.0, 2.0, (1000, 2))
    scaler = fit_scaler_numpy("global", values)
    assert RobustScaler.from_dict(scaler.to_dict()) == scaler
    scaled = scaler.transform(sliding_windows(values, 10))
    assert abs(np.median(scaled)) < 0.1
    with pytest.raises(ModelSpecError, match=r"RobustScaler mode 'minmax' is not a scaling; expected one of"):
        RobustScaler("minmax", (0.0,), (1.0,))
    with pytest.raises(ModelSpecError, match="RobustScaler has 2 centres but 1 scales"):
        RobustScaler("global", (0.0, 1.0), (1.0,))


def test_calibration_is_monotone_in_unit_interval_and_keeps_ranking_beyond_training() -> None:
    errors = np.random.default_rng(0).lognormal(0.0, 1.0, 5000)
    cal = fit_calibration(errors)
    grid = np.concatenate([[0.0], np.sort(errors), errors.max() * np.array([2.0, 10.0, 100.0])])
    scores = cal.score(grid)
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    assert np.all(np.diff(scores) >= 0)
    assert scores[-3] < scores[-2] < scores[-1]  # beyond the largest training error, still ranked
    assert abs(float(np.mean(cal.score(errors))) - 0.5) < 0.02  # about uniform on its own training errors
    assert Calibration.from_dict(cal.to_dict()) == cal
    with pytest.raises(CalibrationError, match="got 2 reconstruction errors, none finite"):
        fit_calibration(np.array([np.nan, np.inf]))


def test_window_errors_use_the_tail_rows_only() -> None:
    model = build_model(ModelSpec("cnn_ae", window=8, channels=1, latent=2, hidden=4)).double()
    x = np.random.default_rng(0).normal(size=(5, 1, 8))
    whole = window_errors(model, x, tail=8)
    last = window_errors(model, x, tail=1)
    assert whole.shape == last.shape == (5,)
    assert not np.allclose(whole, last)
    np.testing.assert_allclose(window_errors(model, x, tail=1, chunk=2), last, rtol=0, atol=1e-15)


@pytest.mark.parametrize(("fields", "message"), [
    ({"kind": "gru_ae"}, r"ModelSpec kind 'gru_ae' is not a model; expected one of \('cnn_ae'"),
    ({"latent": 0}, r"ModelSpec latent=0; expected a positive integer"),
    ({"hidden": 2.5}, r"ModelSpec hidden=2.5; expected a positive integer"),
    ({"window": 3}, r"ModelSpec window=3 is too short; expected at least 4 rows"),
])
def test_a_bad_model_spec_names_the_field_and_what_was_expected(fields: dict, message: str) -> None:
    with pytest.raises(ModelSpecError, match=message) as error:
        ModelSpec(**fields)
    # run_job reports a LakewatchError in one line; callers that catch ValueError still do.
    assert isinstance(error.value, LakewatchError) and isinstance(error.value, ValueError)

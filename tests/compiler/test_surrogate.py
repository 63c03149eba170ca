"""The Gaussian-process surrogate behind the sampler's guided proposals."""

from __future__ import annotations

import random

import numpy as np
import pytest
from optuna.distributions import CategoricalDistribution, IntDistribution

from archon_compile.compiler.surrogate import Encoding, GaussianProcess, expected_improvement

DISTS = {
    "k": IntDistribution(1, 8),
    "sel": CategoricalDistribution(["none", "voter"]),
    "role": CategoricalDistribution(["a", "b"]),
}


def _rows() -> tuple[list[dict[str, object]], list[float]]:
    """Quality rises with k and with the voter; the role never matters."""
    grid = [(k, s, r) for k in (1, 3, 5, 7) for s in ("none", "voter") for r in ("a", "b")]
    rows: list[dict[str, object]] = [{"k": k, "sel": s, "role": r} for k, s, r in grid]
    return rows, [0.05 * k + 0.2 * (s == "voter") for k, s, _ in grid]


def test_it_fits_what_it_saw_and_is_unsure_away_from_it() -> None:
    rows, quality = _rows()
    gp = GaussianProcess(Encoding(DISTS), rows, quality, random.Random(0))
    mean, std = gp.predict(rows)
    assert np.allclose(mean, quality, atol=0.02)
    _, far = gp.predict([{"k": 8, "sel": "voter", "role": "a"}])
    assert far[0] > std.max()


def test_a_parameter_that_never_mattered_weighs_less() -> None:
    rows, quality = _rows()
    gp = GaussianProcess(Encoding(DISTS), rows, quality, random.Random(0))
    weight = dict(zip(gp.encoding.names, gp.weights, strict=True))
    assert weight["role"] < weight["sel"]


def test_a_parameter_one_row_lacks_does_not_tell_rows_apart() -> None:
    enc = Encoding(DISTS)
    gp = GaussianProcess(
        enc, [{"k": 2, "sel": "voter", "role": "a"}, {"k": 6, "sel": "none"}], [0.9, 0.1], random.Random(0)
    )
    mean, _ = gp.predict([{"k": 6, "sel": "none", "role": "b"}])
    assert mean[0] < 0.5
    assert np.isnan(enc([{"k": 6}])[0]).sum() == 2


def test_constant_or_single_observations_do_not_break_it() -> None:
    for rows, quality in (([{"k": 1}], [0.5]), ([{"k": 1}, {"k": 2}], [0.5, 0.5])):
        mean, std = GaussianProcess(Encoding(DISTS), rows, quality, random.Random(0)).predict([{"k": 4}])
        assert np.isfinite(mean).all() and (std > 0).all()


def test_expected_improvement_prefers_higher_means_and_more_doubt() -> None:
    ei = expected_improvement(np.array([0.5, 0.6, 0.5]), np.array([0.1, 0.1, 0.3]), best=0.55)
    assert ei[1] > ei[0] and ei[2] > ei[0] and (ei > 0).all()


def test_the_best_fitted_value_discounts_what_the_fit_reads_as_noise() -> None:
    rows = [{"k": k, "sel": "none", "role": "a"} for k in (1, 1, 1, 1, 2, 2, 2, 2)]
    quality = [0.5, 0.7, 0.5, 0.7, 0.55, 0.65, 0.55, 0.9]  # one lucky draw among repeats
    gp = GaussianProcess(Encoding(DISTS), rows, quality, random.Random(0))
    assert 0.6 < gp.best_fitted() < 0.9
    clean = GaussianProcess(Encoding(DISTS), rows[::4], [0.5, 0.6], random.Random(0))
    assert clean.best_fitted() == pytest.approx(0.6, abs=0.01)


def test_the_improvement_is_averaged_over_settings_and_points_up_the_trend() -> None:
    rows, quality = _rows()
    gp = GaussianProcess(Encoding(DISTS), rows[:6], quality[:6], random.Random(0))
    assert sum(mass > 0.01 for _, mass in gp.fits) > 1  # few trials: more than one setting is plausible
    assert gp.map in [fit for fit, _ in gp.fits]
    up, down = {"k": 8, "sel": "voter", "role": "a"}, {"k": 1, "sel": "none", "role": "b"}
    ei = gp.expected_improvement([up, down])
    assert ei[0] > ei[1] >= 0


def test_a_rise_along_an_integer_axis_carries_beyond_the_trials(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [{"k": k, "sel": "none"} for k in (1, 2, 3, 4)]
    quality = [0.1 * k for k in (1, 2, 3, 4)]
    far = [{"k": 8, "sel": "none"}]

    def at_far() -> tuple[float, float]:
        gp = GaussianProcess(Encoding(DISTS), rows, quality, random.Random(0))
        return float(gp.predict(far)[0][0]), float(gp.expected_improvement(far)[0])

    with_trend = at_far()
    monkeypatch.setattr("archon_compile.compiler.surrogate.TREND", 0.0)
    without = at_far()
    assert with_trend[0] > without[0] + 0.01 and with_trend[1] > without[1]

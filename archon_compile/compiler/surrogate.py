"""A Gaussian-process surrogate of the trials, and expected improvement over candidate architectures.

ARCHON searched its space with Bayesian optimisation (a Gaussian process and expected improvement); this
is the same idea at the size of one compile. Trials are parameter dicts whose keys differ (a parameter is
asked only when the architecture uses it), so the kernel compares two dicts on the parameters both hold:
an integer axis by its distance over the axis' range, a categorical one by equality; a parameter only one
of them holds does not tell them apart. One length scale per parameter (automatic relevance): a parameter
that never changed the quality (a role model, say) stops mattering; a linear trend along the integer
axes carries what the trials show to values none has tried. The length scales and the noise are not
chosen once: expected improvement is averaged over a seeded set of draws, each weighted by its marginal
likelihood under a log-normal prior on the weights. Numpy and nothing more.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution

Params = Mapping[str, Any]
DRAWS = 48  # settings tried per fit (first version: one length scale for all gave 38.6 trials, not 23.5)
NOISES = (1e-4, 1e-2, 1e-1)
PRIOR_SPREAD = 1.5  # standard deviation of log(weight) under the prior
MIN_MASS = 1e-4  # settings of lower posterior probability are left out of the average
TREND = 0.25  # prior variance of the linear trend along the integer axes (standardised quality units)


class Encoding:
    """Each parameter as a column: an integer by its position in its range (0..1), a categorical by the
    index of its choice; NaN where a dict lacks the parameter."""

    def __init__(self, distributions: Mapping[str, BaseDistribution]) -> None:
        self.names = sorted(distributions)
        self.dists = [distributions[n] for n in self.names]
        self.ordinal = np.array([isinstance(d, IntDistribution) for d in self.dists])

    def __call__(self, rows: Sequence[Params]) -> np.ndarray:
        out = np.full((len(rows), len(self.names)), np.nan)
        for i, row in enumerate(rows):
            for j, (name, dist) in enumerate(zip(self.names, self.dists, strict=True)):
                if name in row:
                    out[i, j] = _position(row[name], dist)
        return out


def _position(value: Any, dist: BaseDistribution) -> float:
    if isinstance(dist, IntDistribution):
        return (value - dist.low) / max(1, dist.high - dist.low)
    if isinstance(dist, CategoricalDistribution) and value in dist.choices:
        return float(dist.choices.index(value))
    return np.nan


def _distances(a: np.ndarray, b: np.ndarray, ordinal: np.ndarray) -> np.ndarray:
    """Per-parameter distances, shape (len(a), len(b), parameters); 0 where either lacks it."""
    diff = a[:, None, :] - b[None, :, :]
    d = np.where(ordinal, np.abs(diff), (diff != 0).astype(float))
    return np.nan_to_num(d, nan=0.0)


def _centred(x: np.ndarray, ordinal: np.ndarray) -> np.ndarray:
    """Integer axes' positions minus the middle of their range (0 where a row lacks the parameter, and
    for categorical axes): the features of the linear trend."""
    return np.where(ordinal, np.nan_to_num(x - 0.5, nan=0.0), 0.0)


class Fit:
    """The GP under one setting of (length-scale weights, noise), solved on the standardised qualities;
    `trend` is the linear part of the kernel between the observed rows."""

    def __init__(
        self, d: np.ndarray, trend: np.ndarray, y: np.ndarray, weights: np.ndarray, noise: float
    ) -> None:
        self.weights, self.noise = weights, noise
        self.chol, self.alpha = _solve(np.exp(-d @ weights) + trend, noise, y)
        # a log-normal prior centred on 1: the likelihood alone once set the selector's weight to 0.06 on
        # bench/search_efficiency.py ("the selector never mattered") while it decided most of the quality
        prior = -0.5 * float((np.log(weights) ** 2).sum()) / PRIOR_SPREAD**2
        self.log_posterior = float(-0.5 * y @ self.alpha - np.log(np.diag(self.chol)).sum()) + prior
        self.best = float((y - noise * self.alpha).max())  # K @ alpha, since (K + noise I) alpha = y

    def predict(self, away: Away) -> tuple[np.ndarray, np.ndarray]:
        """Standardised posterior mean and standard deviation of new rows."""
        k = np.exp(-away.d @ self.weights) + away.trend
        v = np.linalg.solve(self.chol, k.T)
        return k @ self.alpha, np.sqrt(np.clip(1.0 + away.own - (v * v).sum(axis=0), 1e-12, None))


class Away(NamedTuple):
    """New rows seen from the observed ones: per-parameter distances, the trend part of the kernel with
    them, and each new row's own trend variance."""

    d: np.ndarray
    trend: np.ndarray
    own: np.ndarray


class GaussianProcess:
    """A zero-mean GP on standardised qualities. Its kernel is exp(-sum_j w_j d_j) plus a linear trend
    along the integer axes (`TREND` times the product of centred positions): ARCHON's quality moves
    with the number of models, samples and layers, and the trend carries what a few trials show along
    an axis to values no trial has tried, where the exponential part alone reverts to the mean.

    The kernel is fitted under each of a seeded set of settings of the weights and the noise. The most
    probable setting (`map`) answers `predict`; `expected_improvement` averages over the settings, each
    weighted by its posterior probability (the integrated acquisition of Snoek et al., 2012): with a
    dozen trials and nine axes the most probable setting is one guess among many about which axes
    matter. On bench/search_efficiency.py (seeds 0-119, by replay) averaging took the search from 22.8
    to 20.8 trials, and the trend from 20.8 to 16.3 (15.5 on seeds 120-359, not used to choose it).
    A stronger trend sends the search to the ends of the axes, where its variance is largest: 18.3 at
    0.5, 25.3 at 1, 34.4 at 2."""

    def __init__(
        self, encoding: Encoding, x: Sequence[Params], y: Sequence[float], rng: random.Random
    ) -> None:
        self.encoding = encoding
        self.x = encoding(x)
        y_arr = np.asarray(y, dtype=float)
        self.mean, self.scale = float(y_arr.mean()), float(y_arr.std()) or 1.0
        y_std = (y_arr - self.mean) / self.scale
        d = _distances(self.x, self.x, encoding.ordinal)
        self._features = _centred(self.x, encoding.ordinal)
        trend = TREND * self._features @ self._features.T
        settings = _settings(len(encoding.names), rng)
        fits = [fit for w, n in settings if (fit := _fit(d, trend, y_std, w, n))]
        if not fits:  # the kernel ignores parameters a row lacks, so it is not always positive definite
            raise np.linalg.LinAlgError("no setting of the surrogate fits these trials")
        top = max(f.log_posterior for f in fits)
        mass = np.array([math.exp(f.log_posterior - top) for f in fits])
        mass /= mass.sum()
        self.map = fits[int(mass.argmax())]
        self.fits = [(f, float(m)) for f, m in zip(fits, mass, strict=True) if m >= MIN_MASS]

    @property
    def weights(self) -> np.ndarray:
        return self.map.weights

    def best_fitted(self) -> float:
        """The highest posterior mean at the observed rows (in quality units): the noise-aware best."""
        return self.mean + self.scale * self.map.best

    def predict(self, rows: Sequence[Params]) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the quality of each row (in quality units)."""
        mean, std = self.map.predict(self._away(rows))
        return self.mean + self.scale * mean, self.scale * std

    def expected_improvement(self, rows: Sequence[Params]) -> np.ndarray:
        """Expected improvement of each row over each setting's best fitted mean, averaged over the
        settings by posterior probability (in standardised units: only its order is meant)."""
        away = self._away(rows)
        total = np.zeros(len(rows))
        for fit, mass in self.fits:
            mean, std = fit.predict(away)
            total += mass * expected_improvement(mean, std, fit.best)
        return total / sum(m for _, m in self.fits)

    def _away(self, rows: Sequence[Params]) -> Away:
        x = self.encoding(rows)
        features = _centred(x, self.encoding.ordinal)
        return Away(
            _distances(x, self.x, self.encoding.ordinal),
            TREND * features @ self._features.T,
            TREND * (features * features).sum(axis=1),
        )


def _fit(d: np.ndarray, trend: np.ndarray, y: np.ndarray, weights: np.ndarray, noise: float) -> Fit | None:
    try:
        return Fit(d, trend, y, weights, noise)
    except np.linalg.LinAlgError:
        return None


def _settings(dims: int, rng: random.Random) -> list[tuple[np.ndarray, float]]:
    """Seeded draws of (length-scale weights, noise): weights log-uniform in [0.05, 20]."""
    out = [(np.ones(dims), noise) for noise in NOISES]
    for _ in range(DRAWS):
        weights = np.array([math.exp(rng.uniform(math.log(0.05), math.log(20.0))) for _ in range(dims)])
        out.append((weights, rng.choice(NOISES)))
    return out


def _solve(k: np.ndarray, noise: float, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    chol = np.linalg.cholesky(k + noise * np.eye(len(k)))
    alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, y))
    return chol, alpha


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """E[max(0, f - best)] under the posterior, for each candidate."""
    z = (mean - best) / std
    cdf = 0.5 * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return (mean - best) * cdf + std * pdf

"""A Gaussian-process surrogate of the trials, and expected improvement over candidate architectures.

ARCHON searched its space with Bayesian optimisation (a Gaussian process and expected improvement); this
is the same idea at the size of one compile. Trials are parameter dicts whose keys differ (a parameter is
asked only when the architecture uses it), so the kernel compares two dicts on the parameters both hold:
an integer axis by its distance over the axis' range, a categorical one by equality; a parameter only one
of them holds does not tell them apart. One length scale per parameter (automatic relevance): a parameter
that never changed the quality (a role model, say) stops mattering. The length scales and the noise are
chosen among a seeded set of draws by the marginal likelihood under a log-normal prior on the weights,
which needs numpy and nothing more.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution

Params = Mapping[str, Any]
DRAWS = 48  # settings tried per fit (first version: one length scale for all gave 38.6 trials, not 23.5)
NOISES = (1e-4, 1e-2, 1e-1)
PRIOR_SPREAD = 1.5  # standard deviation of log(weight) under the prior


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


class GaussianProcess:
    """A zero-mean GP on standardised qualities, its kernel exp(-sum_j w_j d_j) fitted as described above."""

    def __init__(
        self, encoding: Encoding, x: Sequence[Params], y: Sequence[float], rng: random.Random
    ) -> None:
        self.encoding = encoding
        self.x = encoding(x)
        y_arr = np.asarray(y, dtype=float)
        self.mean, self.scale = float(y_arr.mean()), float(y_arr.std()) or 1.0
        self.y = (y_arr - self.mean) / self.scale
        d = _distances(self.x, self.x, encoding.ordinal)
        self.weights, self.noise = max(
            _settings(len(encoding.names), rng), key=lambda s: self._posterior(d, s[0], s[1])
        )
        self.chol, self.alpha = _solve(np.exp(-d @ self.weights), self.noise, self.y)

    def _posterior(self, d: np.ndarray, weights: np.ndarray, noise: float) -> float:
        """Log marginal likelihood plus a log-normal prior on each weight, centred on 1. The likelihood
        alone picks weights that fit the trials' quirks: on bench/search_efficiency.py it once set the
        selector's weight to 0.06 (the selector "never mattered") while it decided most of the quality."""
        try:
            chol, alpha = _solve(np.exp(-d @ weights), noise, self.y)
        except np.linalg.LinAlgError:
            return -math.inf
        prior = -0.5 * float((np.log(weights) ** 2).sum()) / PRIOR_SPREAD**2
        return float(-0.5 * self.y @ alpha - np.log(np.diag(chol)).sum()) + prior

    def best_fitted(self) -> float:
        """The highest posterior mean at the observed rows (in quality units): the noise-aware best."""
        fitted = self.y - self.noise * self.alpha  # K @ alpha, since (K + noise I) alpha = y
        return self.mean + self.scale * float(fitted.max())

    def predict(self, rows: Sequence[Params]) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the quality of each row (in quality units)."""
        k = np.exp(-_distances(self.encoding(rows), self.x, self.encoding.ordinal) @ self.weights)
        mean = k @ self.alpha
        v = np.linalg.solve(self.chol, k.T)
        var = np.clip(1.0 - (v * v).sum(axis=0), 1e-12, None)
        return self.mean + self.scale * mean, self.scale * np.sqrt(var)


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

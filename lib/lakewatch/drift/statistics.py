"""Drift statistics between a reference sample and a window sample: pure numpy/scipy functions, no Spark.

Every statistic is an effect size whose scale does not grow with the sample (KS distance, PSI, Wasserstein
distance in units of the reference's spread, MMD), so one threshold fits a series with 300 rows a side and one with
3 million; a p-value, by contrast, goes to zero for any tiny difference once the samples are large.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.spatial import distance

# IQR / 1.349 is the standard deviation of a normal distribution with that IQR: a robust sigma.
_IQR_TO_SIGMA = 1.349


def ks(reference: np.ndarray, window: np.ndarray) -> tuple[float, float]:
    """The two-sample Kolmogorov-Smirnov statistic (largest gap between the empirical CDFs, in [0, 1]) and its
    p-value (scipy.stats.ks_2samp: exact for small samples, asymptotic for large ones)."""
    result = stats.ks_2samp(reference, window)
    return float(result.statistic), float(result.pvalue)


def psi(reference: np.ndarray, window: np.ndarray, bins: int = 10, epsilon: float = 1e-4) -> float:
    """Population stability index: sum over bins of (w - r) * ln(w / r), r and w the shares of each sample in
    `bins` bins cut at the reference's quantiles (equal reference shares; ties merge bins), shares floored at
    `epsilon` so an empty bin gives a large, finite term. 0 = same shares; > 0.2 is the usual "shifted"."""
    reference, window = np.asarray(reference, float), np.asarray(window, float)
    cuts = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    # Bin i holds cuts[i-1] < x <= cuts[i]; below the first cut and above the last are open-ended bins.
    r = np.bincount(np.searchsorted(cuts, reference, side="left"), minlength=len(cuts) + 1) / len(reference)
    w = np.bincount(np.searchsorted(cuts, window, side="left"), minlength=len(cuts) + 1) / len(window)
    r, w = np.maximum(r, epsilon), np.maximum(w, epsilon)
    return float(np.sum((w - r) * np.log(w / r)))


def reference_scale(reference: np.ndarray) -> float:
    """The reference's spread: IQR / 1.349 (a robust sigma), its standard deviation when the IQR is 0, and a
    tiny positive number for a constant reference (so any change of a constant signal reads as large)."""
    reference = np.asarray(reference, float)
    q1, q3 = np.quantile(reference, [0.25, 0.75])
    for scale in ((q3 - q1) / _IQR_TO_SIGMA, float(np.std(reference))):
        if scale > 0:
            return float(scale)
    return float(np.finfo(float).eps * max(1.0, abs(float(np.median(reference)))))


def wasserstein(reference: np.ndarray, window: np.ndarray) -> float:
    """The Wasserstein-1 (earth mover's) distance between the samples (scipy.stats.wasserstein_distance) divided
    by reference_scale(reference): how far, in reference sigmas, the window's mass moved. A level shift of k sigma
    gives about k; a change of spread from s to 2s about 0.8."""
    distance = stats.wasserstein_distance(reference, window)
    return float(distance / reference_scale(reference))


def score_shift(reference_scores: np.ndarray, window_scores: np.ndarray) -> float:
    """Wasserstein-1 distance between two anomaly-score samples (scores are in [0, 1], so no normalisation: for a
    distribution shifted as a whole it is the change of the mean score)."""
    return float(stats.wasserstein_distance(reference_scores, window_scores))


def flag_rates(reference_flags: np.ndarray, window_flags: np.ndarray) -> tuple[float, float]:
    """The share of flagged points in the reference and in the window."""
    return float(np.mean(reference_flags)), float(np.mean(window_flags))


def standardise(reference: np.ndarray, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both (rows x channels) samples centred on the reference's channel medians and divided by its channel
    scales (reference_scale), so every channel weighs the same in a multichannel kernel."""
    reference, window = np.asarray(reference, float), np.asarray(window, float)
    centre = np.median(reference, axis=0)
    scale = np.array([reference_scale(reference[:, j]) for j in range(reference.shape[1])])
    return (reference - centre) / scale, (window - centre) / scale


def subsample(sample: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """At most `size` rows of `sample`, drawn without replacement by `rng` (all of them when it has fewer)."""
    if len(sample) <= size:
        return sample
    return sample[np.sort(rng.choice(len(sample), size=size, replace=False))]


def mmd(reference: np.ndarray, window: np.ndarray, permutations: int = 200, max_rows: int = 500,
        seed: int = 0) -> tuple[float, float]:
    """Maximum mean discrepancy between two (rows x channels) samples, with its permutation p-value.

    The samples are standardised on the reference (:func:`standardise`) and each subsampled to at most `max_rows`
    rows (fixed `seed`), which bounds the cost at one (2 max_rows)^2 kernel matrix. The kernel is a Gaussian RBF
    whose bandwidth is the median distance between the pooled points (the median heuristic). The statistic is the
    unbiased estimate of MMD^2 (about 0 for the same distribution, up to 2); the p-value is the share of
    `permutations` random relabellings of the pooled rows whose statistic reaches it ((count + 1) / (P + 1)).
    Unlike a per-channel test, it sees a change in how channels move together (a broken correlation).
    """
    rng = np.random.default_rng(seed)
    x, y = standardise(reference, window)
    x, y = subsample(x, max_rows, rng), subsample(y, max_rows, rng)
    pooled = np.vstack([x, y])
    condensed = distance.pdist(pooled, "sqeuclidean")
    positive = condensed[condensed > 0]
    bandwidth2 = float(np.median(positive)) if positive.size else 1.0
    kernel = distance.squareform(np.exp(-condensed / bandwidth2))  # zero diagonal: the unbiased estimate skips i = j
    n, m = len(x), len(y)
    labels = np.zeros((permutations + 1, n + m))
    labels[0, :n] = 1.0
    for row in range(1, permutations + 1):
        labels[row, rng.permutation(n + m)[:n]] = 1.0
    # For membership vectors s (first sample) and 1 - s: within-first = s'Ks, across = s'K(1-s), the rest within
    # the second; one matrix product gives all relabellings at once.
    product = labels @ kernel
    within_x = np.sum(product * labels, axis=1)
    across = np.sum(product * (1.0 - labels), axis=1)
    within_y = kernel.sum() - within_x - 2.0 * across
    statistic = within_x / (n * (n - 1)) + within_y / (m * (m - 1)) - 2.0 * across / (n * m)
    observed = float(statistic[0])
    p_value = float((np.sum(statistic[1:] >= observed) + 1) / (permutations + 1))
    return observed, p_value

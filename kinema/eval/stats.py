"""Confidence intervals for metrics averaged over videos."""

from __future__ import annotations

import numpy as np


def bootstrap_ci(values, *, num: int = 1000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float, float]:
    """(mean, lo, hi): the mean of `values` and its percentile bootstrap (1 - alpha) interval.

    values: (N,) per-video scores; NaNs (metric undefined for that video) are dropped.
    num: bootstrap resamples, drawn with numpy's Generator(PCG64(seed)) so the interval is
    reproducible. Efron & Tibshirani 1993, percentile method.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[~np.isnan(v)]
    if len(v) == 0:
        raise ValueError("bootstrap_ci needs at least one non-NaN value; score some videos first")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), e.g. 0.05 for a 95% interval; got {alpha}")
    if num < 1:
        raise ValueError(f"num must be >= 1 resamples, e.g. 1000; got {num}")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(num, len(v)))].mean(axis=1)  # (num,)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(v.mean()), float(lo), float(hi)

"""The extractive drafter's confidence: the measured chance that the cited answer is right.

A logistic map over the evidence ``matching.features`` gathers, fitted on the shops' dev
questions (``python -m tests.bench.answer_decision ... --by-shop --fit``: leave-one-shop-
out for the held-out figures, then all four shops for the weights below). See
docs/knowledge-base.md for the figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np

__all__ = [
    "ANSWER_AT",
    "AUTO_SEND_AT",
    "FEATURES",
    "WEIGHTS",
    "fit_logistic",
    "probability",
]

FEATURES: Final = (
    "coverage",
    "title_coverage",
    "first_in_search",
    "lead",
    "log_terms",
    "search_margin",
    "unmatched",
    "matched",
)
#: One weight per feature, then the intercept.
WEIGHTS: Final[tuple[float, ...]] = (
    -0.055,
    0.432,
    1.496,
    1.474,
    0.186,
    1.533,
    -0.705,
    1.256,
    -2.185,
)
#: Least confidence for the no-key drafter to answer rather than hand off: held out by
#: shop, answers at or above it were right 97.0 % of the time (1.7 % of all questions got
#: a wrong answer, 63.0 % of answerable ones a right one).
ANSWER_AT: Final = 0.85
#: Least confidence for sending on its own (auto mode's default threshold): the least
#: threshold whose answers, held out by shop, were right at least 98 % of the time.
AUTO_SEND_AT: Final = 0.91


def probability(features: Sequence[float], weights: Sequence[float] = WEIGHTS) -> float:
    """The chance (0..1) that the answer these features describe is right."""
    z = weights[-1] + sum(w * x for w, x in zip(weights, features, strict=False))
    return 1.0 / (1.0 + math.exp(-max(min(z, 30.0), -30.0)))


def fit_logistic(
    rows: Sequence[Sequence[float]], right: Sequence[bool], *, l2: float = 1.0
) -> tuple[float, ...]:
    """Weights (then intercept) of an L2-regularised logistic regression, by Newton steps."""
    x = np.hstack([np.asarray(rows, dtype=float), np.ones((len(rows), 1))])
    y = np.asarray(right, dtype=float)
    w = np.zeros(x.shape[1])
    penalty = np.diag([l2] * (x.shape[1] - 1) + [0.0])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        gradient = x.T @ (p - y) + penalty @ w
        hessian = (x.T * (p * (1 - p))) @ x + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    return tuple(round(float(v), 3) for v in w)

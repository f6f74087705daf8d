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
    "LLM_FEATURES",
    "LLM_WEIGHTS",
    "WEIGHTS",
    "fit_logistic",
    "llm_features",
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
    "title_words",
)
#: One weight per feature, then the intercept.
WEIGHTS: Final[tuple[float, ...]] = (
    -0.358,
    1.238,
    2.416,
    2.054,
    0.884,
    2.13,
    -0.889,
    2.796,
    -2.264,
    -4.39,
)
#: Least confidence for the no-key drafter to answer rather than hand off: held out by
#: shop, answers at or above it were right 97.9 % of the time (1.3 % of all questions got
#: a wrong answer, 67.3 % of answerable ones a right one).
ANSWER_AT: Final = 0.85
#: Least confidence for sending on its own (auto mode's default threshold): the least
#: threshold whose answers, held out by shop, were right at least 98 % of the time.
AUTO_SEND_AT: Final = 0.91


#: What the LLM drafter's shown confidence is made of (``llm_features``): the model's own
#: figure and the retrieval side's calibrated chance that the chunks it cites answer the
#: question (``matching.support``), both as log-odds, and its hand-off flag.
LLM_FEATURES: Final = ("model_logit", "support_logit", "model_handoff")
#: A prior, not a fit: no model's answers have been labelled here yet. The retrieval side
#: counts fully and the model's own figure at 0.3 of its log-odds (models state high
#: confidence for wrong answers too), and a model's own hand-off lowers it: a model sure
#: of itself (0.99) citing a chunk retrieval gives 30 % is shown 63 %, below any auto-send
#: threshold; 0.95 over a chunk at 90 % is shown 96 %. Refit with real answers
#: (docs/knowledge-base.md, "Confidence of LLM drafts").
LLM_WEIGHTS: Final[tuple[float, ...]] = (0.3, 1.0, -2.0, 0.0)
#: Log-odds are taken of figures clipped to this margin from 0 and 1.
_CLIP: Final = 0.01


def _logit(p: float) -> float:
    p = min(max(p, _CLIP), 1.0 - _CLIP)
    return math.log(p / (1.0 - p))


def llm_features(model_confidence: float, support: float, handoff: bool) -> list[float]:
    """The LLM drafter's evidence in ``LLM_FEATURES`` order."""
    return [_logit(model_confidence), _logit(support), 1.0 if handoff else 0.0]


def probability(features: Sequence[float], weights: Sequence[float] = WEIGHTS) -> float:
    """The chance (0..1) that the answer these features describe is right."""
    z = weights[-1] + sum(w * x for w, x in zip(weights, features, strict=False))
    return 1.0 / (1.0 + math.exp(-max(min(z, 30.0), -30.0)))


def fit_logistic(
    rows: Sequence[Sequence[float]], right: Sequence[bool], *, l2: float = 0.3
) -> tuple[float, ...]:
    """Weights (then intercept) of an L2-regularised logistic regression, by Newton steps.

    ``l2`` 0.3 was chosen held out by shop: 1.0 and more shrank the evidence so far that
    the held-out calibration error rose from 0.04 to 0.07-0.09."""
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

"""The answer model: a logistic regression over FEATURES gives each candidate P(it states the answer); a
one-dimensional calibration of the best candidate's probability gives the confidence that the answer is
right, and the answerer answers when that reaches the fitted threshold.

Everything here is fitted by `python -m evals.fit` on RealTime QA 2022-2023 (retrieval/data/answerer.json
records the data, the folds, the policy and the out-of-fold figures); nothing is set by hand.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from ..errors import ModelUnavailable


class MissingFeature(ValueError):
    """A row lacks a feature the model was fitted with: a bug, never read as 0."""


@dataclass
class AnswerModel:
    features: list[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    calibration: tuple[float, float]  # confidence = sigmoid(a * logit(best p) + b)
    threshold: float  # answer when the confidence reaches it
    scorer: str = ""  # the sha256 of the scorer whose cosines the model was fitted on
    info: dict[str, Any] = field(default_factory=dict)

    def matrix(self, rows: Sequence[Mapping[str, float]]) -> np.ndarray:
        for r in rows:
            missing = [f for f in self.features if f not in r]
            if missing:
                raise MissingFeature(f"the answer model needs features {missing} that were not computed")
        return np.array([[r[f] for f in self.features] for r in rows], dtype=float).reshape(len(rows), len(self.features))

    def probabilities(self, rows: Sequence[Mapping[str, float]]) -> np.ndarray:
        if not rows:
            return np.zeros(0)
        z = ((self.matrix(rows) - self.mean) / self.scale) @ self.coef + self.intercept
        p: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return p

    def confidence(self, p: float) -> float:
        """The calibrated probability that an answer whose best sentence has probability `p` is right."""
        a, b = self.calibration
        p = min(max(p, 1e-6), 1 - 1e-6)
        return 1.0 / (1.0 + math.exp(-(a * math.log(p / (1 - p)) + b)))

    def to_json(self) -> dict[str, Any]:
        return {"features": self.features, "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": self.intercept, "calibration": list(self.calibration),
                "threshold": self.threshold, "scorer": self.scorer, "info": self.info}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AnswerModel:
        a, b = d["calibration"]
        return cls(list(d["features"]), np.array(d["mean"], float), np.array(d["scale"], float),
                   np.array(d["coef"], float), float(d["intercept"]), (float(a), float(b)), float(d["threshold"]),
                   str(d.get("scorer", "")), d.get("info", {}))


@lru_cache(maxsize=1)
def default_model() -> AnswerModel:
    """The shipped model; it must have been fitted on the shipped scorer's cosines."""
    from .features import FEATURES
    from .scorer import card

    path = resources.files("retrieval") / "data" / "answerer.json"
    try:
        model = AnswerModel.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelUnavailable(f"the answer model at {path} cannot be read ({exc}); reinstall newsqa") from None
    unknown = [f for f in model.features if f not in FEATURES]
    if unknown:
        raise ModelUnavailable(f"the answer model at {path} needs features this version does not compute "
                               f"({', '.join(unknown)}); refit it with python -m evals.fit")
    if model.scorer and model.scorer != card()["export"]["sha256"]:
        raise ModelUnavailable(f"the answer model at {path} was fitted on another sentence scorer than the "
                               "shipped one; refit it with python -m evals.fit")
    return model

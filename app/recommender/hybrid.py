"""A weighted blend of other recommenders' scores.

    scores[u] = sum_m weight_m * minmax(scores_m[u])

with ``minmax`` per user (row) to [0, 1], so models with different score scales (cosine sums,
factor dot products, popularity counts) can be mixed; a constant row normalises to 0.
Component states are stored under the prefixes ``"0."``, ``"1."``, ... and their names,
params and weights in ``params["components"]``.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from app.recommender.als import ALS
from app.recommender.base import Recommender, as_interactions
from app.recommender.content import ContentModel
from app.recommender.ease import EASE
from app.recommender.itemknn import ItemKNN
from app.recommender.persist import strip_prefix, with_prefix
from app.recommender.popularity import Popularity
from app.recommender.rp3beta import RP3beta
from app.recommender.svd import PureSVD
from app.recommender.userknn import UserKNN

# The models a hybrid blends (any but another hybrid), by name; automatic selection tries their
# defaults in this order after the hybrid's, strongest on the shared sets first.
COMPONENT_MODELS: dict[str, type[Recommender]] = {
    cls.name: cls for cls in (EASE, Popularity, ItemKNN, RP3beta, ALS, UserKNN, PureSVD, ContentModel)
}


def minmax_rows(scores: np.ndarray) -> np.ndarray:
    """Each row scaled to [0, 1]; constant rows become 0."""
    lo = scores.min(axis=1, keepdims=True) if scores.shape[1] else np.zeros((len(scores), 1))
    hi = scores.max(axis=1, keepdims=True) if scores.shape[1] else np.zeros((len(scores), 1))
    span = hi - lo
    out = scores - lo
    np.divide(out, span, out=out, where=span > 0)
    out[np.broadcast_to(span <= 0, out.shape)] = 0.0
    return out.astype(np.float32, copy=False)


class Hybrid(Recommender):
    """Weighted sum of per-user min-max normalised component scores."""

    name = "hybrid"

    def __init__(self, components: list[tuple[Recommender, float]]) -> None:
        if not components:
            raise ValueError("Hybrid needs at least one (model, weight) component")
        for model, weight in components:
            if not isinstance(model, Recommender) or not np.isfinite(weight) or weight < 0:
                raise ValueError("Hybrid components are (Recommender, weight >= 0) pairs")
        self.components = [(model, float(weight)) for model, weight in components]
        self.params: dict[str, Any] = {
            "components": [
                {"name": model.name, "params": model.params, "weight": weight}
                for model, weight in self.components
            ]
        }

    def fit(self, X: sp.csr_matrix) -> Self:
        X = as_interactions(X)
        for model, _ in self.components:
            model.fit(X)
        self.n_users, self.n_items = X.shape
        return self

    def _blend(self, per_model: list[np.ndarray]) -> np.ndarray:
        out = np.zeros_like(per_model[0], dtype=np.float32)
        for scores, (_, weight) in zip(per_model, self.components, strict=True):
            out += np.float32(weight) * minmax_rows(scores)
        return out

    def score_users(self, users: np.ndarray) -> np.ndarray:
        return self._blend([model.score_users(users) for model, _ in self.components])

    def score_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        return self._blend([model.score_rows(rows) for model, _ in self.components])

    def get_state(self) -> dict[str, np.ndarray]:
        state: dict[str, np.ndarray] = {}
        for k, (model, _) in enumerate(self.components):
            state.update(with_prefix(str(k), model.get_state()))
        return state

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], params: dict[str, Any]) -> Self:
        components = []
        for k, spec in enumerate(params["components"]):
            model_cls = COMPONENT_MODELS[spec["name"]]
            model = model_cls.from_state(strip_prefix(str(k), state), spec.get("params", {}))
            components.append((model, spec["weight"]))
        hybrid = cls(components)
        first = components[0][0]
        hybrid.n_users, hybrid.n_items = first.n_users, first.n_items
        return hybrid

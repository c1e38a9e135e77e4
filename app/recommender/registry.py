"""Model names the service configures, their defaults, and small tuning grids.

``make_model("itemknn", {"k": 50})`` is the one way the service builds a model; unknown names
and unknown or invalid parameters raise ``ValueError`` with a message naming the culprit.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import scipy.sparse as sp

from app.recommender.base import Recommender
from app.recommender.content import ContentModel
from app.recommender.hybrid import COMPONENT_MODELS, Hybrid

# Automatic selection tries the models' defaults in this order, strongest on the shared sets
# first, so a short budget still covers them: the hybrid, then its components' order.
MODELS: dict[str, type[Recommender]] = {Hybrid.name: Hybrid, **COMPONENT_MODELS}

# The model served until a selection ran, and the one a selection keeps unless a challenger beats
# it with confidence (`app.recommender.evaluation.selection`).
DEFAULT_MODEL = "hybrid"

# EASE and log popularity blended half and half: the one default closest to the best tuned
# reference on all three shared sets (MovieLens, grocery, Taobao; benchmarks/README.md), where
# EASE alone loses to popularity on grocery and Taobao and popularity alone loses on MovieLens.
# EASE's 10,000 head items fit in ~10 s and 0.9 GB with 2 threads (1M events, 50,000 items).
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "itemknn": {"k": 100, "shrinkage": 10.0},
    "rp3beta": {"alpha": 1.0, "beta": 0.5, "k": 200},
    "userknn": {"k": 50},
    "als": {"factors": 64, "regularization": 0.05, "iterations": 15, "alpha": 10.0},
    "svd": {"factors": 64},
    "ease": {"l2": 500.0, "max_items": 10000},
    "content": {},
    "popularity": {"log_scale": False},
    "hybrid": {
        "components": [
            {"name": "ease", "params": {}, "weight": 0.5},
            {"name": "popularity", "params": {"log_scale": True}, "weight": 0.5},
        ]
    },
}


def _blend(personal: str, weight: float) -> dict[str, Any]:
    """A hybrid of one personal model and log popularity, weights summing to 1."""
    return {
        "components": [
            {"name": personal, "params": {}, "weight": 1.0 - weight},
            {"name": "popularity", "params": {"log_scale": True}, "weight": weight},
        ]
    }


GRIDS: dict[str, list[dict[str, Any]]] = {
    # The popularity share is what differs most between shops: ~0.2 where tastes are personal
    # (films), 0.5-0.75 where a few items dominate (groceries, a marketplace's views).
    "hybrid": [_blend("ease", 0.2), _blend("ease", 0.75), _blend("itemknn", 0.5)],
    "ease": [{"l2": 100.0}, {"l2": 2000.0}],
    "popularity": [],
    "itemknn": [
        {"k": 50, "shrinkage": 10.0},
        {"k": 200, "shrinkage": 10.0},
        {"k": 100, "shrinkage": 0.0},
        {"k": 100, "shrinkage": 50.0},
    ],
    "als": [
        {"factors": 32, "regularization": 0.05, "alpha": 10.0},
        {"factors": 64, "regularization": 0.5, "alpha": 40.0},
        {"factors": 128, "regularization": 0.1, "alpha": 10.0},
    ],
    "rp3beta": [{"beta": 0.3}, {"beta": 0.7}, {"alpha": 0.8, "beta": 0.5}],
    "userknn": [{"k": 20}, {"k": 100}],
    "svd": [{"factors": 32}, {"factors": 128}],
    "content": [],
}

# Constructor arguments that are data, not hyperparameters, and so never come from params.
_DATA_ARGS = {"item_features", "vectorizer"}


def _check_params(name: str, cls: type[Recommender], params: dict[str, Any]) -> None:
    allowed = set(inspect.signature(cls.__init__).parameters) - {"self"} - _DATA_ARGS
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {unknown} for model {name!r}; allowed: {sorted(allowed)}"
        )


def make_model(
    name: str,
    params: dict[str, Any] | None = None,
    *,
    item_features: sp.csr_matrix | Sequence[str] | None = None,
) -> Recommender:
    """Build an unfitted model by name with ``params`` over its defaults.

    ``item_features`` is used by ``content`` (and content components of ``hybrid``): either an
    (n_items, n_terms) sparse feature matrix or one text per item code, in order.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    cls = MODELS[name]
    if params is not None and not isinstance(params, dict):
        raise ValueError(f"params for model {name!r} must be a dict")
    merged = {**DEFAULT_PARAMS[name], **(params or {})}
    _check_params(name, cls, merged)

    if name == "hybrid":
        components = []
        for spec in merged["components"]:
            if not isinstance(spec, dict) or "name" not in spec:
                raise ValueError("hybrid components are {'name', 'params', 'weight'} dicts")
            if spec["name"] == "hybrid":
                raise ValueError("a hybrid cannot contain another hybrid")
            child = make_model(spec["name"], spec.get("params"), item_features=item_features)
            components.append((child, spec.get("weight", 1.0)))
        return Hybrid(components)
    if name == "content":
        if item_features is None:
            model = ContentModel(**merged)
        elif sp.issparse(item_features):
            model = ContentModel(item_features=item_features, **merged)
        else:
            model = ContentModel.from_texts(list(item_features))
        return model
    try:
        return cls(**merged)
    except TypeError as exc:  # e.g. a string where a number belongs
        raise ValueError(f"invalid parameters for model {name!r}: {exc}") from exc

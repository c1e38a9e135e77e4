"""Hand-checkable matrices shared by the recommender tests."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from app.recommender.registry import MODELS, make_model

# Two taste groups: users 0-2 like items 0-2, users 3-5 like items 3-5; user u misses item
# (u % 3) of their group, which every personalised model must recommend first.
CHECKERBOARD = np.zeros((6, 6), dtype=np.float32)
for _u in range(6):
    _group = 0 if _u < 3 else 3
    for _i in range(_group, _group + 3):
        if _i - _group != _u % 3:
            CHECKERBOARD[_u, _i] = 1.0
MISSING_ITEM = np.array([0, 1, 2, 3, 4, 5])

# The design notes' 4x5 example: no two users share an item.
DESIGN_NOTES = np.array(
    [[4, 0, 0, 0, 0], [0, 0, 5, 0, 0], [0, 0, 0, 3, 0], [0, 0, 0, 0, 4]], dtype=np.float32
)

ITEM_TEXTS_6 = [
    "red cotton shirt", "red wool shirt", "red shirt linen",
    "blue leather shoe", "blue running shoe", "blue shoe suede",
]

# Parameters that make sense on 6 items (64 factors would be the identity on a 6x6 matrix).
SMALL_PARAMS: dict[str, dict] = {
    "als": {"factors": 2, "iterations": 10},
    "svd": {"factors": 2},
    "ease": {"l2": 1.0},
    "userknn": {"k": 2},
    "itemknn": {"k": 5, "shrinkage": 0.0},
    "hybrid": {
        "components": [
            {"name": "itemknn", "params": {"k": 5}, "weight": 0.6},
            {"name": "als", "params": {"factors": 2}, "weight": 0.4},
        ]
    },
}


def texts_for(n_items: int) -> list[str]:
    return [ITEM_TEXTS_6[i % 6] + f" item{i}" for i in range(n_items)]


def build(name: str, n_items: int) -> object:
    return make_model(name, SMALL_PARAMS.get(name), item_features=texts_for(n_items))


@pytest.fixture
def checkerboard() -> sp.csr_matrix:
    return sp.csr_matrix(CHECKERBOARD)


@pytest.fixture
def design_notes() -> sp.csr_matrix:
    return sp.csr_matrix(DESIGN_NOTES)


ALL_MODELS = sorted(MODELS)
PERSONALISED = [name for name in ALL_MODELS if name != "popularity"]

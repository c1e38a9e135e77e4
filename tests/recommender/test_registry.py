"""make_model: defaults, overrides, clear errors."""

from __future__ import annotations

import json

import pytest

from app.recommender.registry import DEFAULT_PARAMS, GRIDS, MODELS, make_model


def test_every_model_builds_with_defaults_and_json_params():
    for name in MODELS:
        model = make_model(name, item_features=["a text"])
        assert model.name == name
        json.dumps(model.params)
        assert set(DEFAULT_PARAMS[name]) <= set(model.params) or name == "hybrid"


def test_grids_are_valid_params():
    for name, grid in GRIDS.items():
        assert len(grid) <= 6  # each point costs a fit within the tuning budget
        for params in grid:
            make_model(name, params, item_features=["a text"])


def test_override_and_errors():
    assert make_model("itemknn", {"k": 7}).params["k"] == 7
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        make_model("nope")
    with pytest.raises(ValueError, match="unknown parameter.*'kk'"):
        make_model("itemknn", {"kk": 3})
    with pytest.raises(ValueError):
        make_model("als", {"factors": 0})
    with pytest.raises(ValueError, match="hybrid"):
        make_model("hybrid", {"components": [{"name": "hybrid"}]})


def test_selection_tries_the_strong_candidates_first():
    # select_model runs every default in this order; a short budget must still reach these.
    assert list(MODELS)[:3] == ["hybrid", "ease", "popularity"]

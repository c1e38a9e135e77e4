"""Plain-array persistence: round trips, no pickle."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from app.recommender.persist import dumps, loads, pack_csr, pack_strings, unpack_csr, unpack_strings


def test_csr_and_strings_round_trip():
    m = sp.csr_matrix(np.array([[0, 1.5, 0], [2, 0, 0]], np.float32))
    state = loads(dumps({**pack_csr("m", m), "ids": pack_strings(["é-1", "", "b"])}))
    back = unpack_csr("m", state)
    assert back.shape == (2, 3) and (back != m).nnz == 0
    assert unpack_strings(state["ids"]) == ["é-1", "", "b"]
    assert unpack_strings(pack_strings([])) == [] and unpack_strings(pack_strings([""])) == [""]


def test_object_arrays_are_refused():
    with pytest.raises(TypeError, match="pickle"):
        dumps({"bad": np.array([{"a": 1}], dtype=object)})


def test_newlines_cannot_be_packed():
    with pytest.raises(ValueError):
        pack_strings(["a\nb"])

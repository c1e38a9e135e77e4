"""One id vocabulary: built from a stream in chunks (the store) or from an array (the recommender)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.vocabulary import Vocabulary, VocabularyBuilder

# No control characters: the id rule (app.shop.ID_PATTERN) refuses them, and numpy drops trailing NULs.
ids = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=4)


@given(st.lists(st.lists(ids, max_size=12), max_size=5))
def test_a_stream_in_chunks_codes_ids_as_fit_does(chunks: list[list[str]]) -> None:
    builder = VocabularyBuilder()
    for chunk in chunks:
        builder.add(chunk)
    streamed, streamed_codes = builder.finish()
    every = [i for chunk in chunks for i in chunk]
    fitted, fitted_codes = Vocabulary.fit(np.array(every, dtype=str) if every else [])

    assert streamed.ids == fitted.ids == sorted(set(every))
    assert streamed_codes.dtype == fitted_codes.dtype == np.int32
    assert streamed_codes.tolist() == fitted_codes.tolist()
    assert [streamed.ids[c] for c in streamed_codes] == every
    assert [streamed.get(i) for i in every] == streamed_codes.tolist()


def test_encode_gives_minus_one_for_unknown_ids() -> None:
    vocabulary, _ = Vocabulary.fit(["b", "a"])
    assert vocabulary.encode(["a", "zz", "b"]).tolist() == [0, -1, 1]
    assert len(vocabulary) == 2 and vocabulary.get("zz") is None


def test_repeated_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        Vocabulary(["a", "a"])

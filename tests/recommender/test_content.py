"""TF-IDF features and content similarity, including a brand-new item."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from app.recommender.content import ContentModel, TfidfVectorizer, tokenize
from tests.recommender.conftest import ITEM_TEXTS_6


def test_tokenize_drops_one_char_tokens_and_lowercases():
    assert tokenize("Größe L, T-Shirt 2 x Äpfel") == ["größe", "shirt", "äpfel"]


def test_tfidf_by_hand():
    vec = TfidfVectorizer()
    F = vec.fit_transform(["aa bb", "aa aa"])
    assert vec.terms.tolist() == ["aa", "bb"]
    idf = np.log(3 / np.array([3, 2])) + 1
    np.testing.assert_allclose(vec.idf, idf, rtol=1e-6)
    row0 = idf / np.linalg.norm(idf)
    np.testing.assert_allclose(F.toarray()[0], row0, rtol=1e-6)
    np.testing.assert_allclose(F.toarray()[1], [1, 0], rtol=1e-6)
    assert vec.transform(["zz unknown"]).nnz == 0


def test_new_item_finds_its_neighbours():
    model = ContentModel.from_texts(ITEM_TEXTS_6).fit(sp.csr_matrix((2, 6), dtype=np.float32))
    idx, sims = model.similar_to_features(model.vectorize(["blue suede boot"]), 3)
    assert idx[0, 0] == 5 and set(idx[0, 1:].tolist()) == {3, 4}
    none, _ = model.similar_to_features(model.vectorize(["completely unrelated"]), 2)
    assert none.tolist() == [[-1, -1]]
    similar, _ = model.similar_items(np.array([0]), 2)
    assert set(similar[0].tolist()) == {1, 2}


def test_fit_without_features_is_a_clear_error():
    with pytest.raises(ValueError, match="set_item_features"):
        ContentModel().fit(sp.csr_matrix((2, 3), dtype=np.float32))

"""Content-based recommendations from item texts (TF-IDF), which also cover brand-new items.

Text -> features:  tokens are the lower-cased runs of unicode word characters of length >= 2;
    tf[d, t]  = 1 + log(count of t in d)                   (sublinear tf)
    idf[t]    = log((1 + n_docs) / (1 + df[t])) + 1        (smoothed, as in scikit-learn)
    F[d]      = tf[d] * idf / ||tf[d] * idf||              (rows L2-normalised)
Model:  profile[u] = sum_i X[u, i] * F[i],   scores[u] = profile[u] F^T  (cosine up to a
per-user scale). A new item's text is vectorised with the fitted vocabulary and idf, and
:meth:`ContentModel.similar_to_features` finds its nearest catalogue items.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from app.recommender.base import Recommender, as_index_array, as_interactions, finite_scores
from app.recommender.persist import pack_csr, pack_strings, unpack_csr, unpack_strings
from app.recommender.topn import top_n

TOKEN = re.compile(r"\w\w+", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Lower-cased unicode word tokens of at least two characters."""
    return TOKEN.findall(text.lower())


def _l2_rows(M: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(M.multiply(M).sum(axis=1)).ravel())
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(inv.astype(np.float32)) @ M, dtype=np.float32)


class TfidfVectorizer:
    """Vocabulary (sorted terms) + idf; persisted as a packed string array and a float array."""

    def __init__(self, terms: Sequence[str] = (), idf: np.ndarray | None = None) -> None:
        self.terms = np.asarray(list(terms), dtype=str)
        self.idf = np.zeros(0, np.float32) if idf is None else np.asarray(idf, np.float32)
        if self.terms.size != self.idf.size:
            raise ValueError("terms and idf differ in length")

    def _counts(self, texts: Sequence[str], terms: np.ndarray | None) -> tuple[sp.csr_matrix, np.ndarray]:
        # Tokenising is per document string work; everything after it is vectorised.
        token_lists = [tokenize(t or "") for t in texts]
        lengths = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(texts))
        flat = np.asarray([tok for toks in token_lists for tok in toks], dtype=str)
        docs = np.repeat(np.arange(len(texts)), lengths)
        if terms is None:
            terms, codes = np.unique(flat, return_inverse=True)
            keep = np.ones(flat.size, dtype=bool)
        else:
            pos = np.searchsorted(terms, flat) if terms.size else np.zeros(flat.size, np.int64)
            pos = np.minimum(pos, max(terms.size - 1, 0))
            keep = terms[pos] == flat if terms.size else np.zeros(flat.size, dtype=bool)
            codes = pos
        counts = sp.csr_matrix(
            (np.ones(int(keep.sum()), np.float32), (docs[keep], codes[keep])),
            shape=(len(texts), terms.size),
        )
        counts.sum_duplicates()
        return counts, terms

    def fit_transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        counts, self.terms = self._counts(texts, None)
        df = np.bincount(counts.indices, minlength=self.terms.size)
        self.idf = (np.log((1.0 + len(texts)) / (1.0 + df)) + 1.0).astype(np.float32)
        return self._weight(counts)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Features of (possibly new) texts; terms not in the fitted vocabulary are ignored."""
        counts, _ = self._counts(texts, self.terms)
        return self._weight(counts)

    def _weight(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        tf = counts.copy()
        tf.data = 1.0 + np.log(tf.data)
        return _l2_rows(tf @ sp.diags(self.idf))

    def get_state(self) -> dict[str, np.ndarray]:
        return {"terms": pack_strings(self.terms.tolist()), "idf": self.idf}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> TfidfVectorizer:
        return cls(unpack_strings(state["terms"]), state["idf"])


class ContentModel(Recommender):
    """TF-IDF item profiles; works for users and items with no interactions at all."""

    name = "content"

    def __init__(
        self,
        item_features: sp.csr_matrix | None = None,
        vectorizer: TfidfVectorizer | None = None,
    ) -> None:
        self.params: dict[str, Any] = {}
        self.vectorizer = vectorizer or TfidfVectorizer()
        self.F: sp.csr_matrix | None = None
        if item_features is not None:
            self.set_item_features(item_features)

    @classmethod
    def from_texts(cls, texts: Sequence[str]) -> ContentModel:
        """A model whose features are the TF-IDF of ``texts`` (one per item code, in order)."""
        vectorizer = TfidfVectorizer()
        return cls(vectorizer.fit_transform(texts), vectorizer)

    def set_item_features(self, F: sp.csr_matrix) -> None:
        """Set the (n_items, n_terms) feature matrix; rows are L2-normalised here."""
        if not sp.issparse(F) or F.ndim != 2:
            raise TypeError("item features must be a 2-D scipy.sparse matrix")
        self.F = _l2_rows(sp.csr_matrix(F, dtype=np.float32))
        self.n_items = self.F.shape[0]

    def vectorize(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Features of new item texts with the fitted vocabulary and idf."""
        return self.vectorizer.transform(texts)

    def fit(self, X: sp.csr_matrix) -> Self:
        X = as_interactions(X)
        if self.F is None:
            if X.shape[1] != 0:
                raise ValueError("ContentModel needs item features: call set_item_features first")
            self.F = sp.csr_matrix((0, 0), dtype=np.float32)
        if self.F.shape[0] != X.shape[1]:
            raise ValueError(f"item features have {self.F.shape[0]} rows, X has {X.shape[1]} items")
        self.X = X
        self.n_users, self.n_items = X.shape
        return self

    def score_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        assert self.F is not None, "fit the model first"
        rows = as_interactions(rows, self.n_items, "rows")
        profile = rows @ self.F
        return finite_scores(profile @ self.F.T)

    def similar_to_features(self, f_row: sp.csr_matrix, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` catalogue items most cosine-similar to each feature row (e.g. a new item)."""
        assert self.F is not None, "fit the model first"
        f_row = _l2_rows(sp.csr_matrix(f_row, dtype=np.float32))
        if f_row.shape[1] != self.F.shape[1]:
            raise ValueError(f"feature rows have {f_row.shape[1]} terms, model has {self.F.shape[1]}")
        sims = finite_scores(f_row @ self.F.T)
        sims[sims <= 0] = -np.inf  # no shared term: not similar, rather than similarity 0
        return top_n(sims, n, overwrite_scores=True)

    def similar_items(self, items: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        assert self.F is not None, "fit the model first"
        items = as_index_array(items, self.n_items, "items")
        sims = finite_scores(self.F[items] @ self.F.T)
        sims[sims <= 0] = -np.inf
        sims[np.arange(items.size), items] = -np.inf
        return top_n(sims, n, overwrite_scores=True)

    def get_state(self) -> dict[str, np.ndarray]:
        state = {**pack_csr("X", self.X), **pack_csr("F", self.F)}
        state.update({f"vectorizer.{k}": v for k, v in self.vectorizer.get_state().items()})
        return state

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], params: dict[str, Any]) -> Self:
        vectorizer = TfidfVectorizer.from_state(
            {k.removeprefix("vectorizer."): v for k, v in state.items()
             if k.startswith("vectorizer.")}
        )
        model = cls(vectorizer=vectorizer, **params)
        model.F = unpack_csr("F", state)  # stored normalised; normalising again would drift
        return model.fit(unpack_csr("X", state))

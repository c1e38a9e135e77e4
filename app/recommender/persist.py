"""Model state as bytes and back, using only plain numpy arrays (never pickle).

A state is a flat ``dict[str, np.ndarray]``; nested things use dotted key prefixes
(``"neighbours.data"``, ``"0.item_factors"``). Sparse matrices and string lists have helpers
so every model stores them the same way.

``dumps`` uses uncompressed ``np.savez``. Measured on the benchmark's ItemKNN state (50k users,
20k items, 2M neighbours): savez 21.7 MB in 0.04 s (load 0.04 s); savez_compressed 14.8 MB in
6.8 s (load 0.5 s). Models are rewritten on every rebuild, so speed wins over a third of disk.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp


def dumps(state: dict[str, np.ndarray]) -> bytes:
    """Serialise a state dict to ``.npz`` bytes."""
    buf = io.BytesIO()
    arrays = {key: np.asarray(value) for key, value in state.items()}
    for key, value in arrays.items():
        if value.dtype == object:
            raise TypeError(f"state[{key!r}] has dtype object, which would need pickle")
    np.savez(buf, **arrays)  # type: ignore[arg-type]  # the stubs take a key for allow_pickle
    return buf.getvalue()


def loads(b: bytes) -> dict[str, np.ndarray]:
    """Inverse of :func:`dumps`; refuses pickled content."""
    with np.load(io.BytesIO(b), allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def pack_csr(prefix: str, m: sp.spmatrix | sp.sparray) -> dict[str, np.ndarray]:
    """A CSR matrix as four arrays under ``prefix.``."""
    m = sp.csr_matrix(m)
    return {
        f"{prefix}.data": m.data,
        f"{prefix}.indices": m.indices,
        f"{prefix}.indptr": m.indptr,
        f"{prefix}.shape": np.asarray(m.shape, dtype=np.int64),
    }


def unpack_csr(prefix: str, state: dict[str, np.ndarray]) -> sp.csr_matrix:
    """Inverse of :func:`pack_csr`."""
    shape = tuple(int(x) for x in state[f"{prefix}.shape"])
    return sp.csr_matrix(
        (state[f"{prefix}.data"], state[f"{prefix}.indices"], state[f"{prefix}.indptr"]),
        shape=shape,
    )


def pack_strings(strings: Sequence[str]) -> np.ndarray:
    """Strings as one uint8 array: each string utf-8 encoded and terminated by a newline.

    The terminator (rather than a separator) keeps ``[]`` and ``[""]`` distinct.
    """
    for s in strings:
        if "\n" in s:
            raise ValueError(f"cannot pack a string containing a newline: {s!r}")
    joined = "".join(f"{s}\n" for s in strings).encode("utf-8")
    return np.frombuffer(joined, dtype=np.uint8).copy()


def unpack_strings(arr: np.ndarray) -> list[str]:
    """Inverse of :func:`pack_strings`."""
    text = np.asarray(arr, dtype=np.uint8).tobytes().decode("utf-8")
    return text.split("\n")[:-1]


def with_prefix(prefix: str, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``state`` with every key put under ``prefix.`` (for nesting a model's state)."""
    return {f"{prefix}.{key}": value for key, value in state.items()}


def strip_prefix(prefix: str, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The sub-state stored under ``prefix.`` by :func:`with_prefix`."""
    head = f"{prefix}."
    return {key[len(head):]: value for key, value in state.items() if key.startswith(head)}

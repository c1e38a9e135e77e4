"""`settle`: what survives a full collection is frozen out of later ones, until the next settle."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from app.services.memory import settle


class Node:
    pass


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test session collects as usual


def test_survivors_are_left_out_of_later_collections() -> None:
    kept = Node()
    settle()
    assert gc.get_freeze_count() > 0
    assert not any(o is kept for o in gc.get_objects())  # in no generation a collection walks
    made_after = Node()
    assert any(o is made_after for o in gc.get_objects())


def test_a_frozen_object_in_a_cycle_goes_at_the_next_settle() -> None:
    node = Node()
    settle()
    node.self = node  # type: ignore[attr-defined]
    gone = weakref.ref(node)
    del node
    gc.collect()
    assert gone() is not None  # frozen: the collections in between leave it
    settle()
    assert gone() is None

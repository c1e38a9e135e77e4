"""Two server processes hammering one id: creating or replacing an item or a user is one atomic
`INSERT ... ON CONFLICT` on both backends, so racing writers all get a 200 (never a 500 from a
unique-key error), one row per id is stored, and the category index agrees with that row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import func, select

from app.store.db import make_engine
from app.store.models import Item, ItemCategory, User
from tests.faults.test_concurrency import TIMEOUT, race
from tests.servers import Server

CLIENTS_PER_SERVER = 3
ROUNDS = 8


def item_body(c: int) -> dict[str, Any]:
    return {"title": f"writer {c}", "categories": [f"cat-{c}", "shared"], "price": float(c)}


def test_two_servers_racing_on_one_id_each_get_200(database_url: str, serve: Callable[..., Server]) -> None:
    servers = [serve("a").wait_ready(), serve("b").wait_ready()]
    clients = [s.client(timeout=TIMEOUT) for s in servers for _ in range(CLIENTS_PER_SERVER)]
    n = len(clients)

    def put(r: int, c: int) -> list[tuple[str, int, str]]:
        http = clients[c]
        # A fresh id each round: every round races the first insert, not only updates.
        bulk = [{"item_id": f"bulk-{r}-{k}", **item_body(c)} for k in range(20)]
        calls = [
            ("PUT item", lambda: http.put(f"/items/sku-{r}", json=item_body(c))),
            ("PUT user", lambda: http.put(f"/users/u-{r}", json={"attributes": {"writer": c}})),
            ("POST items", lambda: http.post("/items", json=bulk if c % 2 else bulk[::-1])),
        ]
        answers = []
        for name, call in calls:
            try:
                response = call()
                answers.append((name, response.status_code, response.text[:200]))
            except httpx.HTTPError as exc:
                answers.append((name, 0, repr(exc)))
        return answers

    try:
        rounds = race(put, n, ROUNDS)
    finally:
        for http in clients:
            http.close()
    failures = [a for answers in rounds for per_client in answers for a in per_client if a[1] != 200]
    assert not failures, (failures[:5], servers[0].log()[-2000:], servers[1].log()[-2000:])

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            items = {row.item_id: row for row in connection.execute(select(Item)).all()}
            users = {row.user_id: row for row in connection.execute(select(User)).all()}
            index = connection.execute(select(ItemCategory.item_id, ItemCategory.category)).all()
            duplicates = connection.execute(
                select(ItemCategory.item_id, ItemCategory.category, func.count())
                .group_by(ItemCategory.item_id, ItemCategory.category)
                .having(func.count() > 1)
            ).all()
    finally:
        engine.dispose()
    assert len(items) == ROUNDS * (1 + 20) and len(users) == ROUNDS
    for r in range(ROUNDS):
        item = items[f"sku-{r}"]
        writer = int(item.title.split()[1])  # one writer's whole version won, not a mix
        assert item.categories == [f"cat-{writer}", "shared"] and item.price == float(writer)
        assert users[f"u-{r}"].attributes["writer"] in range(n)
    assert not duplicates
    categories: dict[str, set[str]] = {}
    for item_id, category in index:
        categories.setdefault(item_id, set()).add(category)
    assert categories == {i: set(row.categories) for i, row in items.items()}

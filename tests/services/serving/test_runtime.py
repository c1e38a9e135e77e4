"""The runtime's tail of the store: events other processes stored reach this process's real-time
index; the ones this process stored and recorded itself are not recorded a second time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.services.serving.runtime import Runtime


def test_the_tail_records_other_processes_events_and_skips_its_own(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two runtimes on one store, their background polls out of the way: the test tails by hand.
    here, there = make_client(poll_interval_seconds=3600), make_client(poll_interval_seconds=3600)
    runtime: Runtime = here.app_state["runtime"]
    tailed: list[int] = []
    record = runtime.record_events

    def counting(rows: list[Any]) -> None:
        tailed.extend(r[0] for r in rows)
        record(rows)

    ours = [{"event_id": f"ours-{k}", "user_id": "u1", "item_id": f"i{k}", "type": "view"} for k in range(50)]
    theirs = [
        {"event_id": f"theirs-{k}", "user_id": "u2", "item_id": f"i{k}", "type": "view"} for k in range(30)
    ]
    assert here.post("/events", json=ours).status_code == 202
    assert there.post("/events", json=theirs).status_code == 202
    monkeypatch.setattr(runtime, "record_events", counting)
    runtime.tail_events()

    theirs_ids = sorted(tailed)
    assert len(theirs_ids) == 30  # theirs; none of the 50 this process stored and recorded
    assert len(runtime.activity.get("u2", 0)) == min(30, runtime.activity.max_items)
    runtime.tail_events()  # within the overlap window: theirs are read again, ours still skipped
    assert sorted(set(tailed)) == theirs_ids
    assert len(runtime.activity.get("u1", 0)) == min(50, runtime.activity.max_items)

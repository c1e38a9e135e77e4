"""`shoprec export recommendations`: every shopper's list, as the API would answer it, streamed."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from app.cli import main
from app.config import Settings
from app.services.serving import recommend
from app.services.serving.export import export_recommendations
from app.services.serving.runtime import Runtime


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def demo_store(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> Settings:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SHOPREC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TUNE_EVERY", "0")
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--users", "300", "--items", "150"]) == 0
    return Settings(_env_file=None, database_url=database_url, data_dir=tmp_path)  # type: ignore[call-arg]


@pytest.fixture
def runtime(demo_store: Settings) -> Iterator[Runtime]:
    rt = Runtime.create(demo_store)
    rt.safe_startup_load()
    yield rt
    rt.close()


def _expected(runtime: Runtime, user_id: str, limit: int) -> dict[str, object]:
    answer = recommend.recommend(runtime, recommend.Query(user_id, limit))
    answer.pop("generated_at")
    return orjson.loads(orjson.dumps(answer))  # type: ignore[no-any-return]


def test_every_list_is_the_apis_answer(runtime: Runtime) -> None:
    # Unavailable items leave the lists; a list cut short is topped up, as the API does.
    popular = runtime.model.item_ids[int(runtime.model.popular[0])]
    for item_id in {popular, *runtime.model.item_ids[:40]}:
        runtime.catalog.apply(item_id, available=False, deleted=False, categories=())
    out = io.BytesIO()
    assert export_recommendations(runtime, out, limit=7, fmt="jsonl") == runtime.model.n_users
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [a["user_id"] for a in lines] == runtime.model.user_ids
    for answer in lines:
        assert answer == _expected(runtime, answer["user_id"], 7)
        assert len(answer["items"]) == 7
    assert any("reason" in e for a in lines for e in a["items"])


def test_csv_and_a_list_of_shoppers(runtime: Runtime) -> None:
    users = ["nobody-yet", runtime.model.user_ids[5], runtime.model.user_ids[0]]
    out = io.BytesIO()
    progress: list[tuple[int, int]] = []
    export_recommendations(
        runtime, out, limit=3, fmt="csv", users=users, progress=lambda d, t: progress.append((d, t))
    )
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert [r["user_id"] for r in rows] == [u for u in users for _ in range(3)]
    assert [r["rank"] for r in rows[:3]] == ["1", "2", "3"]
    for user_id in users:
        expected = _expected(runtime, user_id, 3)["items"]
        got = [r for r in rows if r["user_id"] == user_id]
        assert [r["item_id"] for r in got] == [e["item_id"] for e in expected]  # type: ignore[index]
        assert [r["because"] or None for r in got] == [
            e.get("reason", {}).get("because") for e in expected  # type: ignore[union-attr]
        ]
    assert progress[-1] == (3, 3)


def test_the_command(demo_store: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "recs.jsonl"
    assert main(["export", "recommendations", "--limit", "4", "--output", str(target)]) == 0
    lines = target.read_text().splitlines()
    assert len(lines) == 300 and all(len(json.loads(line)["items"]) == 4 for line in lines)
    err = capsys.readouterr().err
    assert "exporting [" in err and "exported 300 shoppers' recommendations" in err

    users = tmp_path / "users.txt"
    users.write_text("user-00001\n\nuser-00002\n")
    assert main(["export", "recommendations", "--format", "csv", "--users", str(users)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "user_id,rank,item_id,score,because" and len(out) == 1 + 2 * 10

    users.write_text("user-00001\nbad id with spaces  \n" + "x" * 200 + "\n")
    assert main(["export", "recommendations", "--users", str(users)]) == 2
    assert "line(s) 3" in capsys.readouterr().err
    assert main(["export", "recommendations", "--limit", "0"]) == 2

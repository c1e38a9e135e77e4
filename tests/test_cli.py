"""The `shoprec` command line, run in-process against the test store."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.cli import main
from app.store.db import make_engine, make_session_factory
from app.store.migrate import head_revision
from app.store.models import Event, Item, ModelVersion


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`main` configures logging for the process, as a command should; other tests expect pytest's."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> str:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SHOPREC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AUTO_MIGRATE", "true")
    monkeypatch.setenv("TUNE_EVERY", "0")
    monkeypatch.chdir(tmp_path)  # no stray .env
    return database_url


def _count(url: str, model: type) -> int:
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        n = session.scalar(select(func.count()).select_from(model)) or 0
    engine.dispose()
    return n


def test_migrate(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    assert f"schema at revision {head_revision()}" in capsys.readouterr().out


def test_import_events_jsonl_and_csv(env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text(
        "\n".join(
            json.dumps({"event_id": f"e{i}", "user_id": f"u{i % 3}", "item_id": f"i{i % 5}", "type": "view"})
            for i in range(30)
        )
        + "\n"
    )
    assert main(["import", "events", str(jsonl)]) == 0
    assert "imported 30 events" in capsys.readouterr().out
    assert _count(env, Event) == 30

    csv_file = tmp_path / "events.csv"
    csv_file.write_text(
        "event_id,user_id,item_id,type,value,timestamp\n"
        "e0,u0,i0,view,,2026-01-01T00:00:00Z\n"  # a duplicate of the JSONL file
        "c1,u9,i9,rating,4.5,2026-01-02T00:00:00Z\n"
        "c2,u9,i8,purchase,2,2026-01-03T00:00:00Z\n"
    )
    assert main(["import", "events", str(csv_file)]) == 0
    out = capsys.readouterr().out
    assert "imported 2 events" in out and "1 duplicate" in out
    assert _count(env, Event) == 32


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "events.jsonl"
    f.write_text(
        json.dumps({"user_id": "u1", "item_id": "i1", "type": "view"})
        + "\n"
        + json.dumps({"user_id": "u1", "item_id": "i1", "type": "like"})
        + "\n{not json\n"
        + json.dumps({"user_id": "u1", "item_id": "i1", "type": "rating", "value": 9})
        + "\n"
    )
    assert main(["import", "events", str(f)]) == 1
    err = capsys.readouterr().err
    assert "3 invalid row(s) of 4; nothing imported" in err
    assert "line 2: type:" in err and "line 3: not valid JSON" in err and "line 4: value:" in err
    assert _count(env, Event) == 0


def test_import_items_csv(env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "items.csv"
    f.write_text(
        "item_id,title,categories,tags,price,available,attributes\n"
        'sku-1,Red shoe,shoes|running,trail,59.5,true,"{""brand"": ""Acme""}"\n'
        "sku-2,Tent,camping,,120,false,\n"
    )
    assert main(["import", "items", str(f)]) == 0
    assert "imported 2 items" in capsys.readouterr().out
    engine = make_engine(env)
    with make_session_factory(engine)() as session:
        shoe = session.get(Item, "sku-1")
        tent = session.get(Item, "sku-2")
        assert shoe is not None and tent is not None
        assert shoe.categories == ["shoes", "running"] and shoe.attributes == {"brand": "Acme"}
        assert shoe.price == 59.5 and tent.available is False
    engine.dispose()

    bad = tmp_path / "bad.csv"
    bad.write_text("item_id,price\nsku-3,-1\n,5\n")
    assert main(["import", "items", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "line 2: price:" in err and "line 3: item_id:" in err
    assert _count(env, Item) == 2


def test_unknown_file_type(env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "events.xml"
    f.write_text("<x/>")
    assert main(["import", "events", str(f)]) == 2
    assert ".csv or .jsonl" in capsys.readouterr().err


def test_demo_rebuild_and_evaluate(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--users", "300", "--items", "150"]) == 0
    out = capsys.readouterr().out
    assert "demo shop: 150 items, 300 shoppers" in out and "model version 1 built" in out
    assert _count(env, ModelVersion) == 1
    assert _count(env, Event) > 3000

    events = _count(env, Event)
    assert main(["demo"]) == 0  # a second run adds nothing, and rebuilds
    assert "already holds" in capsys.readouterr().out
    assert _count(env, Event) == events

    assert main(["rebuild"]) == 0
    assert "built model version 3" in capsys.readouterr().out

    assert main(["evaluate", "--k", "5"]) == 0
    captured = capsys.readouterr()
    table = captured.out
    assert "ndcg@5" in table and "itemknn" in table and "popularity" in table
    # Only what was asked for: the table first, no set-up narration (the store is migrated first).
    assert table.splitlines()[0].split()[:2] == ["model", "ndcg@5"]
    assert "alembic" not in captured.err and "INFO" not in captured.err, captured.err


def test_runs_as_a_module() -> None:
    """`python -m app.cli` (how the benchmarks start servers) builds every command's parser."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    for command in ("serve", "migrate", "evaluate", "export", "openapi"):
        assert command in result.stdout


def test_export_events_as_parquet(env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    events = tmp_path / "events.jsonl"
    rows = [
        {"event_id": "e1", "user_id": "u1", "item_id": "sku-1", "type": "view"},
        {"event_id": "e2", "user_id": "u1", "item_id": "sku-2", "type": "rating", "value": 4.5},
        {"event_id": "e3", "user_id": "u2", "item_id": "sku-1", "type": "purchase"},
    ]
    events.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["import", "events", str(events)]) == 0
    target = tmp_path / "parquet"
    assert main(["export", "events", str(target), "--format", "parquet"]) == 0
    assert "exported 3 events" in capsys.readouterr().out
    table = pq.read_table(target).to_pydict()
    got = sorted(zip(table["user_id"], table["item_id"], table["type"], table["value"], strict=True))
    assert got == [
        ("u1", "sku-1", "view", 1.0),
        ("u1", "sku-2", "rating", 4.5),
        ("u2", "sku-1", "purchase", 1.0),
    ]
    assert all(t > 1.7e9 for t in table["ts"])  # epoch seconds
    # a second export never mixes with the first
    assert main(["export", "events", str(target)]) == 2
    assert "is not empty" in capsys.readouterr().err

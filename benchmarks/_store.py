"""A scratch PostgreSQL database for a benchmark: created, migrated, loaded with COPY, rebuilt."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks._shop import TYPES, Shop, category_of, item_id, user_id  # noqa: E402
from tests.servers import server_env  # noqa: E402

PYTHON = sys.executable
PG = "postgresql+psycopg://postgres@127.0.0.1:5432"


def admin_execute(sql: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(sql)


def fresh_database(name: str) -> str:
    """Drop and recreate `name`, migrate it, return its SQLAlchemy URL. Never the `test` database."""
    assert name not in ("test", "postgres"), name
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin_execute(f'CREATE DATABASE "{name}"')
    url = f"{PG}/{name}"
    migrate(url)
    return url


def migrate(url: str) -> None:
    """Bring the store at `url` to the current schema."""
    from app.store.db import make_engine
    from app.store.migrate import upgrade

    engine = make_engine(url, pool_size=1)
    upgrade(engine)
    engine.dispose()


def existing_store(name: str) -> str | None:
    """The URL of `name` if it exists and holds a built model (for --reuse-db), migrated to the
    current schema, else None."""
    import psycopg

    url = f"{PG}/{name}"
    try:
        with psycopg.connect(psycopg_url(url)) as conn:
            built = conn.execute("SELECT stages FROM model_versions ORDER BY version DESC LIMIT 1").fetchone()
    except psycopg.Error:
        return None
    if not built:
        return None
    migrate(url)
    return url


def drop_database(name: str) -> None:
    assert name not in ("test", "postgres"), name
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _iso(timestamps: np.ndarray) -> np.ndarray:
    return np.char.add(np.datetime_as_string((timestamps * 1e6).astype("datetime64[us]"), unit="us"), "+00")


def copy_catalog(conn: Any, n_users: int, n_items: int, n_categories: int) -> None:
    """Users and items (with a category each) straight into the tables: setup, not measured."""
    now = "2024-01-01 00:00:00+00"
    buf = io.StringIO()
    for u in user_id(np.arange(n_users)).tolist():
        buf.write(f"{u}\t{{}}\t{now}\t{now}\n")
    with (
        conn.cursor() as cur,
        cur.copy("COPY users (user_id, attributes, created_at, updated_at) FROM STDIN") as cp,
    ):
        cp.write(buf.getvalue())
    buf = io.StringIO()
    cats = io.StringIO()
    for code, i in enumerate(item_id(np.arange(n_items)).tolist()):
        cat = category_of(code, n_categories)
        buf.write(f'{i}\tItem {code}\t["{cat}"]\t[]\tt\t{{}}\t{now}\t{now}\n')
        cats.write(f"{i}\t{cat}\n")
    cols = "item_id, title, categories, tags, available, attributes, created_at, updated_at"
    with conn.cursor() as cur, cur.copy(f"COPY items ({cols}) FROM STDIN") as cp:
        cp.write(buf.getvalue())
    with conn.cursor() as cur, cur.copy("COPY item_categories (item_id, category) FROM STDIN") as cp:
        cp.write(cats.getvalue())


EVENT_COLUMNS = "event_id, user_id, item_id, type, value, ts, received_at"


def event_copy_text(shop: Shop, lo: int, hi: int, *, prefix: str = "e") -> str:
    """Rows lo..hi of the shop in COPY text format (event ids `<prefix>-<n>`)."""
    ts = _iso(shop.timestamps[lo:hi]).tolist()
    types = np.array(TYPES)[shop.types[lo:hi]].tolist()
    return "".join(
        f"{prefix}-{n}\t{u}\t{i}\t{t}\t{v}\t{s}\t{s}\n"
        for n, u, i, t, v, s in zip(
            range(lo, hi),
            shop.user_ids[lo:hi].tolist(),
            shop.item_ids[lo:hi].tolist(),
            types,
            shop.values[lo:hi].tolist(),
            ts,
            strict=True,
        )
    )


def copy_events(conn: Any, shop: Shop, lo: int = 0, hi: int | None = None, *, prefix: str = "e") -> None:
    hi = len(shop) if hi is None else hi
    step = 500_000
    for start in range(lo, hi, step):
        data = event_copy_text(shop, start, min(start + step, hi), prefix=prefix)
        with conn.cursor() as cur, cur.copy(f"COPY events ({EVENT_COLUMNS}) FROM STDIN") as cp:
            cp.write(data)


def load_store(name: str, shop: Shop) -> str:
    """A fresh database holding the shop's catalog and events; returns its SQLAlchemy URL."""
    import psycopg

    url = fresh_database(name)
    with psycopg.connect(psycopg_url(url)) as conn:
        copy_catalog(conn, shop.n_users, shop.n_items, shop.n_categories)
        copy_events(conn, shop)
        conn.commit()
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return url


def build_model(url: str) -> dict[str, Any]:
    """One rebuild in a child process: its stages and its own peak RSS (ru_maxrss, MB)."""
    code = (
        "import json, resource\n"
        "from app.config import Settings\n"
        "from app.services.building.rebuild import run_rebuild\n"
        "r = run_rebuild(Settings(), tune=False)\n"  # the refit; model selection is timed apart
        "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(json.dumps({'status': r.status, 'stages': r.stages, 'rss_mb': rss}))\n"
    )
    out = subprocess.run(
        [PYTHON, "-c", code], env=server_env(url), cwd=ROOT, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"rebuild failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

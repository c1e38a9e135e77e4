"""The `shoprec` command line: serve, migrate, rebuild, import, demo, evaluate, openapi, export."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from app.config import Settings
from app.logs import configure, logging_config

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.recommender.evaluation.split import SplitMethod


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    settings = Settings()
    configure(settings, quiet=args.command != "serve")
    return int(args.func(settings, args) or 0)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shoprec", description="Recommendations for online shops.")
    sub = p.add_subparsers(dest="command")

    s = sub.add_parser("serve", help="run the HTTP service")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=1)
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("migrate", help="create or upgrade the database schema")
    s.set_defaults(func=cmd_migrate)

    s = sub.add_parser("rebuild", help="rebuild the model once (for cron or a worker)")
    s.add_argument(
        "--tune",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="evaluate the candidate models and serve the best (default: as TUNE_EVERY says)",
    )
    s.add_argument(
        "--engine",
        choices=["local", "spark"],
        default=None,
        help="build on this machine or on the Spark cluster at SPARK_MASTER (default: REBUILD_ENGINE)",
    )
    s.set_defaults(func=cmd_rebuild)

    s = sub.add_parser("import", help="import events or items from a CSV or JSON Lines file")
    s.add_argument("kind", choices=["events", "items"])
    s.add_argument("file", type=Path)
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("demo", help="fill an empty store with a synthetic shop and build the model")
    s.add_argument("--users", type=int, default=3000)
    s.add_argument("--items", type=int, default=1200)
    s.add_argument("--seed", type=int, default=7)
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("evaluate", help="evaluate every model on the store's events")
    s.add_argument("--k", type=int, default=10)
    s.add_argument("--split", choices=["global", "user"], default="global")
    s.add_argument("--test-fraction", type=float, default=0.2)
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("openapi", help="print the OpenAPI document the server serves, for client generators")
    s.add_argument("--output", type=Path, help="write it to this file instead")
    s.set_defaults(func=cmd_openapi)

    s = sub.add_parser("export", help="export recommendations (for campaigns) or events (for Spark)")
    export = s.add_subparsers(dest="what", required=True)
    s = export.add_parser(
        "recommendations", help="write every shopper's recommendations from the current model"
    )
    s.add_argument("--limit", type=int, default=10, help="items per shopper, 1-100 (default 10)")
    s.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    s.add_argument("--users", type=Path, help="a file of shopper ids, one a line (default: every shopper)")
    s.add_argument("--output", "-o", type=Path, help="the file to write (default: standard output)")
    s.set_defaults(func=cmd_export)
    s = export.add_parser("events", help="write every stored event as Parquet files (the Spark job's input)")
    s.add_argument("directory", type=Path)
    s.add_argument("--format", choices=["parquet"], default="parquet")
    s.set_defaults(func=cmd_export_events)
    return p


def _engine(settings: Settings) -> Engine:
    from app.store.db import make_engine
    from app.store.migrate import upgrade

    engine = make_engine(settings.sqlalchemy_url)
    if settings.migrate_on_start:
        upgrade(engine)
    return engine


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    metrics_dir = _metrics_directory(settings, args.workers)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level,
        log_config=logging_config(settings),
        access_log=False,
        timeout_keep_alive=30,
    )
    if metrics_dir is not None and settings.prometheus_multiproc_dir is None:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _metrics_directory(settings: Settings, workers: int) -> Path | None:
    """With several workers, Prometheus metrics go through files in a directory all of them share
    (prometheus-client's multiprocess mode), empty at start. The workers find it in the environment,
    where prometheus-client looks for it when first imported."""
    directory = settings.prometheus_multiproc_dir
    if directory is None:
        if workers <= 1:
            return None
        directory = Path(tempfile.mkdtemp(prefix="shoprec-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):  # a previous run's values would be summed with ours
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return directory


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> int:
    from app.store.db import make_engine
    from app.store.migrate import current_revision, upgrade

    engine = make_engine(settings.sqlalchemy_url)
    upgrade(engine)
    print(f"schema at revision {current_revision(engine)}")
    engine.dispose()
    return 0


def cmd_rebuild(settings: Settings, args: argparse.Namespace) -> int:
    from app.services.building.rebuild import run_rebuild

    if args.engine is not None:
        settings = settings.model_copy(update={"rebuild_engine": args.engine})
    engine = _engine(settings)
    result = run_rebuild(settings, engine=engine, tune=args.tune)
    engine.dispose()
    if result.status == "skipped":
        print("another process is rebuilding; nothing done")
        return 0
    if result.status == "empty":
        print("no events yet; nothing to build")
        return 0
    stages = ", ".join(f"{k} {v:.2f}s" for k, v in result.stages.items())
    print(f"built model version {result.version} ({stages})")
    return 0


class _ProgressBar:
    def __init__(self, label: str) -> None:
        self.label = label
        self.started = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        width = 30
        filled = int(width * done / max(total, 1))
        rate = done / max(time.perf_counter() - self.started, 1e-9)
        sys.stderr.write(
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} ({rate:,.0f}/s)"
        )
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from app import bulk_import
    from app.store.db import make_session_factory

    path: Path = args.file
    if not path.is_file():
        print(f"error: {path} is not a file", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        if args.kind == "events":
            rows, report = bulk_import.validate_events(path, settings.rating_max)
        else:
            rows, report = bulk_import.validate_items(path)  # type: ignore[assignment]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not report.ok:
        print(f"{len(report.errors)} invalid row(s) of {report.rows}; nothing imported:", file=sys.stderr)
        for line in report.errors[: bulk_import.MAX_REPORTED]:
            print(f"  {line}", file=sys.stderr)
        if len(report.errors) > bulk_import.MAX_REPORTED:
            print(f"  ... and {len(report.errors) - bulk_import.MAX_REPORTED} more", file=sys.stderr)
        return 1
    validated = time.perf_counter()
    engine = _engine(settings)
    with make_session_factory(engine).begin() as session:
        write = bulk_import.write_events if args.kind == "events" else bulk_import.write_items
        write(session, rows, report, _ProgressBar(f"importing {args.kind}"))  # type: ignore[arg-type]
    engine.dispose()
    done = time.perf_counter()
    extra = f", {report.duplicates} duplicate(s) skipped" if args.kind == "events" else ""
    print(
        f"imported {report.written} {args.kind} from {report.rows} row(s){extra} in "
        f"{done - started:.1f} s (reading and validation {validated - started:.1f} s, "
        f"writing {done - validated:.1f} s)"
    )
    return 0


def cmd_export_events(settings: Settings, args: argparse.Namespace) -> int:
    from app.services.building.spark_engine import export_events

    engine = _engine(settings)
    try:
        rows = export_events(engine, args.directory)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"exported {rows} events to {args.directory}")
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from app.api.schemas.events import parse_events
    from app.services.building import demo
    from app.services.building.rebuild import run_rebuild
    from app.services.writes import catalog, ingest, placements
    from app.store import events as event_store
    from app.store.db import make_session_factory

    started = time.perf_counter()
    engine = _engine(settings)
    sessions = make_session_factory(engine)
    with sessions() as session:
        existing = event_store.total(session)
    if existing:
        print(f"the store already holds {existing} events; no demo data added")
    else:
        shop = demo.generate(n_users=args.users, n_items=args.items, seed=args.seed)
        progress = _ProgressBar("loading demo events")
        with sessions.begin() as session:
            catalog.upsert_items(session, shop.items)
            for start in range(0, len(shop.events), 5000):
                batch = parse_events(shop.events[start : start + 5000], rating_max=settings.rating_max)
                ingest.store_events(session, batch)
                progress(min(start + 5000, len(shop.events)), len(shop.events))
            for name, body in shop.placements.items():
                placements.put_placement(session, name, **body)
        print(f"demo shop: {len(shop.items)} items, {args.users} shoppers, {len(shop.events)} events")
        print(f"placements: {', '.join(shop.placements)}")
    # The default model, without model selection, so the demo is up in seconds; selection runs
    # with `shoprec rebuild --tune` or on the server's schedule (TUNE_EVERY).
    result = run_rebuild(settings, engine=engine, tune=False)
    engine.dispose()
    print(f"model version {result.version} built; demo ready in {time.perf_counter() - started:.1f} s")
    print("try:  curl 'http://127.0.0.1:8000/users/user-00042/recommendations?limit=5'")
    print("      curl 'http://127.0.0.1:8000/users/user-00042/recommendations?placement=home'")
    print("      curl -X POST http://127.0.0.1:8000/recommendations/basket \\")
    print("           -H 'Content-Type: application/json' -d '{\"items\": [\"sku-00010\"]}'")
    print("      curl 'http://127.0.0.1:8000/trending?window=24h'")
    return 0


def cmd_evaluate(settings: Settings, args: argparse.Namespace) -> int:
    from app.services.building.evaluation import evaluate_store

    engine = _engine(settings)
    split: SplitMethod = "per_user" if args.split == "user" else "global"
    table = evaluate_store(settings, engine, k=args.k, split=split, test_fraction=args.test_fraction)
    engine.dispose()
    print(table)
    return 0


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    from app.services.serving.export import export_recommendations
    from app.services.serving.runtime import Runtime
    from app.shop import ID_PATTERN, MAX_ID_LENGTH

    if not 1 <= args.limit <= 100:
        print("error: --limit must be between 1 and 100", file=sys.stderr)
        return 2
    users = None
    if args.users is not None:
        if not args.users.is_file():
            print(f"error: {args.users} is not a file", file=sys.stderr)
            return 2
        users, bad = [], []
        pattern = re.compile(ID_PATTERN)
        for number, line in enumerate(args.users.read_text(encoding="utf-8").splitlines(), 1):
            user_id = line.strip()
            if not user_id:
                continue
            if len(user_id) > MAX_ID_LENGTH or not pattern.fullmatch(user_id):
                bad.append(number)
            users.append(user_id)
        if bad:
            lines = ", ".join(map(str, bad[:10])) + (" ..." if len(bad) > 10 else "")
            print(f"error: {args.users}: not a shopper id on line(s) {lines}", file=sys.stderr)
            return 2
    _engine(settings).dispose()  # migrated first, where AUTO_MIGRATE says so
    runtime = Runtime.create(settings)
    try:
        runtime.safe_startup_load()
        if runtime.model.version is None:
            print("error: no model built yet: run `shoprec rebuild` first", file=sys.stderr)
            return 1
        started = time.perf_counter()
        out = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
        try:
            n = export_recommendations(
                runtime,
                out,
                limit=args.limit,
                fmt=args.format,
                users=users,
                progress=_ProgressBar("exporting"),
            )
        finally:
            if args.output:
                out.close()
            else:
                out.flush()
    finally:
        runtime.close()
    seconds = time.perf_counter() - started
    print(
        f"exported {n:,} shoppers' recommendations from model version {runtime.model.version} "
        f"in {seconds:.1f} s ({n / max(seconds, 1e-9):,.0f} shoppers/s)",
        file=sys.stderr,
    )
    return 0



def cmd_openapi(settings: Settings, args: argparse.Namespace) -> int:
    """The document of /openapi.json, without starting the server or touching the store: the
    security scheme is in it when API keys are configured, as on the server."""
    import json

    from app.main import create_app

    text = json.dumps(create_app(settings).openapi(), indent=2, ensure_ascii=False) + "\n"
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

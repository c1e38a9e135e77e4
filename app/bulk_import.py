"""Bulk import (`shoprec import`) of events or items from CSV or JSON Lines, with the API's validation.

An entry point like the HTTP API: it parses files where the API parses requests, and writes through
the same services.

The whole file is validated first; any bad row is reported by line number and nothing is written.
A valid file is written in one transaction, in batches, so an import is all or nothing.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.api.schemas.events import EventBatchError, EventIn, parse_events
from app.api.schemas.items import ItemIn
from app.services.writes import catalog, ingest

BATCH = 5000
MAX_REPORTED = 20
LIST_FIELDS = ("categories", "tags")
JSON_FIELDS = ("attributes",)
# A CSV cell is always text; the API takes numbers and booleans only as JSON numbers and booleans,
# so these columns are read as what they hold before validation.
NUMBER_COLUMNS = ("value", "price")
BOOLEAN_CELLS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}

Progress = Callable[[int, int], None]


@dataclass
class ImportReport:
    rows: int = 0
    written: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def read_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, row) pairs from a .csv or a .jsonl/.ndjson file; JSON errors become rows
    of None so they are reported with their line."""
    suffix = path.suffix.lower()
    with path.open(newline="", encoding="utf-8") as f:
        if suffix == ".csv":
            reader = csv.DictReader(f)
            for row in reader:
                cells = {k: v for k, v in row.items() if k is not None and v != ""}
                yield reader.line_num, _typed_cells(cells)
        elif suffix in (".jsonl", ".ndjson", ".json"):
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    yield n, orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    yield n, _BadJson(str(exc))
        else:
            raise ValueError(f"{path}: use a .csv or .jsonl file")


@dataclass(frozen=True)
class _BadJson:
    message: str


def _typed_cells(row: dict[str, Any]) -> dict[str, Any]:
    """Numbers and booleans of a CSV row as such; a cell that is neither stays text, for the
    validation to name."""
    for name in NUMBER_COLUMNS:
        if name in row:
            try:
                row[name] = float(row[name])
            except ValueError:
                pass
    if "available" in row:
        row["available"] = BOOLEAN_CELLS.get(row["available"].strip().lower(), row["available"])
    return row


def _item_row(row: dict[str, Any]) -> dict[str, Any]:
    """CSV cells are strings: lists are '|'-separated (or JSON), attributes are JSON."""
    out = dict(row)
    for name in LIST_FIELDS:
        value = out.get(name)
        if isinstance(value, str):
            out[name] = json.loads(value) if value.startswith("[") else [v for v in value.split("|") if v]
    for name in JSON_FIELDS:
        if isinstance(out.get(name), str):
            out[name] = json.loads(out[name])
    return out


def validate_events(path: Path, rating_max: float) -> tuple[list[EventIn], ImportReport]:
    report = ImportReport()
    valid: list[EventIn] = []
    lines: list[int] = []
    rows: list[Any] = []

    def flush() -> None:
        # One validation call per BATCH rows: per-row calls cost more than the validation itself.
        # A batch with a bad row is validated again row by row, to report every row's first error.
        try:
            valid.extend(parse_events(rows, rating_max=rating_max))
        except EventBatchError:
            for line, row in zip(lines, rows, strict=True):
                try:
                    parse_events(row, rating_max=rating_max)
                except EventBatchError as exc:
                    e = exc.errors[0]
                    where = ".".join(str(p) for p in e["loc"][1:]) or "row"
                    report.errors.append(f"line {line}: {where}: {e['msg']}")
        lines.clear()
        rows.clear()

    for line, row in read_rows(path):
        report.rows += 1
        if isinstance(row, _BadJson):
            report.errors.append(f"line {line}: not valid JSON ({row.message})")
            continue
        lines.append(line)
        rows.append(row)
        if len(rows) == BATCH:
            flush()
    if rows:
        flush()
    report.errors.sort(key=lambda message: int(message.split(":", 1)[0].removeprefix("line ")))
    return valid, report


def validate_items(path: Path) -> tuple[list[dict[str, Any]], ImportReport]:
    report = ImportReport()
    valid: dict[str, dict[str, Any]] = {}
    for line, row in read_rows(path):
        report.rows += 1
        try:
            if isinstance(row, _BadJson):
                raise ValueError(f"not valid JSON ({row.message})")
            item = ItemIn.model_validate(_item_row(row) if isinstance(row, dict) else row)
        except ValidationError as exc:
            e = exc.errors()[0]
            where = ".".join(str(p) for p in e["loc"]) or "row"
            report.errors.append(f"line {line}: {where}: {e['msg']}")
            continue
        except ValueError as exc:
            report.errors.append(f"line {line}: {exc}")
            continue
        valid[item.item_id] = item.model_dump()
    return list(valid.values()), report


def write_events(
    session: Session, events: list[EventIn], report: ImportReport, progress: Progress | None = None
) -> None:
    """Store the events in the session's transaction: all or nothing, stored event ids skipped."""
    total = len(events)

    def counted() -> Iterator[EventIn]:
        for n, event in enumerate(events, start=1):
            yield event
            if progress and n % BATCH == 0:
                progress(n, total)

    stored = ingest.import_events(session, counted())
    report.written += stored
    report.duplicates += total - stored
    if progress:
        progress(total, total)


def write_items(
    session: Session, items: list[dict[str, Any]], report: ImportReport, progress: Progress | None = None
) -> None:
    for start in range(0, len(items), BATCH):
        report.written += len(catalog.upsert_items(session, items[start : start + BATCH]))
        if progress:
            progress(min(start + BATCH, len(items)), len(items))

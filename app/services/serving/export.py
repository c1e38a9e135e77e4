"""Every shopper's recommendations in one stream, for email and push campaigns
(`shoprec export recommendations`).

Each list is what `GET /users/{id}/recommendations?limit=N` answers for a shopper with no events
since the last rebuild: the model's cached list without unavailable or deleted items, topped up from
popular items when that leaves fewer than N. The cached lists are filtered in blocks of shoppers
with numpy; only a list the catalog cut short, or a shopper the model does not know, goes through
`recommend.recommend` one at a time.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, Literal

import numpy as np
import orjson

from app.services.serving import recommend
from app.services.serving.runtime import Runtime

Format = Literal["jsonl", "csv"]
BLOCK = 10_000
CSV_HEADER = ("user_id", "rank", "item_id", "score", "because")


def export_recommendations(
    runtime: Runtime,
    out: IO[bytes],
    *,
    limit: int,
    fmt: Format,
    users: Iterable[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write one list per shopper (every shopper of the model, or `users` in their order) to `out`;
    returns how many were written."""
    model = runtime.model
    user_list = model.user_ids if users is None else list(users)
    total = len(user_list)
    text = _TextOut(out) if fmt == "csv" else None
    writer = csv.writer(text) if text is not None else None
    if writer is not None:
        writer.writerow(CSV_HEADER)
    done = 0
    for block in _answers(runtime, user_list, limit):
        if writer is not None:
            writer.writerows(
                (a["user_id"], rank, e["item_id"], e["score"], e.get("reason", {}).get("because", ""))
                for a in block
                for rank, e in enumerate(a["items"], 1)
            )
            text.flush()  # type: ignore[union-attr]
        else:
            out.write(b"".join(orjson.dumps(a, option=orjson.OPT_APPEND_NEWLINE) for a in block))
        done += len(block)
        if progress is not None:
            progress(done, total)
    if progress is not None and total == 0:
        progress(0, 0)
    return done


def _answers(runtime: Runtime, user_ids: list[str], limit: int) -> Iterator[list[dict[str, Any]]]:
    """The answers, a block of shoppers at a time, in the order of `user_ids`."""
    model = runtime.model
    hidden = np.zeros(model.n_items + 1, dtype=bool)  # the extra last slot stands for padding (-1)
    hidden[-1] = True
    hidden[[model.item_index[i] for i in runtime.catalog.hidden if i in model.item_index]] = True
    item_ids = np.array([*model.item_ids, ""], dtype=object)
    version = model.version
    for start in range(0, len(user_ids), BLOCK):
        ids = user_ids[start : start + BLOCK]
        rows = np.array([model.user_index.get(u, -1) for u in ids], dtype=np.int64)
        known = rows >= 0
        top = model.top_items[rows[known]]
        keep = ~hidden[top]
        keep &= np.cumsum(keep, axis=1) <= limit
        counts = keep.sum(axis=1)
        r, c = np.nonzero(keep)
        picked = top[r, c]
        names = item_ids[picked].tolist()
        scores = [round(x, 6) for x in model.top_scores[rows[known]][r, c].tolist()]  # as the API rounds
        because_idx = model.top_because[rows[known]][r, c]
        because = item_ids[np.where(because_idx >= 0, because_idx, -1)].tolist()
        offsets = np.concatenate(([0], np.cumsum(counts))).tolist()
        full = (counts >= min(limit, model.n_items)).tolist()
        block: list[dict[str, Any]] = []
        k = 0
        for user_id, is_known in zip(ids, known.tolist(), strict=True):
            if not is_known or not full[k] or user_id in runtime.erased:
                block.append(recommend.recommend(runtime, recommend.Query(user_id, limit)))
                k += is_known
                continue
            lo, hi = offsets[k], offsets[k + 1]
            k += 1
            block.append(
                {
                    "user_id": user_id,
                    "items": [
                        {"item_id": i, "score": x, "reason": {"because": b}}
                        if b
                        else {"item_id": i, "score": x}
                        for i, x, b in zip(names[lo:hi], scores[lo:hi], because[lo:hi], strict=True)
                    ],
                    "strategy": "personalized" if hi > lo else "popular",
                    "model_version": version,
                }
            )
        yield [_plain(a) for a in block]


def _plain(answer: dict[str, Any]) -> dict[str, Any]:
    """The export's shape of an answer: the API's without `generated_at`, the same for every line."""
    answer.pop("generated_at", None)
    return answer


class _TextOut:
    """A text writer over a binary stream, as the csv module wants, without re-buffering it."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.parts: list[str] = []

    def write(self, s: str) -> int:
        self.parts.append(s)
        return len(s)

    def flush(self) -> None:
        self.out.write("".join(self.parts).encode())
        self.parts.clear()

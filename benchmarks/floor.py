"""The floor of the web stack: a bare ASGI app that answers every request with one constant body.

`benchmarks/serving.py` runs it under the same uvicorn as `shoprec serve` (same options, same
worker count), with a body of a real answer's size, and drives it with the same wrk script as the
service (same URLs, same key header): what serving costs beyond it is the service's own.

    .venv/bin/python -m benchmarks.floor BODY_FILE --port 8001 [--workers 1]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

BODY_FILE = "SHOPREC_FLOOR_BODY"  # the workers of `--workers N` read the body's path from here


def create_app() -> Any:
    body = Path(os.environ[BODY_FILE]).read_bytes()
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")],
    }
    message = {"type": "http.response.body", "body": body}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # nothing to start or stop
            while True:
                event = (await receive())["type"]
                await send({"type": f"{event}.complete"})
                if event == "lifespan.shutdown":
                    return
        await send(start)
        await send(message)

    return app


def main() -> None:
    import uvicorn

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("body_file", type=Path)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args()
    os.environ[BODY_FILE] = str(args.body_file.resolve())
    # The options of `shoprec serve` (app/cli.py).
    uvicorn.run(
        "benchmarks.floor:create_app",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=30,
    )


if __name__ == "__main__":
    main()

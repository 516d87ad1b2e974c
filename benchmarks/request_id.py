"""What request ids and JSON lines cost: microseconds per request added by the request-id
middleware (in-process ASGI calls, no network, around a constant app) and per log line in text
and JSON format (formatted through the masking handler, written to a null stream).

Rounds alternate between the variants and the median is printed, so a busy machine slows all of
them alike. Usage: python benchmarks/request_id.py [--requests N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import logging.config
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


async def constant(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _per_request(app: Any, requests: int) -> float:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/dags",
        "headers": [(b"host", b"x"), (b"accept", b"*/*"), (b"x-request-id", b"abc-123")],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        return None

    async def run() -> float:
        started = time.perf_counter()
        for _ in range(requests):
            await app(scope, receive, send)
        return (time.perf_counter() - started) / requests * 1e6

    return asyncio.run(run())


def _per_line(json_format: bool, lines: int) -> float:
    from aerovane.config import reload_settings
    from aerovane.logs.context import log_context
    from aerovane.logs.setup import logging_config

    os.environ["AEROVANE__LOGGING__JSON_FORMAT"] = str(json_format)
    config = logging_config(reload_settings())
    config["handlers"]["console"]["stream"] = io.StringIO()
    logging.config.dictConfig(config)
    log = logging.getLogger("aerovane.api.access")
    with log_context(request_id="0123456789abcdef0123456789abcdef", dag_id="etl"):
        started = time.perf_counter()
        for _ in range(lines):
            log.info("%s %s %s %.1fms", "GET", "/api/v1/dags", 200, 1.5)
        return (time.perf_counter() - started) / lines * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("AEROVANE_HOME", tempfile.mkdtemp(prefix="bench-request-id-"))
    from aerovane.logs.request_id import RequestIdMiddleware

    variants: dict[str, Callable[[], float]] = {
        "bare constant app (per request)": lambda: _per_request(constant, args.requests),
        "+ request-id middleware (per request)": lambda: _per_request(
            RequestIdMiddleware(constant, trust_incoming=True), args.requests
        ),
        "text line, masked (per line)": lambda: _per_line(False, args.requests // 4),
        "JSON line, masked (per line)": lambda: _per_line(True, args.requests // 4),
    }
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, measure in variants.items():
            samples[name].append(measure())
    print(f"{os.cpu_count()} cores; median of {args.rounds} rounds")
    for name, values in samples.items():
        print(f"{name:40s} {statistics.median(values):8.1f} us")


if __name__ == "__main__":
    main()

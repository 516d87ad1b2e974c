"""The trigger route's cost in one process: POST /dags/{id}/dagRuns through the ASGI app
in-process (no sockets, no other clients), N times in a row, on SQLite or the database given.

Prints per trigger: wall and CPU time (CPU time barely moves with the machine's load, wall
time does), SQL statements sent, pooled-connection checkouts, and on PostgreSQL whether a
listener heard the schedulers' wake-up. Compare two checkouts by running it with each one's
`src` first on PYTHONPATH.

Usage: python benchmarks/trigger_path.py [--triggers N] [--database-url URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--triggers", type=int, default=300)
    parser.add_argument("--database-url", default="", help="an empty database instead of SQLite")
    args = parser.parse_args()
    if args.database_url:
        os.environ["AEROVANE__DATABASE__SQL_ALCHEMY_CONN"] = args.database_url
    # No authentication: the Public role holds Admin's permissions (`seed`).
    os.environ["AEROVANE__API__AUTH_BACKENDS"] = "aerovane.auth.backends.default"
    home = Path(tempfile.mkdtemp(prefix="aerovane-triggerpath-")) / "home"
    from api import seed

    seed(home, 100)
    import anyio
    import httpx
    from sqlalchemy import event

    from aerovane.api.app import create_app
    from aerovane.db.engine import get_engine

    engine = get_engine()
    counts = {"statements": 0, "checkouts": 0}

    def on_statement(*_: Any) -> None:
        counts["statements"] += 1

    def on_checkout(*_: Any) -> None:
        counts["checkouts"] += 1

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "checkout", on_checkout)
    app = create_app()
    walls: list[float] = []
    cpus: list[float] = []

    async def drive() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for i in range(args.triggers + 20):
                if i == 20:  # warmed up: caches filled, statements compiled
                    counts.update(statements=0, checkouts=0)
                wall, cpu = time.perf_counter(), time.process_time()
                response = await client.post(
                    "/api/v1/dags/bench_api/dagRuns", json={"dag_run_id": f"t{i}"}
                )
                if i >= 20:
                    walls.append(time.perf_counter() - wall)
                    cpus.append(time.process_time() - cpu)
                assert response.status_code == 200, response.text

    anyio.run(drive)
    n = args.triggers
    print(
        f"{engine.dialect.name}: {n} triggers  wall p50 {statistics.median(walls) * 1e3:.2f} ms"
        f"  CPU mean {statistics.fmean(cpus) * 1e3:.2f} ms"
        f"  statements {counts['statements'] / n:.2f}/trigger"
        f"  checkouts {counts['checkouts'] / n:.2f}/trigger"
    )


if __name__ == "__main__":
    main()

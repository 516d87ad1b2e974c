"""The fault suite (issue 12): while runs go on, SIGKILL each component (scheduler, Celery
worker, triggerer, API server, proxy) at seeded random moments and restart it, restart
PostgreSQL and the broker (Redis); then check from the tasks' side effects that no attempt ran
twice, none was lost and no run is stuck.

Everything runs on loopback with a private PostgreSQL and Redis in a temporary directory (never
the shared servers). Prints the seed, the kills survived per component, the restarts, lost and
duplicated executions, and the time from the last fault to every run final.

Usage: python benchmarks/fault_suite.py [--seed N] [--runs 40] [--duration 40] [--kills 2]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._faults import (
    cluster_settings,
    private_servers,
    run_suite,
    server_binaries,
    summary,
)


def configure(home: Path, overrides: dict[str, str]) -> dict[str, str]:
    """The components' environment, applied to this process too (it reads the database)."""
    from aerovane.config import ensure_home, reload_settings
    from aerovane.db.engine import dispose_engines
    from aerovane.db.migrate import ensure_default_rows, migrate

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AEROVANE__", "AIRFLOW__"))}
    env.update(
        AEROVANE_HOME=str(home),
        AEROVANE__CORE__LOAD_EXAMPLES="False",
        AEROVANE__SCHEDULER__DAG_DIR_LIST_INTERVAL="0.5",
        AEROVANE__SCHEDULER__SHUTDOWN_GRACE_PERIOD="5",
        **overrides,
    )
    os.environ.clear()
    os.environ.update(env)
    dispose_engines()
    reload_settings()
    ensure_home()
    migrate()
    ensure_default_rows()
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--duration", type=float, default=40.0, help="seconds of faults")
    parser.add_argument("--kills", type=int, default=2, help="kills per component type")
    parser.add_argument("--keep", action="store_true", help="keep the logs and side effects")
    args = parser.parse_args()
    if server_binaries() is None:
        sys.exit("fault_suite: needs PostgreSQL's initdb/pg_ctl and redis-server")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    print(f"seed {seed}; {args.runs} runs x 5 tasks; {args.duration:.0f} s of faults", flush=True)
    root = Path(tempfile.mkdtemp(prefix="aerovane-faults-"))
    print(f"working in {root}", flush=True)
    try:
        with private_servers(root) as (postgres, redis):
            result = run_suite(
                home=root / "home",
                env=configure(root / "home", cluster_settings(postgres, redis)),
                postgres=postgres,
                redis=redis,
                seed=seed,
                runs=args.runs,
                duration=args.duration,
                kills_per_component=args.kills,
            )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(summary(result))


if __name__ == "__main__":
    main()

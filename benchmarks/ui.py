"""Web UI page times: the DAG list (`/home`) with 1,000 DAGs and the grid of a DAG with
100 runs x 50 tasks (target: under 150 ms each at the median), and how long a task's log line
takes to appear in an open task-instance page.

The first two are served by the API app on uvicorn in this process over a fresh SQLite home
(or `--database-url`, whose public schema is reset), signed in through the sign-in form; each
figure is the time of a whole HTTP request (server time plus the loopback round trip). The log
latency needs a scheduler: a temporary `aerovane standalone` runs a task that prints a
timestamped line every 1.5 s while a headless Chromium (Debian's /usr/bin/chromium, Playwright)
keeps its page open; each line's latency is the time it was seen minus the time it was written.

Usage: python benchmarks/ui.py [--requests N] [--lines N] [--database-url URL] [--skip-log]
[--skip-pages]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import statistics
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import standalone, summary

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
STATES = ["success"] * 8 + ["failed", "skipped", "upstream_failed", "running", None]


def _populate(dag_count: int, runs: int, tasks: int) -> None:
    from sqlalchemy import insert, update

    from aerovane.authoring import DAG, EmptyOperator, TaskGroup
    from aerovane.authoring.serialization import serialize_dag
    from aerovane.dag_processing.writer import store_parse_result
    from aerovane.db import models
    from aerovane.db.engine import create_session
    from aerovane.services.dag_runs import trigger_dag_run

    dags = []
    for i in range(dag_count):
        with DAG(
            f"bench_{i:04d}",
            schedule="@daily" if i % 3 else None,
            start_date=START,
            tags=[f"team_{i % 7}", "bench"],
            default_args={"owner": f"owner_{i % 5}"},
            auto_register=False,
        ) as dag:
            EmptyOperator(task_id="only")
        dags.append(serialize_dag(dag))
    with DAG("bench_grid", schedule=None, start_date=START, auto_register=False) as big:
        previous = None
        for g in range(tasks // 10):
            with TaskGroup(f"group_{g}"):
                for t in range(10):
                    task = EmptyOperator(task_id=f"task_{t}")
                    if previous is not None:
                        previous >> task
                    previous = task
    dags.append(serialize_dag(big))
    started = time.monotonic()
    with create_session() as session:
        store_parse_result("/bench/dags.py", dags, None, session=session)
    print(f"  DAGs stored in {time.monotonic() - started:.0f} s")
    rng = random.Random(7)
    started = time.monotonic()
    with create_session() as session:
        for day in range(runs):
            trigger_dag_run(
                "bench_grid", logical_date=START + dt.timedelta(days=day), session=session
            )
    # The list's recent runs: five runs on every third DAG, inserted as rows.
    with create_session() as session:
        session.execute(
            insert(models.DagRun),
            [
                {
                    "dag_id": f"bench_{i:04d}",
                    "run_id": f"scheduled__{day}",
                    "logical_date": START + dt.timedelta(days=day),
                    "state": rng.choice(["success", "success", "failed", "running"]),
                    "run_type": "scheduled",
                }
                for i in range(0, dag_count, 3)
                for day in range(5)
            ],
        )
    print(f"  runs created in {time.monotonic() - started:.0f} s")
    with create_session() as session:
        ti = models.TaskInstance
        for group in range(tasks // 10):
            for t in range(10):
                session.execute(
                    update(ti)
                    .where(ti.dag_id == "bench_grid", ti.task_id == f"group_{group}.task_{t}")
                    .values(state=rng.choice(STATES), try_number=1)
                )


def _signed_in(base: str, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    page = client.get("/login/")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = client.post(
        "/login/", data={"csrf_token": token, "username": username, "password": password}
    )
    assert response.status_code == 303, response.text
    return client


def _time(client: httpx.Client, path: str, n: int) -> list[float]:
    for _ in range(3):  # warm caches (serialized DAG, templates)
        assert client.get(path).status_code == 200
    took = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(path)
        took.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    return took


def page_times(requests: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="aerovane-bench-ui-") as tmp:
        os.environ["AEROVANE_HOME"] = str(Path(tmp) / "home")
        os.environ["AEROVANE__CORE__LOAD_EXAMPLES"] = "False"
        if database_url:
            os.environ["AEROVANE__DATABASE__SQL_ALCHEMY_CONN"] = database_url
        from aerovane.config import ensure_home, reload_settings

        reload_settings()
        ensure_home()
        if database_url:
            from sqlalchemy import create_engine, text

            with create_engine(database_url).begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        from aerovane.db.migrate import ensure_default_rows, migrate

        migrate()
        ensure_default_rows()
        started = time.monotonic()
        _populate(1000, 100, 50)
        print(f"populated 1,000 DAGs and a 100 x 50 grid in {time.monotonic() - started:.0f} s")
        from aerovane.auth.passwords import hash_password
        from aerovane.auth.users import create_user
        from aerovane.db.engine import create_session

        with create_session() as session:
            user = create_user(
                username="bench",
                email="bench@example.com",
                first_name="b",
                last_name="b",
                role_names=["Admin"],
                password=None,
                session=session,
            )
            user.password = hash_password("bench-pw")
        from aerovane.api.app import create_app

        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.api.conftest import run_server

        with (
            run_server(create_app()) as url,
            closing(_signed_in(url, "bench", "bench-pw")) as client,
        ):
            for label, path in (
                ("DAG list, 1,000 DAGs, page 1", "/home"),
                ("DAG list, 1,000 DAGs, page 20", "/home?page=20"),
                ("DAG list, search + tag filter", "/home?search=bench_0&tags=team_3"),
                (
                    "grid, 100 runs x 50 tasks (groups collapsed)",
                    "/dags/bench_grid/grid?num_runs=100",
                ),
                (
                    "grid, 100 runs x 50 tasks (all expanded)",
                    "/dags/bench_grid/grid?num_runs=100&"
                    + "&".join(f"expand=group_{g}" for g in range(5)),
                ),
            ):
                print(f"{label:48s} {summary(_time(client, path, requests))}")


LOG_DAG = """
import datetime
from aerovane.authoring import DAG, BashOperator
with DAG("bench_log", schedule=None, start_date=datetime.datetime(2024, 1, 1),
         is_paused_upon_creation=False):
    BashOperator(task_id="talk", bash_command=(
        "sleep 3; for i in $(seq 1 {lines}); do "
        "echo LINE-$i-$(date +%s.%N); sleep 1.5; done"))
"""


def log_latency(lines: int) -> None:
    from playwright.sync_api import sync_playwright

    with standalone(
        {"AEROVANE__CORE__LOAD_EXAMPLES": "False", "AEROVANE__PROXY__ENABLED": "False"},
        dags={"bench_log.py": LOG_DAG.format(lines=lines)},
    ) as sa:
        with httpx.Client(base_url=sa.url + "/api/v1", auth=sa.auth, timeout=60) as api:
            deadline = time.monotonic() + 120
            while api.get("/dags/bench_log").status_code != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError("bench_log was not parsed")
                time.sleep(0.2)
            run_id = api.post("/dags/bench_log/dagRuns", json={}).json()["dag_run_id"]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"]
            )
            page = browser.new_page(base_url=sa.url)
            page.goto("/login/")
            page.fill("#username", "admin")
            page.fill("#password", sa.password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_selector(".account .who")
            page.goto(f"/dags/bench_log/runs/{run_id}/tasks/talk")
            # The page is opened before the task runs: reload until its first try is shown.
            while not page.locator("#log[data-try='1']").count():
                time.sleep(0.5)
                page.reload()
            latencies = []
            for i in range(1, lines + 1):
                log = "document.getElementById('log').textContent"
                found = f"({log}.match(/LINE-{i}-([0-9.]+)/) || [])"
                handle = page.wait_for_function(
                    f"() => {found}[1]",
                    timeout=120_000,
                    polling=20,
                )
                seen = time.time()
                latencies.append(seen - float(handle.json_value()))
            browser.close()
        print(f"{'task log line -> shown in the open page':48s} {summary(latencies)}")
        print(f"{'':48s} (the page polls every 1 s; median {statistics.median(latencies):.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--lines", type=int, default=8)
    parser.add_argument("--database-url")
    parser.add_argument("--skip-log", action="store_true")
    parser.add_argument("--skip-pages", action="store_true")
    args = parser.parse_args()
    if not args.skip_pages:
        page_times(args.requests, args.database_url)
    if not args.skip_log:
        log_latency(args.lines)


if __name__ == "__main__":
    main()

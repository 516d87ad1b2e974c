"""Run the DAG files in `<home>/dags` in a fresh Aerovane standalone and print what happened.

Called by `scripts/airflow-examples` with the home it prepared. Starts `aerovane standalone`
(proxy off, examples off, catchup off so an unpaused DAG adds at most one scheduled run), waits
until every candidate file has either DAGs or an import error (or nothing changes for a while:
files that define no DAG), triggers each DAG once, unpauses it, and waits for the triggered runs
until the deadline. Prints figures, then one line per import error and per failed run.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from aerovane.dag_processing.manager import list_dag_files

_ERROR_LINE = re.compile(r"^\s*(?:\w+\.)*\w*(?:Error|Exception|Exit|Interrupt)\b.*")

#: Example runs that end `failed` on Apache Airflow 2.10.5 itself (read from its source), and
#: why: an Aerovane run failing for the same reason matches Airflow.
FAILS_ON_AIRFLOW = {
    "example_passing_params_via_test_command": "its templates need `airflow dags test` params",
    "read_dataset_event_from_classic": (
        "its template calls Dataset(...), which Airflow's template context does not hold"
    ),
    "tutorial_taskflow_templates": (
        "it renders sql/test.sql, which the 2.10.5 wheel does not ship (only sample.sql and "
        "tutorial_taskflow_template.sql)"
    ),
    "example_bash_decorator": (
        "get_file_stats globs airflow/example_dags/*.py under the working directory: outside "
        "an Airflow source checkout that is nothing, and `stat` without operands exits 1"
    ),
    "example_dag_decorator": "get_ip fetches http://httpbin.org/get (needs internet access)",
    "tutorial_objectstorage": (
        "it fetches opendata.fmi.fi and writes to s3:// (needs internet access, pandas and "
        "the Amazon provider)"
    ),
}
#: Example files that do not import without parts of Airflow that are not its core.
NEEDS_MORE_THAN_CORE = ("No module named 'airflow.example_dags'", "kubernetes")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def error_line(text: str) -> str:
    """The exception line of a traceback or log (its last one), else its last non-empty line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if _ERROR_LINE.match(line) or "Error:" in line or "Exception:" in line:
            return line[:300]
    return lines[-1][:300] if lines else "(no output)"


def get_all(client: httpx.Client, path: str, key: str) -> list[dict]:
    items: list[dict] = []
    while True:
        page = client.get(path, params={"limit": 100, "offset": len(items)})
        page.raise_for_status()
        batch = page.json()[key]
        items += batch
        if len(batch) < 100:
            return items


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("home", type=Path)
    parser.add_argument("--deadline", type=float, default=600, help="seconds to wait for runs")
    args = parser.parse_args()
    home: Path = args.home.resolve()
    dags_folder = home / "dags"
    files = sorted(list_dag_files(dags_folder, include_examples=False))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AEROVANE__", "AIRFLOW__"))}
    env.update(
        AEROVANE_HOME=str(home),
        AEROVANE__CORE__DAGS_FOLDER=str(dags_folder),
        AEROVANE__CORE__LOAD_EXAMPLES="False",
        AEROVANE__SCHEDULER__CATCHUP_BY_DEFAULT="False",
        AEROVANE__PROXY__ENABLED="False",
        AEROVANE__WEBSERVER__WEB_SERVER_PORT=str(port),
        AEROVANE__WEBSERVER__WEB_SERVER_HOST="127.0.0.1",
    )
    env.pop("AEROVANE_TEST_DATABASE_URL", None)
    log = (home / "standalone.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "aerovane", "standalone"], env=env, stdout=log, stderr=log
    )
    try:
        return report(home, files, f"http://127.0.0.1:{port}/api/v1", args.deadline)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def wait_healthy(url: str, home: Path) -> tuple[str, str]:
    deadline = time.monotonic() + 120
    secret = home / "standalone_admin_password.txt"
    while time.monotonic() < deadline:
        try:
            health = httpx.get(f"{url}/health", timeout=2).json()
            if health["scheduler"]["status"] == "healthy" and secret.exists():
                password = secret.read_text().strip()
                if password:
                    return "admin", password
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("the standalone did not become healthy in 120 s (see standalone.log)")


def report(home: Path, files: list[str], url: str, deadline: float) -> int:
    client = httpx.Client(base_url=url, auth=wait_healthy(url, home), timeout=30)
    # Parsing: every file accounted for (DAGs or an import error), or no change for 30 s.
    accounted: set[str] = set()
    quiet_since = time.monotonic()
    parse_deadline = time.monotonic() + 300
    while time.monotonic() < parse_deadline:
        dags = get_all(client, "/dags", "dags")
        errors = get_all(client, "/importErrors", "import_errors")
        now = {d["fileloc"] for d in dags} | {e["filename"] for e in errors}
        if now != accounted:
            accounted, quiet_since = now, time.monotonic()
        if accounted >= set(files) or time.monotonic() - quiet_since > 30:
            break
        time.sleep(1)
    error_files = {e["filename"]: e["stack_trace"] for e in errors}
    dag_ids = sorted(d["dag_id"] for d in dags)

    runs: dict[str, str] = {}
    for dag_id in dag_ids:
        resp = client.post(f"/dags/{dag_id}/dagRuns", json={"conf": {}})
        if resp.status_code == 200:
            runs[dag_id] = resp.json()["dag_run_id"]
        else:
            print(f"trigger {dag_id}: HTTP {resp.status_code} {resp.text[:200]}")
        client.patch(f"/dags/{dag_id}", json={"is_paused": False})

    states: dict[str, str] = {}
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        for dag_id, run_id in runs.items():
            if states.get(dag_id) in ("success", "failed"):
                continue
            states[dag_id] = client.get(f"/dags/{dag_id}/dagRuns/{run_id}").json()["state"]
        if all(states.get(d) in ("success", "failed") for d in runs):
            break
        time.sleep(2)

    root = str(home / "dags") + "/"
    succeeded = [d for d in runs if states.get(d) == "success"]
    print(f"files imported: {len(files) - len(error_files)} / {len(files)}")
    print(f"DAGs: {len(dag_ids)}")
    print(f"runs triggered: {len(runs)}")
    print(f"runs succeeded: {len(succeeded)}")
    print(f"runs failed: {sum(1 for d in runs if states.get(d) == 'failed')}")
    unfinished = [d for d in runs if states.get(d) not in ("success", "failed")]
    print(f"runs unfinished after {deadline:.0f} s: {len(unfinished)}")
    failed = sorted(d for d in runs if states.get(d) == "failed")
    as_on_airflow = [d for d in failed if d in FAILS_ON_AIRFLOW]
    print(f"runs failed as they do on Airflow 2.10.5: {len(as_on_airflow)}")
    print("\nimport errors:")
    for filename, trace in sorted(error_files.items()):
        line = error_line(trace)
        note = " (not Airflow's core)" if any(n in line for n in NEEDS_MORE_THAN_CORE) else ""
        print(f"  {filename.removeprefix(root)}: {line}{note}")
    print("\nfailed runs:")
    for dag_id in failed:
        print(f"  {dag_id}: {first_task_error(client, dag_id, runs[dag_id])}")
        if dag_id in FAILS_ON_AIRFLOW:
            print(f"    fails on Airflow 2.10.5 too: {FAILS_ON_AIRFLOW[dag_id]}")
    # Unpaused DAGs also ran on their schedules meanwhile: say which of those runs failed.
    scheduled = [
        r
        for r in get_all(client, "/dags/~/dagRuns", "dag_runs")
        if r["run_type"] == "scheduled" and r["state"] == "failed"
    ]
    print(f"\nscheduled runs failed: {len(scheduled)}")
    for dag_id in sorted({r["dag_id"] for r in scheduled}):
        latest = max((r for r in scheduled if r["dag_id"] == dag_id), key=lambda r: r["dag_run_id"])
        print(f"  {dag_id}: {first_task_error(client, dag_id, latest['dag_run_id'])}")
        if dag_id in FAILS_ON_AIRFLOW:
            print(f"    fails on Airflow 2.10.5 too: {FAILS_ON_AIRFLOW[dag_id]}")
    if unfinished:
        print("\nunfinished runs:")
        for dag_id in sorted(unfinished):
            print(f"  {dag_id}: {states.get(dag_id)}")
    return 0


def first_task_error(client: httpx.Client, dag_id: str, run_id: str) -> str:
    tis = client.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
    failed = [ti for ti in tis if ti["state"] in ("failed", "upstream_failed")]
    failed.sort(key=lambda ti: (ti["state"] != "failed", ti["end_date"] or ""))
    if not failed:
        return "no failed task ({})".format(
            ", ".join(sorted(f"{ti['task_id']}={ti['state']}" for ti in tis))
        )
    ti = failed[0]
    if ti["state"] != "failed" or not ti["try_number"]:
        return f"{ti['task_id']}: {ti['state']}"
    logs = client.get(
        f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/logs/{ti['try_number']}",
        headers={"Accept": "text/plain"},
    )
    return f"{ti['task_id']}: {error_line(logs.text)}"


if __name__ == "__main__":
    sys.exit(main())

"""How long a live configuration change takes to be in force: PATCH → first request that sees it.

Starts `aerovane api-server --workers N` (each worker runs its own ConfigWatcher) in a temporary
home, then repeatedly switches `api-auth_backends` between deny_all and basic_auth through the
control plane (PATCH with a service account's access token, from the real token endpoint via
google-auth) and times, from the moment the PATCH is sent:
- until the first `GET /api/v1/dags` (basic auth) that sees the change (401 or 200), and
- until 20 requests in a row see it (the change is in force in every worker; requests spread
  over the workers).
The target is < 2 s. With `--proxy-url URL --key-file KEY` it also times triggering
`composer_sample_trigger_response_dag` through a running proxy (`aerovane.client.trigger_dag`)
and until that run succeeds.

Usage: python benchmarks/control.py [--workers N] [--repeats N] [--database-url URL]
                                    [--proxy-url URL --key-file KEY]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import free_port, summary

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
ENV = "projects/aerovane/locations/local/environments/aerovane"
MASK = "config.softwareConfig.airflowConfigOverrides.api-auth_backends"
IN_A_ROW = 20


def _prepare(home: Path, url: str, database_url: str | None) -> tuple[dict[str, str], Path]:
    """Environment for the server; a migrated database, a Viewer user, an admin key file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AEROVANE__", "AIRFLOW__"))}
    env.update(
        AEROVANE_HOME=str(home),
        AEROVANE__CORE__LOAD_EXAMPLES="False",
        AEROVANE__WEBSERVER__BASE_URL=url,
        AEROVANE__IDENTITY__PUBLIC_URL=url,
    )
    if database_url:
        env["AEROVANE__DATABASE__SQL_ALCHEMY_CONN"] = database_url
    os.environ.update(env)
    from aerovane.config import ensure_home, reload_settings

    reload_settings()
    ensure_home()
    from aerovane.auth.users import create_user
    from aerovane.control.access import add_project_binding
    from aerovane.db.engine import create_session
    from aerovane.db.migrate import migrate, reset
    from aerovane.identity import service_accounts as sa

    if database_url:
        reset()
    migrate()
    with create_session() as session:
        create_user(
            username="reader",
            email="reader@example.com",
            first_name="R",
            last_name="-",
            role_names=["Viewer"],
            password="reader-pw",
            session=session,
        )
        account = sa.create_service_account("bench-admin", session=session)
        key = sa.create_key(account.email, session=session).key_file
        add_project_binding(
            "aerovane",
            member=f"serviceAccount:{account.email}",
            role="roles/composer.admin",
            session=session,
        )
    key_path = home / "bench-admin.json"
    key_path.write_text(json.dumps(key))
    return env, key_path


@contextlib.contextmanager
def api_server(env: dict[str, str], port: int, workers: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aerovane",
            "api-server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def access_token(key_path: Path) -> str:
    from google.auth.transport.requests import Request
    from google.oauth2 import service_account

    credentials = service_account.Credentials.from_service_account_file(
        str(key_path), scopes=[CLOUD_PLATFORM]
    )
    credentials.refresh(Request())
    return str(credentials.token)


def time_change(
    control: httpx.Client, api: httpx.Client, backend: str, expect: int
) -> tuple[float, float]:
    """(seconds to the first request that sees it, seconds until IN_A_ROW in a row do)."""
    body = {
        "config": {"softwareConfig": {"airflowConfigOverrides": {"api-auth_backends": backend}}}
    }
    started = time.perf_counter()
    response = control.patch(f"/v1/{ENV}", params={"updateMask": MASK}, json=body)
    response.raise_for_status()
    first = None
    streak = 0
    while streak < IN_A_ROW:
        seen = api.get("/api/v1/dags").status_code == expect
        now = time.perf_counter() - started
        if seen:
            first = now if first is None else first
            streak += 1
        else:
            streak = 0
        if now > 30:
            raise RuntimeError(f"{backend} not in force after 30 s")
    return first or 0.0, time.perf_counter() - started


def measure_trigger_through_proxy(proxy_url: str, key_file: str, repeats: int) -> None:
    """Hook: trigger round trip through the proxy, and trigger → run success (proxy helper)."""
    os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = key_file
    from aerovane.client import make_web_server_request, trigger_dag

    dag_id = "composer_sample_trigger_response_dag"
    round_trips, to_success = [], []
    for i in range(repeats):
        started = time.perf_counter()
        run = json.loads(trigger_dag(proxy_url, dag_id, {"bench": i}))
        round_trips.append(time.perf_counter() - started)
        run_url = f"{proxy_url}/api/v1/dags/{dag_id}/dagRuns/{run['dag_run_id']}"
        while (state := make_web_server_request(run_url).json()["state"]) != "success":
            if state == "failed" or time.perf_counter() - started > 60:
                raise RuntimeError(f"run {run['dag_run_id']} did not succeed in 60 s: {state}")
            time.sleep(0.01)
        to_success.append(time.perf_counter() - started)
    print(f"trigger through the proxy, round trip:  {summary(round_trips)}")
    print(f"trigger through the proxy → success:   {summary(to_success)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--proxy-url", default=None)
    parser.add_argument("--key-file", default=None)
    args = parser.parse_args()
    if args.proxy_url:
        if not args.key_file:
            parser.error("--proxy-url needs --key-file")
        measure_trigger_through_proxy(args.proxy_url, args.key_file, args.repeats)
        return

    with tempfile.TemporaryDirectory(prefix="aerovane-bench-") as tmp:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env, key_path = _prepare(Path(tmp) / "home", url, args.database_url)
        with api_server(env, port, args.workers):
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("api-server did not start")
                time.sleep(0.05)
            token = access_token(key_path)
            headers = {"Authorization": f"Bearer {token}"}
            # A fresh connection per request, so requests spread over the workers.
            limits = httpx.Limits(max_keepalive_connections=0)
            with (
                httpx.Client(base_url=url, headers=headers, timeout=30) as control,
                httpx.Client(
                    base_url=url, auth=("reader", "reader-pw"), timeout=30, limits=limits
                ) as api,
            ):
                firsts, everywhere = [], []
                for _ in range(args.repeats):
                    for backend, expect in (
                        ("airflow.api.auth.backend.deny_all", 401),
                        ("airflow.api.auth.backend.basic_auth", 200),
                    ):
                        first, all_workers = time_change(control, api, backend, expect)
                        firsts.append(first)
                        everywhere.append(all_workers)
        print(f"live config change ({args.workers} API workers, target < 2 s):")
        print(f"  PATCH → first request that sees it:     {summary(firsts)}")
        print(f"  PATCH → {IN_A_ROW} requests in a row see it:   {summary(everywhere)}")
        print(f"  worst case: {max(everywhere):.2f} s")


if __name__ == "__main__":
    main()

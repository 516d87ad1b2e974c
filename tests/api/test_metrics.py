"""`GET /metrics`: request latency by route template and status, readable with `Cluster
Activity` access only."""

from __future__ import annotations

import re

import httpx

from tests.api.conftest import add_dag


def _count(text: str, route: str, status: str, method: str = "GET") -> float:
    pattern = (
        r"^aerovane_api_request_duration_seconds_count\{"
        rf'method="{method}",route="{re.escape(route)}",status="{status}"\}} ([0-9.e+]+)$'
    )
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_latency_by_route_template_and_status(
    client: httpx.Client, base_url: str, admin: httpx.BasicAuth
) -> None:
    add_dag("etl")
    before = client.get(f"{base_url}/metrics", auth=admin)
    assert before.status_code == 200
    assert before.headers["content-type"].startswith("text/plain")
    route = "/api/v1/dags/{dag_id}"
    ok, missing = _count(before.text, route, "200"), _count(before.text, route, "404")
    assert client.get("/dags/etl", auth=admin).status_code == 200
    assert client.get("/dags/nope", auth=admin).status_code == 404
    after = client.get(f"{base_url}/metrics", auth=admin).text
    assert _count(after, route, "200") == ok + 1
    assert _count(after, route, "404") == missing + 1
    # The DAG ids clients sent are not label values.
    assert 'route="/api/v1/dags/etl"' not in after


def test_metrics_need_cluster_activity_access(
    client: httpx.Client, base_url: str, accounts: dict[str, object]
) -> None:
    assert client.get(f"{base_url}/metrics").status_code in (401, 403)
    viewer = accounts["Viewer"]
    assert client.get(f"{base_url}/metrics", auth=viewer.auth).status_code == 200  # type: ignore[attr-defined]
    public = accounts["Public"]
    assert client.get(f"{base_url}/metrics", auth=public.auth).status_code == 403  # type: ignore[attr-defined]

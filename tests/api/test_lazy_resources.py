"""Administrative resources are included on their first request (or for the OpenAPI document),
and route exactly as if they had been there from the start."""

from __future__ import annotations

from pathlib import Path

import httpx

from aerovane.api.app import create_app
from aerovane.api.v1 import LAZY
from tests.api.conftest import run_server


def _paths(app, prefix: str = "") -> set[str]:  # type: ignore[no-untyped-def]
    """Every route path of `app` (or a router), through the routers it includes."""
    paths = set()
    for route in app.routes:
        included = getattr(route, "original_router", None)
        if included is None:
            paths.add(prefix + getattr(route, "path", ""))
        else:
            paths |= _paths(included, prefix + route.include_context.prefix)
    return paths


def test_first_request_includes_only_its_resource(db: Path) -> None:
    app = create_app()
    assert "/api/v1/dags" in _paths(app)
    assert not {"/api/v1/connections", "/api/v1/users", "/api/v1/config"} & _paths(app)
    with run_server(app) as url, httpx.Client(base_url=url) as client:
        # Unauthenticated: the same 401 an eager route gives, after the routes are in.
        assert client.get("/api/v1/connections").status_code == 401
        assert "/api/v1/connections" in _paths(app)
        assert "/api/v1/users" not in _paths(app)
        # A method the resource lacks is still 405, an unknown path under it 404.
        assert client.put("/api/v1/connections", auth=("a", "b")).status_code in (401, 405)
        assert client.get("/api/v1/connectionsX").status_code == 404
        assert client.get("/auth/fab/v1/roles").status_code == 401  # the FAB app, built now
    before = len(app.routes)
    with run_server(app) as url, httpx.Client(base_url=url) as client:
        client.get("/api/v1/connections")
    assert len(app.routes) == before  # included once


def test_openapi_document_includes_everything(db: Path) -> None:
    app = create_app()
    paths = app.openapi()["paths"]
    for _, segments, _ in LAZY:
        assert any(path.startswith(f"/api/v1/{segments[0]}") for path in paths), segments
    with run_server(create_app()) as url:
        served = httpx.get(f"{url}/api/v1/openapi.json").json()["paths"]
    assert set(served) == set(paths)


def test_http_clients_in_tests_wait_generously() -> None:
    """test_openapi_document_includes_everything failed on a busy machine at httpx's default
    5 s; the shared fixture gives every client without its own timeout a generous one."""
    from tests.conftest import HTTP_TIMEOUT_SECONDS

    with httpx.Client() as client:
        assert client.timeout == httpx.Timeout(HTTP_TIMEOUT_SECONDS)
    with httpx.Client(timeout=3) as client:
        assert client.timeout == httpx.Timeout(3)

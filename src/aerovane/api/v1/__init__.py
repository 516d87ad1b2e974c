"""The stable REST API, `/api/v1`: one router per resource, assembled here.

The resources a server needs from its first requests (health, DAGs, runs, task instances with
their XComs and logs, datasets) are included when the app is built. The administrative ones
(users, roles, connections, variables, pools, config, event logs, ...) are included by
`LazyResources` just before the first request under their path, or the OpenAPI document, is
routed: importing them and building FastAPI's validators for their parameters costs start-up
about a tenth of a second that most servers never need back. Routing is the same either way,
since each of them owns its first path segments.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from aerovane.api.deps import bind_log_context, reject_unknown_query_params
from aerovane.api.v1 import (
    dag_runs,
    dags,
    datasets,
    monitoring,
    task_instances,
    task_logs,
    xcom,
)

PREFIX = "/api/v1"

#: The routers included when the app is built, in matching order.
EAGER: tuple[APIRouter, ...] = (
    monitoring.router,
    dags.router,
    dag_runs.router,
    dag_runs.batch_router,
    task_instances.router,
    task_instances.dag_router,
    xcom.router,
    task_logs.router,
    datasets.router,
)

#: Included on first use: module (its `router`), the first path segments it serves, deprecated.
LAZY: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("dag_sources", ("dagSources", "parseDagFile"), False),
    ("dag_stats", ("dagStats",), False),
    ("dag_warnings", ("dagWarnings",), False),
    ("roles", ("roles",), True),
    ("permissions", ("permissions",), True),
    ("users", ("users",), True),
    ("connections", ("connections",), False),
    ("variables", ("variables",), False),
    ("pools", ("pools",), False),
    ("config", ("config",), False),
    ("event_logs", ("eventLogs",), False),
    ("import_errors", ("importErrors",), False),
    ("plugins", ("plugins",), False),
    ("providers", ("providers",), False),
)

#: Requests under these segments need every route (the OpenAPI document and its viewer).
_EVERYTHING = frozenset({"openapi.json", "ui"})


def _include(parent: APIRouter | FastAPI, router: APIRouter, prefix: str, deprecated: bool) -> None:
    # Each router directly: a router nested in another costs FastAPI a level of matching on
    # every request.
    parent.include_router(
        router,
        prefix=prefix,
        dependencies=[Depends(bind_log_context), Depends(reject_unknown_query_params)],
        deprecated=True if deprecated else None,
    )


class LazyResources:
    """The LAZY resources of one app, each included at most once."""

    def __init__(self, app: FastAPI, prefix: str) -> None:
        self._app = app
        self._prefix = prefix
        self._pending = {segment: entry for entry in LAZY for segment in entry[1]}

    def load_for(self, path: str) -> None:
        """Include whatever serves `path` (everything, for the OpenAPI document)."""
        if not self._pending or not path.startswith(self._prefix + "/"):
            return
        segment = path[len(self._prefix) + 1 :].split("/", 1)[0]
        if segment in _EVERYTHING:
            self.load_all()
        elif (entry := self._pending.get(segment)) is not None:
            self._load(entry)

    def load_all(self) -> None:
        for entry in {entry[0]: entry for entry in self._pending.values()}.values():
            self._load(entry)

    def _load(self, entry: tuple[str, tuple[str, ...], bool]) -> None:
        module, segments, deprecated = entry
        router = importlib.import_module(f"{__name__}.{module}").router
        _include(self._app, router, self._prefix, deprecated)
        for segment in segments:
            self._pending.pop(segment, None)
        self._app.openapi_schema = None


class LazyResourcesMiddleware:
    """Outermost ASGI middleware: `LazyResources.load_for` before the request is routed. It
    runs on the event loop, one request at a time, so a resource is never included twice."""

    def __init__(self, app: ASGIApp, resources: LazyResources) -> None:
        self.app = app
        self._resources = resources

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self._resources.load_for(scope["path"])
        await self.app(scope, receive, send)


def include_routers(app: FastAPI, prefix: str = PREFIX) -> LazyResources:
    """Add the EAGER routers to `app` under `prefix` now and the LAZY ones on first use
    (`app.openapi()` includes them all first, so the document is always whole)."""
    for router in EAGER:
        _include(app, router, prefix, deprecated=False)
    resources = LazyResources(app, prefix)
    app.add_middleware(LazyResourcesMiddleware, resources=resources)
    openapi: Callable[[], dict[str, Any]] = app.openapi

    def whole_openapi() -> dict[str, Any]:
        resources.load_all()
        return openapi()

    app.openapi = whole_openapi  # type: ignore[method-assign]
    return resources

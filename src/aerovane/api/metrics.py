"""Prometheus metrics of the API server: request latency by route template and status, and
`GET /metrics` to read them.

Routes are labelled by their template (`/api/v1/dags/{dag_id}/dagRuns`), never by the path a
client sent, so label values stay few whatever clients ask for; a request no route matched is
`<unmatched>`. With several API workers (`[webserver] workers`), `aerovane api-server` points
`PROMETHEUS_MULTIPROC_DIR` at a fresh folder and every worker's samples are merged on read,
so a scrape that lands on any worker sees them all. In `aerovane standalone` (one process) the
same registry holds the scheduler's, triggerer's and proxy's figures (`aerovane.metrics`), so
this endpoint shows them too.

Who may read: callers holding `can_read` on `Cluster Activity` (Admin, Op, User and Viewer in
Airflow's roles), through the API's own auth backends. Not the Public role: request counts per
route and DAG paths reveal activity, and the API behind the proxy is reachable by anyone the
proxy lets through.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, Histogram
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aerovane.metrics.server import exposition

REQUEST_SECONDS = Histogram(
    "aerovane_api_request_duration_seconds",
    "API request latency, by route template and response status.",
    ("method", "route", "status"),
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
UNMATCHED = "<unmatched>"


_PREFIX = "_aerovane_metrics_prefix"


def route_template(scope: Scope) -> str:
    """The matched route's path template with the prefix it was included under."""
    route = scope.get("route")
    path_format = getattr(route, "path_format", None)
    regex = getattr(route, "path_regex", None)
    if not path_format or regex is None:
        return UNMATCHED
    prefix = getattr(route, _PREFIX, None)
    if prefix is None:
        # Included routers keep their routes' own paths: the prefix is the part of the path
        # before the tail the route matched (a fixed string: prefixes hold no parameters here).
        path: str = scope.get("path", "")
        starts = [i for i, ch in enumerate(path) if ch == "/"]
        prefix = next((path[:i] for i in starts if regex.match(path[i:])), "")
        setattr(route, _PREFIX, prefix)
    return prefix + path_format


class RequestMetricsMiddleware:
    """Time every HTTP request from its start to the last byte of its response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            REQUEST_SECONDS.labels(scope["method"], route_template(scope), str(status)).observe(
                time.perf_counter() - started
            )


async def get_metrics() -> Response:
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

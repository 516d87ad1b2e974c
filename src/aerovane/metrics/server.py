"""Prometheus exposition: the samples of this process (merged over the processes sharing
`PROMETHEUS_MULTIPROC_DIR`, when set), and a small HTTP server that answers `GET /metrics`
with them for components that serve no HTTP of their own (scheduler, triggerer, Celery worker).

The server binds `[metrics] prometheus_host` (loopback by default: the figures reveal DAG and
task names, and this port has no authentication); a component's port of 0 means no server.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
    start_http_server,
)

from aerovane.config import ConfigError, Settings

log = logging.getLogger("aerovane.metrics")


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def exposition(prefixes: tuple[str, ...] = ()) -> bytes:
    """All samples in Prometheus' text format, merged over the workers where there are several;
    with `prefixes`, only the metric families whose names start with one of them."""
    registry = _registry()
    if prefixes:
        only = CollectorRegistry(auto_describe=False)
        only.register(_Only(registry, prefixes))
        registry = only
    return generate_latest(registry)


class _Only:
    """The families of `source` whose names start with one of `prefixes`."""

    def __init__(self, source: CollectorRegistry, prefixes: tuple[str, ...]) -> None:
        self.source, self.prefixes = source, prefixes

    def collect(self) -> Iterator[Any]:
        return (f for f in self.source.collect() if f.name.startswith(self.prefixes))


@dataclass
class MetricsServer:
    host: str
    port: int
    _server: Any
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def serve(host: str, port: int, *, setting: str) -> MetricsServer:
    """Serve `/metrics` on host:port from a daemon thread; port 0 is refused by the callers."""
    try:
        server, thread = start_http_server(port, addr=host, registry=_registry())
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on {host}:{port}: {exc.strerror}; set {setting} to a free port "
            "(0 turns it off)"
        ) from None
    bound = server.server_address[1]
    log.info("metrics on http://%s:%s/metrics", host, bound)
    return MetricsServer(host, bound, server, thread)


def serve_component(component: str, settings: Settings) -> MetricsServer | None:
    """`[metrics] <component>_prometheus_port` on `[metrics] prometheus_host`, if not 0."""
    key = f"{component}_prometheus_port"
    port = settings.getint("metrics", key)
    if not port:
        return None
    return serve(settings.getstr("metrics", "prometheus_host"), port, setting=f"[metrics] {key}")

"""Assembling the long-running components into one process.

`aerovane standalone` runs all of them (API server, scheduler, DAG processor, local executor,
triggerer); `aerovane scheduler`, `aerovane triggerer` and `aerovane api-server` run subsets.
The zygote is forked before any thread starts, so task processes are forked from a
single-threaded parent.

With `[proxy] enabled` (the default), standalone serves the identity-aware proxy on the public
port ([webserver] web_server_host:web_server_port), calling the API app in-process, and the API
server itself on [proxy] api_host:api_port (loopback by default) for local scripts. Both are
uvicorn servers on one event loop; SIGINT/SIGTERM stop both.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import gc
import logging
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aerovane.config import ConfigError, ensure_home, get_settings
from aerovane.db.migrate import migrate

log = logging.getLogger("aerovane")


def startup_finished() -> None:
    """Turn the cyclic garbage collector back on (the CLI starts with it off), first moving
    everything start-up made into the permanent generation, where it is never scanned again
    and its pages stay shared with forked processes."""
    gc.freeze()
    gc.enable()


@dataclass
class Plan:
    api: bool = True
    scheduler: bool = True
    dag_processor: bool = True
    triggerer: bool = True
    #: Override of `[triggerer] default_capacity`.
    triggerer_capacity: int | None = None
    host: str | None = None
    port: int | None = None
    #: Serve the public port through the identity-aware proxy; None: `[proxy] enabled`.
    proxy: bool | None = None


class Components:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.settings = ensure_home()
        self.scheduler = None
        self.processor = None
        self.triggerer = None
        self.factory = None
        self.server = None
        self._threads: list[threading.Thread] = []
        self._servers: list[Any] = []
        self.metrics_servers: list[Any] = []
        self._prepared = False
        self.ready = threading.Event()

    def prepare(self) -> None:
        """Everything that must happen before threads exist: migrate, fork the zygote."""
        if self._prepared:
            return
        self._prepared = True
        migrate()
        if self.plan.scheduler or self.plan.dag_processor:
            from aerovane.executors.zygote import ProcessFactory

            self.factory = ProcessFactory()
            self.factory.start()

    def run(self) -> None:
        """Run until SIGINT/SIGTERM; then stop every component and return."""
        self.prepare()
        try:
            # After the zygote fork: task processes must not inherit the listening sockets.
            sockets = self._bind()
        except BaseException:
            self.stop()
            raise
        try:
            self._serve_metrics()
        except BaseException:
            for sock in sockets:
                sock.close()
            self.stop()
            raise
        from aerovane.control.live import start_watcher

        # After the zygote fork: the watcher is a thread. It applies live environment changes
        # (config overrides, IP ranges, env variables) in this process.
        start_watcher()
        from aerovane.scheduler.wakeup import Wakeup

        wakeup = Wakeup() if self.plan.scheduler else None
        if self.plan.scheduler:
            from aerovane.scheduler.job import Scheduler

            self.scheduler = Scheduler(self._executor(wakeup), wakeup=wakeup)  # type: ignore[arg-type]
            try:
                # Here, not in its thread: a second scheduler on SQLite is one clear error.
                self.scheduler.register()
            except BaseException:
                for sock in sockets:
                    sock.close()
                self.stop()
                raise
            self._spawn(self.scheduler.serve, "scheduler")
        if self.plan.dag_processor:
            from aerovane.dag_processing.manager import DagProcessor

            self.processor = DagProcessor(
                self.factory,  # type: ignore[arg-type]
                on_change=wakeup.notify if wakeup else None,
            )
            self._spawn(self.processor.serve, "dag-processor")
        if self.plan.triggerer:
            from aerovane.triggerer.job import Triggerer

            self.triggerer = Triggerer(capacity=self.plan.triggerer_capacity)
            self._spawn(self.triggerer.serve, "triggerer")
        try:
            if self.plan.api:
                self._serve_api(sockets)
            else:
                self._wait_for_signal()
        except KeyboardInterrupt:
            # uvicorn shuts down gracefully on Ctrl-C, then re-raises SIGINT; that is our stop.
            pass
        finally:
            self.stop()

    def _serve_metrics(self) -> None:
        """`/metrics` of the scheduler, triggerer and DAG processor on their `[metrics]
        *_prometheus_port` (off by default). Components in one process share one registry, so
        each of their ports shows all of it; in standalone the API's /metrics does too."""
        from aerovane.metrics.server import serve_component

        for component, wanted in (
            ("scheduler", self.plan.scheduler),
            ("triggerer", self.plan.triggerer),
            ("dag_processor", self.plan.dag_processor),
        ):
            if wanted and (server := serve_component(component, self.settings)) is not None:
                self.metrics_servers.append(server)

    def _executor(self, wakeup: Any) -> Any:
        """`[core] executor`: local processes forked from our zygote, or Celery workers."""
        parallelism = self.settings.getint("core", "parallelism")
        if self.settings.getstr("core", "executor") == "CeleryExecutor":
            from aerovane.executors.celery.executor import CeleryExecutor

            # Its attempts run on other hosts, whose ends cannot reach this host's wake-up
            # socket: a result read from the broker is a state change (decision 0001 note).
            return CeleryExecutor(parallelism=parallelism, on_event=wakeup.notify)
        from aerovane.executors.local import LocalExecutor

        return LocalExecutor(
            parallelism=parallelism,
            factory=self.factory,  # type: ignore[arg-type]
            on_event=wakeup.notify_process_ended,
        )

    def _spawn(self, target: object, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    @property
    def proxied(self) -> bool:
        if self.plan.proxy is not None:
            return self.plan.proxy
        return self.settings.getboolean("proxy", "enabled")

    def _bind(self) -> list[socket.socket]:
        """The listening sockets, bound before any component starts, so a port in use is one
        clear ConfigError rather than uvicorn's traceback after the scheduler has started."""
        if not self.plan.api:
            return []
        host = self.plan.host or self.settings.getstr("webserver", "web_server_host")
        port = (
            self.plan.port
            if self.plan.port is not None
            else self.settings.getint("webserver", "web_server_port")
        )
        sockets = [listen(host, port, "[webserver] web_server_port (or --port)")]
        if self.proxied:
            try:
                sockets.append(
                    listen(
                        self.settings.getstr("proxy", "api_host"),
                        self.settings.getint("proxy", "api_port"),
                        "[proxy] api_port",
                    )
                )
            except ConfigError:
                sockets[0].close()
                raise
        return sockets

    def _serve_api(self, sockets: list[socket.socket]) -> None:
        import uvicorn

        from aerovane.api.app import create_app

        if self.proxied:
            self._serve_proxied(create_app(), sockets)
            return
        config = uvicorn.Config(
            create_app(), log_config=None, log_level="warning", access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self._servers = [self.server]
        self.ready.set()
        startup_finished()
        self.server.run(sockets=sockets)

    def _serve_proxied(self, api: Any, sockets: list[socket.socket]) -> None:
        """The proxy on the public port (API in-process) and the API on [proxy] api_host:port."""
        import uvicorn

        from aerovane.proxy import create_proxy_app

        settings = self.settings
        tls = {
            "ssl_certfile": settings.getstr("proxy", "tls_cert_file") or None,
            "ssl_keyfile": settings.getstr("proxy", "tls_key_file") or None,
        }
        common: dict[str, Any] = {
            "log_config": None,  # ours (`logs.setup`), not uvicorn's
            "log_level": "warning",
            "access_log": False,
            # The allow-list decides whose X-Forwarded-For to believe; uvicorn must not.
            "proxy_headers": False,
        }
        proxy = _supervised_server(
            uvicorn.Config(create_proxy_app(api), lifespan="on", **tls, **common)
        )
        direct = _supervised_server(uvicorn.Config(api, lifespan="on", **common))
        self.server = proxy
        self._servers = [proxy, direct]
        self.ready.set()
        startup_finished()
        asyncio.run(_serve_together(list(zip([proxy, direct], sockets, strict=True))))

    def wait_serving(self, timeout: float) -> bool:
        """Block until every server listens and the scheduler has registered its job (what
        `/health` reports as healthy); False after `timeout` seconds. Watches flags in this
        process: polling our own HTTP port would compete with start-up for the CPU."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            servers_up = all(server.started for server in self._servers)
            scheduler_up = self.scheduler is None or self.scheduler.job_id is not None
            scheduler_up &= self.triggerer is None or self.triggerer.job_id is not None
            if self.ready.is_set() and servers_up and scheduler_up:
                return True
            time.sleep(0.005)
        return False

    def _wait_for_signal(self) -> None:
        startup_finished()
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.ready.set()
        while not stop.wait(0.5):
            if any(not t.is_alive() for t in self._threads):
                log.error("a component stopped unexpectedly; shutting down")
                break

    def stop(self) -> None:
        from aerovane.control.live import stop_watcher

        stop_watcher()
        for service in (self.processor, self.scheduler, self.triggerer):
            if service is not None:
                service.stop()
        previous = {}
        if self.scheduler is not None and threading.current_thread() is threading.main_thread():
            # While the scheduler drains, another SIGINT/SIGTERM stops its tasks at once.
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda *_: self.scheduler.stop())  # type: ignore[union-attr]
        # The scheduler drains for up to its grace period before it stops (`Scheduler._drain`).
        grace = self.settings.getfloat("scheduler", "shutdown_grace_period")
        try:
            for thread in self._threads:
                thread.join(timeout=grace + 30)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self.factory is not None:
            self.factory.stop()
        for server in self.metrics_servers:
            server.stop()
        self.metrics_servers = []


@functools.cache
def _supervised_server_class() -> type[Any]:
    import uvicorn

    class SupervisedServer(uvicorn.Server):
        """A uvicorn server whose signals `_serve_together` handles, for all servers at once."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return SupervisedServer


def _supervised_server(config: Any) -> Any:
    return _supervised_server_class()(config)


async def _serve_together(pairs: list[tuple[Any, socket.socket]]) -> None:
    """Serve every server on its socket until SIGINT/SIGTERM (a second one forces the exit)."""
    loop = asyncio.get_running_loop()
    servers = [server for server, _ in pairs]

    def stop() -> None:
        for server in servers:
            if server.should_exit:
                server.force_exit = True
            server.should_exit = True

    installed = []
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
            installed.append(sig)
    try:
        tasks = [asyncio.ensure_future(server.serve(sockets=[sock])) for server, sock in pairs]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        stop()  # one stopped (or failed to start): stop the others too
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def listen(host: str, port: int, setting: str) -> socket.socket:
    """A socket listening on host:port (as uvicorn binds one), or a ConfigError naming the
    `setting` to change when the address cannot be had (in use, not local, not permitted)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ConfigError(f"{setting}: cannot resolve host {host!r} ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        reason = "is already in use" if exc.errno == errno.EADDRINUSE else f"failed: {exc.strerror}"
        raise ConfigError(
            f"cannot listen on {host}:{port}: the address {reason}; stop what listens there or "
            f"set {setting} to a free port"
        ) from None
    return sock


def api_url() -> str:
    settings = get_settings()
    return settings.base_url

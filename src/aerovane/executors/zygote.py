"""A pre-forked, single-threaded process that forks workers on request.

Starting a fresh interpreter per task attempt costs hundreds of milliseconds of imports. The
zygote is forked from the main process once, before any thread starts, imports what task and
parse processes need (WARM_MODULES), and then forks a child per request: a child is ready in
about a millisecond with everything already imported, shares memory copy-on-write, and still
gets its own process (and process group), so user code cannot crash the scheduler.

Protocol over a socketpair, one JSON object per line.
  parent → zygote: {"op": "spawn", "id", "kind", "payload"} | {"op": "kill", "id", "signal"}
  zygote → parent: {"id", "event": "started", "pid"} | {"id", "event": "exited", "code"}
`code` is the exit status, or -N when the child was killed by signal N. When the parent goes
away (EOF) the zygote terminates its children and exits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: kind → "module:function" run in the child with the payload; its int result is the exit code.
TARGETS: dict[str, str] = {
    "task": "aerovane.runtime.task_runner:run_workload",
    "parse": "aerovane.dag_processing.parse_worker:parse_file",
    "dag_callback": "aerovane.dag_processing.callbacks:run_dag_callback",
}

Message = dict[str, Any]

#: Imported before the zygote is forked, so every child starts with them loaded and their
#: pages stay shared with the parent instead of being imported (30-90 ms) in each child.
WARM_MODULES = (
    "aerovane.runtime.task_runner",
    "aerovane.runtime.task_instance",
    "aerovane.runtime.xcom",
    "aerovane.services.datasets",
    "aerovane.dag_processing.parse_worker",
    "aerovane.dag_processing.importer",
    "aerovane.compat.airflow_shim",
    "aerovane.authoring",
    "aerovane.authoring.context",
    "aerovane.authoring.templating",
    "aerovane.authoring.serialization",
    "aerovane.authoring.macros",
    "jinja2",
    "jinja2.nativetypes",
    "jinja2.sandbox",
    "jsonschema",
    "croniter",
    "aerovane.control.live",
    "jinja2.ext",
    "getpass",
    "pwd",
)


def warm_up() -> None:
    """Import WARM_MODULES and freeze the heap, so children fork warm and share it."""
    import gc
    import importlib

    for name in WARM_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    from aerovane.authoring import templating
    from aerovane.runtime.task_runner import hostname

    templating._environment_classes()
    hostname()
    # Objects that exist now are never collected-and-rewritten by the GC, so the pages that
    # hold them stay shared copy-on-write with every forked process.
    gc.collect()
    gc.freeze()
    gc.enable()  # off during the CLI's start-up; task and parse processes need it


def _prime_database() -> None:
    """Compile task attempts' SQL (see `prime_statement_cache`) in the parent, just before the
    fork: the zygote keeps the parent's engine with its statement cache (but none of its
    connections), so children find every statement compiled and the cache's pages stay shared
    instead of being built again in the zygote (~5 MiB)."""
    from aerovane.runtime.task_runner import prime_statement_cache

    try:
        prime_statement_cache()
    except Exception:  # an unreachable database is the tasks' problem to report, not ours
        log.warning("could not prime the statement cache", exc_info=True)


def _resolve(target: str) -> Callable[[dict[str, Any]], int]:
    import importlib

    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def _child_main(kind: str, payload: dict[str, Any]) -> int:
    os.setsid()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    return int(_resolve(TARGETS[kind])(payload) or 0)


def _signal_child(pid: int, sig: int) -> None:
    """Signal the child's process group; a child that has not yet called setsid() has no group
    of its own (and no children yet), so it is signalled directly instead of being missed."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _serve(sock: socket.socket) -> None:
    """The zygote's loop. Runs in a forked process; never returns."""
    from aerovane.db.engine import forget_connections

    forget_connections()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Warm up here, in the zygote, on its own core, while the parent goes on starting the API
    # server; requests that arrive meanwhile simply wait in the socket.
    warm_up()
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ, "sock")
    children: dict[int, tuple[str, int]] = {}  # pidfd -> (request id, pid)
    pids: dict[str, int] = {}
    buf = b""
    out = sock.makefile("wb", buffering=0)

    def send(msg: Message) -> None:
        with contextlib.suppress(OSError):
            out.write(json.dumps(msg).encode() + b"\n")

    def shutdown() -> None:
        for _, pid in children.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while children and time.monotonic() < deadline:
            for fd, (_, pid) in list(children.items()):
                with contextlib.suppress(ChildProcessError):
                    if os.waitpid(pid, os.WNOHANG)[0]:
                        children.pop(fd)
            time.sleep(0.05)
        for _, pid in children.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        os._exit(0)

    while True:
        for key, _ in selector.select():
            if key.data == "sock":
                chunk = sock.recv(65536)
                if not chunk:
                    shutdown()
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    msg = json.loads(line)
                    if msg["op"] == "spawn":
                        pid = os.fork()
                        if pid == 0:
                            code = 1
                            try:
                                selector.close()
                                for fd in children:
                                    os.close(fd)
                                sock.close()
                                code = _child_main(msg["kind"], msg["payload"])
                            except SystemExit as exc:
                                code = exc.code if isinstance(exc.code, int) else 1
                            except BaseException:  # noqa: BLE001 - report, then exit non-zero
                                import traceback

                                traceback.print_exc()
                            finally:
                                os._exit(code)
                        pidfd = os.pidfd_open(pid)
                        children[pidfd] = (msg["id"], pid)
                        pids[msg["id"]] = pid
                        selector.register(pidfd, selectors.EVENT_READ, "child")
                        send({"id": msg["id"], "event": "started", "pid": pid})
                    elif msg["op"] == "kill":
                        pid = pids.get(msg["id"])
                        if pid is not None:
                            _signal_child(pid, int(msg.get("signal", signal.SIGTERM)))
            else:
                pidfd = key.fd
                request_id, pid = children.pop(pidfd)
                selector.unregister(pidfd)
                os.close(pidfd)
                _, status = os.waitpid(pid, 0)
                pids.pop(request_id, None)
                send(
                    {"id": request_id, "event": "exited", "code": os.waitstatus_to_exitcode(status)}
                )


class Zygote:
    """The parent's handle on the zygote. `start()` must run while the process has one thread."""

    def __init__(self, on_message: Callable[[Message], None]) -> None:
        self._on_message = on_message
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self.pid: int | None = None

    def start(self) -> None:
        if threading.active_count() > 1:
            log.warning("forking the zygote from a multi-threaded process")
        import gc

        _prime_database()
        # Keep the GC from dirtying pages both processes still share. No collection first: on
        # the start-up path it would scan every object imported so far to find a few hundred.
        gc.freeze()
        parent, child = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            parent.close()
            try:
                _serve(child)
            finally:
                os._exit(0)
        child.close()
        self.pid = pid
        self._sock = parent
        self._reader = threading.Thread(target=self._read_loop, name="zygote-reader", daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        return self._sock is not None

    def _read_loop(self) -> None:
        assert self._sock is not None
        reader = self._sock.makefile("rb")
        for line in reader:
            try:
                self._on_message(json.loads(line))
            except Exception:
                log.exception("error handling zygote message")
        log.debug("zygote connection closed")

    def _send(self, msg: Message) -> None:
        if self._sock is None:
            raise RuntimeError("zygote not started")
        data = json.dumps(msg).encode() + b"\n"
        with self._send_lock:
            self._sock.sendall(data)

    def spawn(self, request_id: str, kind: str, payload: dict[str, Any]) -> None:
        self._send({"op": "spawn", "id": request_id, "kind": kind, "payload": payload})

    def kill(self, request_id: str, sig: int = signal.SIGTERM) -> None:
        self._send({"op": "kill", "id": request_id, "signal": int(sig)})

    def stop(self, timeout: float = 15.0) -> None:
        """Close the channel; the zygote terminates its children and exits."""
        if self._sock is None:
            return
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)
        if self.pid is not None:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                with contextlib.suppress(ChildProcessError):
                    if os.waitpid(self.pid, os.WNOHANG)[0]:
                        break
                time.sleep(0.02)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(self.pid, 0)
        if self._reader is not None:
            self._reader.join(timeout=2)
        self._sock.close()
        self._sock = None


class ProcessFactory:
    """Request ids, callbacks and bookkeeping on top of a Zygote, shared by executor and parser."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: dict[str, Callable[[Message], None]] = {}
        self._counter = 0
        self.zygote = Zygote(self._dispatch)

    def start(self) -> None:
        self.zygote.start()

    def stop(self, timeout: float = 15.0) -> None:
        self.zygote.stop(timeout)

    def _dispatch(self, msg: Message) -> None:
        with self._lock:
            callback = self._callbacks.get(msg["id"])
            if msg.get("event") == "exited":
                self._callbacks.pop(msg["id"], None)
        if callback is not None:
            callback(msg)

    def spawn(self, kind: str, payload: dict[str, Any], callback: Callable[[Message], None]) -> str:
        with self._lock:
            self._counter += 1
            request_id = f"{kind}-{self._counter}"
            self._callbacks[request_id] = callback
        self.zygote.spawn(request_id, kind, payload)
        return request_id

    def kill(self, request_id: str, sig: int = signal.SIGTERM) -> None:
        self.zygote.kill(request_id, sig)

"""A worker's log server: `GET /log/<path>` answers the task log file under this host's
`[logging] base_log_folder` to whoever presents a token for that very file (`log_tokens`).

Airflow's `serve_logs` on `[logging] worker_log_server_port`. Anything else is 403 (bad or
missing token, a path that leaves the log folder) or 404; nothing is ever listed.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

from aerovane.config import get_settings
from aerovane.services import log_tokens

log = logging.getLogger("aerovane.celery")


class _Handler(BaseHTTPRequestHandler):
    base: Path

    def do_GET(self) -> None:
        if not self.path.startswith("/log/"):
            self._answer(404, b"not found\n")
            return
        filename = unquote(self.path[len("/log/") :].split("?", 1)[0])
        token = self.headers.get("Authorization", "")
        if not log_tokens.allows(token, filename):
            self._answer(403, b"forbidden\n")
            return
        path = (self.base / filename).resolve()
        if not path.is_relative_to(self.base):
            self._answer(403, b"forbidden\n")
            return
        try:
            data = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            self._answer(404, b"not found\n")
            return
        self._answer(200, data)

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("log server: " + format, *args)


class LogServer:
    def __init__(self, *, port: int, host: str = "") -> None:
        base = get_settings().base_log_folder.resolve()
        handler = type("LogHandler", (_Handler,), {"base": base})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread: threading.Thread | None = None
        if not get_settings().getstr("webserver", "secret_key"):
            log.warning("[webserver] secret_key is empty: the log server refuses every request")

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="log-server", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

"""A real SMTP server on a free local port (aiosmtpd) that keeps the messages it receives."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from typing import Any


@dataclass
class SmtpSink:
    port: int
    messages: list[tuple[str, list[str], Message]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (
                envelope.mail_from,
                list(envelope.rcpt_tos),
                email.message_from_bytes(envelope.original_content),
            )
        )
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_sink(*, user: str | None = None, password: str | None = None) -> Iterator[SmtpSink]:
    """Serve SMTP on 127.0.0.1; with `user`/`password`, accept only that login (no TLS)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    sink = SmtpSink(port=_free_port())

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == user
            and data.password.decode() == password
        )
        if ok:
            sink.logins.append(str(user))
        return AuthResult(success=ok)

    extra: dict[str, Any] = {}
    if user is not None:
        extra = {"authenticator": authenticator, "auth_require_tls": False}
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, **extra)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()

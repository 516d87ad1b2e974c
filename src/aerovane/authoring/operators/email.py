"""`EmailOperator`: send a (templated) HTML mail through the `[smtp]` server."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from aerovane.authoring.baseoperator import BaseOperator
from aerovane.authoring.email import send_email

__all__ = ["EmailOperator"]


class EmailOperator(BaseOperator):
    """Sends `html_content` to `to` (plus `cc`/`bcc`), attaching `files`, as Airflow 2 does."""

    template_fields: ClassVar[tuple[str, ...]] = ("to", "subject", "html_content", "files")
    template_fields_renderers: ClassVar[dict[str, str]] = {"html_content": "html"}
    template_ext: ClassVar[tuple[str, ...]] = (".html",)
    ui_color: ClassVar[str] = "#e6faf9"

    def __init__(
        self,
        *,
        to: str | Iterable[str],
        subject: str,
        html_content: str,
        files: list[str] | None = None,
        cc: str | Iterable[str] | None = None,
        bcc: str | Iterable[str] | None = None,
        mime_subtype: str = "mixed",
        mime_charset: str = "utf-8",
        conn_id: str | None = None,
        custom_headers: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.to = to
        self.subject = subject
        self.html_content = html_content
        self.files = files or []
        self.cc = cc
        self.bcc = bcc
        self.mime_subtype = mime_subtype
        self.mime_charset = mime_charset
        self.conn_id = conn_id
        self.custom_headers = custom_headers

    def execute(self, context: Mapping[str, Any]) -> None:
        send_email(
            self.to,
            self.subject,
            self.html_content,
            files=self.files,
            cc=self.cc,
            bcc=self.bcc,
            mime_subtype=self.mime_subtype,
            mime_charset=self.mime_charset,
            conn_id=self.conn_id,
            custom_headers=self.custom_headers,
        )

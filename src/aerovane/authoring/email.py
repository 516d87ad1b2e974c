"""Sending mail over SMTP with the `[smtp]` settings: `send_email` as Airflow 2's
`airflow.utils.email` offers it, used by `EmailOperator` and by failure/retry alerts.

Only SMTP is supported (Airflow's default backend). The password is read from the settings and
never logged.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
from collections.abc import Iterable, Mapping
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate
from typing import Any

__all__ = ["build_mime_message", "get_email_address_list", "send_email", "send_email_smtp"]

log = logging.getLogger(__name__)


def get_email_address_list(addresses: str | Iterable[str]) -> list[str]:
    """ "a@x, b@y;c@z" or a list of them → a flat list of addresses."""
    if isinstance(addresses, str):
        return [a.strip() for a in re.split(r"[,;]", addresses) if a.strip()]
    if isinstance(addresses, Iterable):
        found: list[str] = []
        for item in addresses:
            if not isinstance(item, str):
                raise TypeError(f"Unexpected argument type: Received '{type(item).__name__}'.")
            found.extend(get_email_address_list(item))
        return found
    raise TypeError(f"Unexpected argument type: Received '{type(addresses).__name__}'.")


def build_mime_message(
    mail_from: str | None,
    to: str | Iterable[str],
    subject: str,
    html_content: str,
    files: list[str] | None = None,
    cc: str | Iterable[str] | None = None,
    mime_subtype: str = "mixed",
    mime_charset: str = "utf-8",
    custom_headers: Mapping[str, Any] | None = None,
) -> tuple[MIMEMultipart, list[str]]:
    """The message and its recipients (to + cc; bcc is added by the caller)."""
    to_list = get_email_address_list(to)
    msg = MIMEMultipart(mime_subtype)
    msg["Subject"] = subject
    if mail_from:
        msg["From"] = mail_from
    msg["To"] = ", ".join(to_list)
    recipients = list(to_list)
    if cc:
        cc_list = get_email_address_list(cc)
        msg["CC"] = ", ".join(cc_list)
        recipients += cc_list
    msg["Date"] = formatdate(localtime=True)
    msg.attach(MIMEText(html_content, "html", mime_charset))
    for path in files or ():
        basename = os.path.basename(path)
        with open(path, "rb") as file:
            part = MIMEApplication(file.read(), Name=basename)
        part["Content-Disposition"] = f'attachment; filename="{basename}"'
        part["Content-ID"] = f"<{basename}>"
        msg.attach(part)
    for header, value in (custom_headers or {}).items():
        msg[header] = value
    return msg, recipients


def send_email(
    to: str | Iterable[str],
    subject: str,
    html_content: str,
    files: list[str] | None = None,
    dryrun: bool = False,
    cc: str | Iterable[str] | None = None,
    bcc: str | Iterable[str] | None = None,
    mime_subtype: str = "mixed",
    mime_charset: str = "utf-8",
    conn_id: str | None = None,
    custom_headers: Mapping[str, Any] | None = None,
    from_email: str | None = None,
    **kwargs: Any,
) -> None:
    """Send an HTML mail (with optional attachments) through the configured SMTP server."""
    send_email_smtp(
        to,
        subject,
        html_content,
        files=files,
        dryrun=dryrun,
        cc=cc,
        bcc=bcc,
        mime_subtype=mime_subtype,
        mime_charset=mime_charset,
        custom_headers=custom_headers,
        from_email=from_email,
        conn_id=conn_id or "smtp_default",
    )


def send_email_smtp(
    to: str | Iterable[str],
    subject: str,
    html_content: str,
    files: list[str] | None = None,
    dryrun: bool = False,
    cc: str | Iterable[str] | None = None,
    bcc: str | Iterable[str] | None = None,
    mime_subtype: str = "mixed",
    mime_charset: str = "utf-8",
    custom_headers: Mapping[str, Any] | None = None,
    from_email: str | None = None,
    conn_id: str = "smtp_default",
    **kwargs: Any,
) -> None:
    from aerovane.config import get_settings

    settings = get_settings()
    mail_from = from_email or settings.getstr("smtp", "smtp_mail_from")
    msg, recipients = build_mime_message(
        mail_from, to, subject, html_content, files, cc, mime_subtype, mime_charset, custom_headers
    )
    if bcc:
        recipients += get_email_address_list(bcc)
    if not recipients:
        raise ValueError("send_email needs at least one recipient")
    if not dryrun:
        send_mime_email(mail_from, recipients, msg, conn_id=conn_id)


def _credentials(conn_id: str | None, settings: Any) -> tuple[str, str]:
    """Login and password: the connection `conn_id`'s if it exists and has a login (Airflow's
    way), else `[smtp] smtp_user` / `smtp_password`."""
    from aerovane.authoring.exceptions import AerovaneNotFoundException
    from aerovane.authoring.variables import Connection

    if conn_id:
        try:
            conn = Connection.get_connection_from_secrets(conn_id)
        except AerovaneNotFoundException:
            pass
        except Exception as exc:  # noqa: BLE001 - e.g. no metadata database here
            log.warning("Could not read connection %s (%s); using [smtp] settings", conn_id, exc)
        else:
            if conn.login:
                return conn.login, conn.password or ""
    return settings.getstr("smtp", "smtp_user"), settings.getstr("smtp", "smtp_password")


def send_mime_email(
    mail_from: str, recipients: list[str], msg: MIMEMultipart, conn_id: str = "smtp_default"
) -> None:
    """Deliver `msg`, reconnecting up to `smtp_retry_limit` times if the server drops us."""
    from aerovane.config import get_settings

    settings = get_settings()
    host = settings.getstr("smtp", "smtp_host")
    port = settings.getint("smtp", "smtp_port")
    user, password = _credentials(conn_id, settings)
    retry_limit = settings.getint("smtp", "smtp_retry_limit")
    for attempt in range(1, retry_limit + 2):
        try:
            smtp = _connect(host, port, settings)
        except smtplib.SMTPServerDisconnected:
            if attempt > retry_limit:
                raise
            log.warning("SMTP server %s:%s disconnected; retrying (%d)", host, port, attempt)
            continue
        try:
            if settings.getboolean("smtp", "smtp_starttls") and not settings.getboolean(
                "smtp", "smtp_ssl"
            ):
                smtp.starttls(context=ssl.create_default_context())
            if user and password:
                smtp.login(user, password)
            smtp.sendmail(mail_from, recipients, msg.as_string())
            log.info("Sent an email to %s via %s:%s", recipients, host, port)
        finally:
            smtp.quit()
        return


def _connect(host: str, port: int, settings: Any) -> smtplib.SMTP:
    timeout = settings.getint("smtp", "smtp_timeout")
    if settings.getboolean("smtp", "smtp_ssl"):
        return smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    return smtplib.SMTP(host, port, timeout=timeout)

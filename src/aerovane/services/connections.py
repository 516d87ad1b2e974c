"""Connections: create, update, delete, show without secrets, and test.

Passwords and extras are encrypted at rest (`aerovane.db.crypto`). What callers may show is
`public_extra`: the decrypted extra with sensitive keys redacted; the password is never shown.
`check_connection` checks only what Aerovane can check without provider hooks (HTTP(S),
PostgreSQL, SQLite); it touches no database session.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aerovane.db import models
from aerovane.db.crypto import DecryptionError, decrypt, encrypt
from aerovane.services.errors import AlreadyExists, BadRequest, NotFound
from aerovane.services.redaction import MASK, redact

log = logging.getLogger(__name__)

MAX_ID_LENGTH = 250
#: Airflow's `validate_key` pattern: letters, digits, underscores, dashes and dots.
_KEY_PATTERN = re.compile(r"^[\w.-]+$")
#: Fields a caller may set; `conn_id` only on creation.
FIELDS = ("conn_type", "description", "host", "schema", "login", "password", "port", "extra")
TEST_TIMEOUT = 2.0
TEST_OK = "Connection successfully tested"


def validate_conn_id(conn_id: str) -> None:
    if len(conn_id) > MAX_ID_LENGTH:
        raise BadRequest(f"The key has to be less than {MAX_ID_LENGTH} characters")
    if not _KEY_PATTERN.match(conn_id):
        raise BadRequest(
            f"The key {conn_id!r} has to be made of alphanumeric characters, dashes, "
            "dots and underscores exclusively"
        )


def _not_found(conn_id: str) -> NotFound:
    return NotFound(f"The Connection with connection_id: `{conn_id}` was not found")


def get_connection(conn_id: str, *, session: Session) -> models.Connection:
    row = session.scalar(select(models.Connection).where(models.Connection.conn_id == conn_id))
    if row is None:
        raise _not_found(conn_id)
    return row


def _assign(row: models.Connection, values: Mapping[str, Any]) -> None:
    for name, value in values.items():
        if name not in FIELDS:
            raise BadRequest(f"'{name}' is unknown or cannot be updated.")
        if name == "password":
            row.password, row.is_encrypted = (None, False) if value is None else encrypt(value)
        elif name == "extra":
            row.extra, row.is_extra_encrypted = (None, False) if value is None else encrypt(value)
        else:
            setattr(row, name, value)


def create_connection(
    conn_id: str, values: Mapping[str, Any], *, session: Session
) -> models.Connection:
    validate_conn_id(conn_id)
    exists = session.scalar(
        select(models.Connection.id).where(models.Connection.conn_id == conn_id)
    )
    if exists is not None:
        raise AlreadyExists(f"Connection already exist. ID: {conn_id}")
    row = models.Connection(conn_id=conn_id)
    _assign(row, values)
    session.add(row)
    session.flush()
    return row


def update_connection(
    conn_id: str,
    values: Mapping[str, Any],
    *,
    update_mask: list[str] | None = None,
    session: Session,
) -> models.Connection:
    """Apply `values` (only the `update_mask` fields when one is given); the id is immutable."""
    row = get_connection(conn_id, session=session)
    changes = dict(values)
    new_id = changes.pop("conn_id", None)
    if new_id and new_id != row.conn_id:
        raise BadRequest("The connection_id cannot be updated.")
    if update_mask:
        masked: dict[str, Any] = {}
        for field in update_mask:
            if field not in changes:
                raise BadRequest(f"'{field}' is unknown or cannot be updated.")
            masked[field] = changes[field]
        changes = masked
    _assign(row, changes)
    session.flush()
    return row


def delete_connection(conn_id: str, *, session: Session) -> None:
    session.delete(get_connection(conn_id, session=session))
    session.flush()


def parse_uri(uri: str) -> dict[str, Any]:
    """Connection fields from an Airflow connection URI (`type://login:pass@host:port/schema?x=1`,
    `http://https://host` for a host with its own scheme, `?__extra__=<json>` for nested extras).
    """
    if uri.count("://") > 2 or "://" not in uri:
        raise BadRequest(f"The URI provided is invalid: {uri}")
    parts = urlsplit(uri)
    conn_type = parts.scheme.replace("-", "_")
    if not conn_type:
        raise BadRequest(f"The URI provided is invalid: {uri}")
    protocol = None
    if uri.count("://") == 2:
        protocol, rest = uri.split("://", 1)[1].split("://", 1)
        parts = urlsplit(f"{conn_type}://{rest}")
    try:
        port = parts.port
    except ValueError:
        raise BadRequest(f"The URI provided has an invalid port: {uri}") from None
    host = unquote(parts.hostname or "")
    if protocol:
        host = f"{protocol}://{host}"
    values: dict[str, Any] = {
        "conn_type": conn_type,
        "host": host or None,
        "schema": unquote(parts.path[1:]) or None,
        "login": unquote(parts.username) if parts.username is not None else None,
        "password": unquote(parts.password) if parts.password is not None else None,
        "port": port,
        "extra": None,
    }
    if parts.query:
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        values["extra"] = query["__extra__"] if "__extra__" in query else json.dumps(query)
    return values


def list_connections(*, session: Session) -> list[models.Connection]:
    """Every connection, by id (the CLI's `connections list/export`)."""
    return list(session.scalars(select(models.Connection).order_by(models.Connection.conn_id)))


def revealed(row: Any) -> tuple[str | None, str | None]:
    """(password, extra) decrypted: only for what Airflow's CLI prints (get, list, export)."""
    return (
        _decrypted(row.password, row.is_encrypted, f"password of connection {row.conn_id!r}"),
        _decrypted(row.extra, row.is_extra_encrypted, f"extra of connection {row.conn_id!r}"),
    )


def _decrypted(stored: str | None, encrypted: bool, what: str) -> str | None:
    if stored is None:
        return None
    try:
        return decrypt(stored, encrypted)
    except DecryptionError as exc:
        log.error("cannot decrypt %s: %s", what, exc)
        return None


def public_extra(row: Any) -> str | None:
    """The extra as callers may see it: JSON with sensitive keys redacted to `"***"` (text that
    is not JSON cannot be redacted field by field and is shown as stored, as in Airflow)."""
    extra = _decrypted(row.extra, row.is_extra_encrypted, f"extra of connection {row.conn_id!r}")
    if extra is None:
        return None
    try:
        parsed = json.loads(extra)
    except ValueError:
        return extra
    return json.dumps(redact(parsed))


# -- testing ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectionSpec:
    """An unsaved connection to test."""

    conn_type: str
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = None
    port: int | None = None
    extra: str | None = None


def _test_http(spec: ConnectionSpec, default_scheme: str) -> tuple[bool, str]:
    import httpx  # only connection tests need an HTTP client; the API server starts without it

    host = spec.host or ""
    url = host if "://" in host else f"{spec.schema or default_scheme}://{host}"
    if spec.port:
        url = f"{url}:{spec.port}"
    auth = (spec.login, spec.password or "") if spec.login else None
    try:
        response = httpx.head(url, auth=auth, timeout=TEST_TIMEOUT)
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        return False, str(exc) or type(exc).__name__
    if response.status_code >= 400:
        return False, f"{response.status_code}:{response.reason_phrase}"
    return True, TEST_OK


def _test_postgres(spec: ConnectionSpec) -> tuple[bool, str]:
    import psycopg

    try:
        with psycopg.connect(
            host=spec.host or None,
            port=spec.port or None,
            user=spec.login or None,
            password=spec.password or None,
            dbname=spec.schema or None,
            connect_timeout=int(TEST_TIMEOUT),
        ) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return False, str(exc).strip()
    return True, TEST_OK


def _test_sqlite(spec: ConnectionSpec) -> tuple[bool, str]:
    path = spec.host or ""
    if not path:
        return False, "No database file given (set the connection's host to its path)"
    try:
        conn = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=TEST_TIMEOUT)
        try:
            conn.execute("PRAGMA schema_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return False, str(exc)
    return True, TEST_OK


def check_connection(spec: ConnectionSpec) -> tuple[bool, str]:
    """(status, message) of trying `spec`; types Aerovane cannot test say so."""
    conn_type = spec.conn_type.strip().lower()
    if conn_type in ("http", "https"):
        return _test_http(spec, conn_type)
    if conn_type in ("postgres", "postgresql"):
        return _test_postgres(spec)
    if conn_type == "sqlite":
        return _test_sqlite(spec)
    return False, f"Testing connections of type {spec.conn_type} is not supported by Aerovane"


def audit_mask(body: dict[str, Any]) -> dict[str, Any]:
    """A request body fit for the audit log: the JSON `extra` redacted field by field (text
    that is not JSON is dropped, as Airflow does); the password is hidden by its name."""
    extra = body.get("extra")
    if not isinstance(extra, str):
        return body
    try:
        shown: Any = redact(json.loads(extra))
    except ValueError:
        shown = "Encountered non-JSON in `extra` field"
    return {**body, "extra": shown}


def connections_page(
    *, offset: int, limit: int, search: str = "", session: Session
) -> tuple[list[models.Connection], int]:
    """A page of connections by id, and how many there are (`search`: part of the id)."""
    query = select(models.Connection)
    if search:
        query = query.where(func.lower(models.Connection.conn_id).contains(search.lower()))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(models.Connection.conn_id).offset(offset).limit(limit))
    return list(rows), int(total)


def merge_masked_extra(row: Any, submitted: str) -> str:
    """The extra to store when a form that showed `public_extra(row)` is saved: the stored
    extra if it comes back unchanged; otherwise the submitted JSON with every top-level `"***"`
    put back to the stored value of that key (secrets are never shown, so never re-typed)."""
    shown = public_extra(row)
    if shown is not None and submitted.strip() == shown.strip():
        return _decrypted(row.extra, row.is_extra_encrypted, "extra") or ""
    try:
        parsed = json.loads(submitted)
        stored = json.loads(_decrypted(row.extra, row.is_extra_encrypted, "extra") or "{}")
    except ValueError:
        return submitted
    if not isinstance(parsed, dict) or not isinstance(stored, dict):
        return submitted
    for key, value in parsed.items():
        if value == MASK and key in stored:
            parsed[key] = stored[key]
    return json.dumps(parsed)

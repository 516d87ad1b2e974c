"""Variables and connections, decrypted, for task code and templates (`var.value`, `conn`).

Each call uses its own short session: these run inside user code, which owns no session.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from aerovane.db import models
from aerovane.db.crypto import decrypt, encrypt
from aerovane.db.engine import create_session


def get_variable(key: str) -> str | None:
    with create_session(readonly=True) as session:
        row = session.scalar(select(models.Variable).where(models.Variable.key == key))
        if row is None or row.val is None:
            return None if row is None else ""
        return decrypt(row.val, row.is_encrypted)


def set_variable(key: str, value: str, description: str | None = None) -> None:
    stored, encrypted = encrypt(value)
    with create_session() as session:
        row = session.scalar(select(models.Variable).where(models.Variable.key == key))
        if row is None:
            row = models.Variable(key=key)
            session.add(row)
        row.val, row.is_encrypted = stored, encrypted
        if description is not None:
            row.description = description


def connection_to_dict(row: models.Connection) -> dict[str, Any]:
    return {
        "conn_id": row.conn_id,
        "conn_type": row.conn_type,
        "description": row.description,
        "host": row.host,
        "schema": row.schema,
        "login": row.login,
        "password": decrypt(row.password, row.is_encrypted) if row.password else row.password,
        "port": row.port,
        "extra": decrypt(row.extra, row.is_extra_encrypted) if row.extra else row.extra,
    }


def get_connection(conn_id: str) -> dict[str, Any] | None:
    with create_session(readonly=True) as session:
        row = session.scalar(select(models.Connection).where(models.Connection.conn_id == conn_id))
        return None if row is None else connection_to_dict(row)

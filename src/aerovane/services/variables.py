"""Variables: create (or replace), update, delete, and show with secrets masked.

Values are encrypted at rest (`aerovane.db.crypto`). `shown_value` is what callers may see:
the decrypted value, or `"***"` when the key looks sensitive (Airflow's secrets-masker rule).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aerovane.db import models
from aerovane.db.crypto import DecryptionError, decrypt, encrypt
from aerovane.services.errors import BadRequest, NotFound
from aerovane.services.redaction import MASK, is_sensitive_key

log = logging.getLogger(__name__)

MAX_KEY_LENGTH = 250
#: Fields an update may change (the key cannot change).
UPDATABLE = ("value", "description")


def validate_key(key: str) -> None:
    if not key:
        raise BadRequest("The key must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise BadRequest(f"The key has to be less than {MAX_KEY_LENGTH} characters")


def get_variable(key: str, *, session: Session) -> models.Variable:
    row = session.scalar(select(models.Variable).where(models.Variable.key == key))
    if row is None:
        raise NotFound("Variable does not exist")
    return row


def list_variables(*, session: Session) -> list[models.Variable]:
    """Every variable, by key (the CLI's `variables list/export`; the API pages its own)."""
    return list(session.scalars(select(models.Variable).order_by(models.Variable.key)))


def stored_value(row: Any) -> str | None:
    """The decrypted value, unmasked: for an operator at the CLI, as Airflow's `Variable.get`."""
    if row.val is None:
        return None
    return decrypt(row.val, row.is_encrypted)


def _store(row: models.Variable, value: str) -> None:
    row.val, row.is_encrypted = encrypt(value)


def set_variable(
    key: str, value: str, *, description: str | None = None, session: Session
) -> models.Variable:
    """Create the variable, or replace the value and description of an existing one (POST in
    Airflow is an upsert)."""
    validate_key(key)
    row = session.scalar(select(models.Variable).where(models.Variable.key == key))
    if row is None:
        row = models.Variable(key=key)
        session.add(row)
    _store(row, value)
    row.description = description
    session.flush()
    return row


def update_variable(
    key: str,
    values: dict[str, Any],
    *,
    update_mask: list[str] | None = None,
    session: Session,
) -> models.Variable:
    """Apply `values` (`value`, `description`); with a mask, only the named fields."""
    row = get_variable(key, session=session)
    changes = {name: value for name, value in values.items() if name != "key"}
    if update_mask:
        masked: dict[str, Any] = {}
        for field in update_mask:
            if field not in UPDATABLE or field not in changes:
                raise BadRequest(f"'{field}' is unknown or cannot be updated.")
            masked[field] = changes[field]
        changes = masked
    for name, value in changes.items():
        if name == "value":
            _store(row, value)
        elif name == "description":
            row.description = value
        else:
            raise BadRequest(f"'{name}' is unknown or cannot be updated.")
    session.flush()
    return row


def delete_variable(key: str, *, session: Session) -> None:
    session.delete(get_variable(key, session=session))
    session.flush()


def shown_value(row: Any) -> str | None:
    """The value as callers may see it: masked for sensitive keys; None if undecryptable."""
    if is_sensitive_key(row.key):
        return MASK
    if row.val is None:
        return None
    try:
        return decrypt(row.val, row.is_encrypted)
    except DecryptionError as exc:
        log.error("cannot decrypt variable %r: %s", row.key, exc)
        return None


def audit_mask(body: dict[str, Any]) -> dict[str, Any]:
    """A request body fit for the audit log: the value hidden unless the body names a key
    that is not sensitive."""
    key = body.get("key")
    if "value" in body and (not isinstance(key, str) or is_sensitive_key(key)):
        return {**body, "value": MASK}
    return body


def variables_page(
    *, offset: int, limit: int, search: str = "", session: Session
) -> tuple[list[models.Variable], int]:
    """A page of variables by key, and how many there are (`search`: part of the key)."""
    query = select(models.Variable)
    if search:
        query = query.where(func.lower(models.Variable.key).contains(search.lower()))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(models.Variable.key).offset(offset).limit(limit))
    return list(rows), int(total)

"""Re-encrypting stored secrets with the first `[core] fernet_key` (`rotate-fernet-key`).

Airflow's rotation: set `fernet_key` to `new_key,old_key`, run the rotation, then drop the old
key. Every encrypted value (connection passwords and extras, variables, signing keys) is
decrypted with whichever key opens it and encrypted again with the first one.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from aerovane.db import models
from aerovane.db.crypto import get_fernet
from aerovane.services.errors import BadRequest


def rotate_fernet_key(*, session: Session) -> dict[str, int]:
    """Re-encrypt every encrypted secret with the first key; counts per kind."""
    fernet = get_fernet()
    if fernet is None:
        raise BadRequest("[core] fernet_key is empty: there is no key to rotate to")

    def rotate(token: str) -> str:
        return fernet.rotate(token.encode()).decode()

    counts = {"connection": 0, "variable": 0, "signing_key": 0}
    for conn in session.scalars(
        select(models.Connection).where(
            models.Connection.is_encrypted | models.Connection.is_extra_encrypted
        )
    ):
        if conn.is_encrypted and conn.password:
            conn.password = rotate(conn.password)
        if conn.is_extra_encrypted and conn.extra:
            conn.extra = rotate(conn.extra)
        counts["connection"] += 1
    for variable in session.scalars(select(models.Variable).where(models.Variable.is_encrypted)):
        if variable.val:
            variable.val = rotate(variable.val)
        counts["variable"] += 1
    for key in session.scalars(select(models.SigningKey).where(models.SigningKey.is_encrypted)):
        key.private_key = rotate(key.private_key)
        counts["signing_key"] += 1
    return counts

"""Audit rows for what callers do through the control plane (the `log` table, as the REST API
writes them), owned by the caller's IAM member. Secrets never go in: command parameters are
stored redacted."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from aerovane.db import models

UPDATE = "composer.environments.update"
EXECUTE = "composer.environments.executeAirflowCommand"
STOP = "composer.environments.stopAirflowCommand"


def record(event: str, member: str, extra: dict[str, Any], *, session: Session) -> None:
    session.add(models.EventLog(event=event, owner=member, extra=json.dumps(extra, default=str)))

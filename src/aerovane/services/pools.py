"""Pools: create, update, delete, and how many slots task instances use in each.

A pool with `slots = -1` is unlimited (the scheduler never holds tasks back for it); its open
slots are reported as -1 too. `default_pool` can be resized but never renamed or deleted.
Slot usage counts `pool_slots` of task instances by state, for a whole page in one query.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aerovane.db import models
from aerovane.services.errors import AlreadyExists, BadRequest, NotFound
from aerovane.states import TaskState

DEFAULT_POOL = "default_pool"
MAX_NAME_LENGTH = 256
UNLIMITED = -1
FIELDS = ("name", "slots", "description", "include_deferred")
_REQUIRED = ("name", "slots")
#: Fields `default_pool` may change while its body names another pool.
_DEFAULT_POOL_MUTABLE = frozenset({"slots", "include_deferred"})
_COUNTED = (
    TaskState.RUNNING.value,
    TaskState.QUEUED.value,
    TaskState.SCHEDULED.value,
    TaskState.DEFERRED.value,
)


@dataclass(frozen=True, slots=True)
class SlotUsage:
    running: int = 0
    queued: int = 0
    scheduled: int = 0
    deferred: int = 0

    def occupied(self, include_deferred: bool) -> int:
        return self.running + self.queued + (self.deferred if include_deferred else 0)

    def open(self, slots: int, include_deferred: bool) -> int:
        if slots == UNLIMITED:
            return UNLIMITED
        return slots - self.occupied(include_deferred)


def slot_usage(pool_names: Iterable[str], *, session: Session) -> dict[str, SlotUsage]:
    """Slots used per pool by running, queued, scheduled and deferred task instances."""
    names = sorted(set(pool_names))
    if not names:
        return {}
    ti = models.TaskInstance
    query = (
        select(ti.pool, ti.state, func.sum(ti.pool_slots))
        .where(ti.pool.in_(names), ti.state.in_(_COUNTED))
        .group_by(ti.pool, ti.state)
    )
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for pool, state, used in session.execute(query):
        counts[pool][state] = int(used or 0)
    return {pool: SlotUsage(**by_state) for pool, by_state in counts.items()}


def _check_fields(values: Mapping[str, Any]) -> None:
    for name in ("name", "slots", "include_deferred"):
        if name in values and values[name] is None:
            raise BadRequest(f"{{'{name}': ['Field may not be null.']}}")
    name = values.get("name")
    if name is not None and not 0 < len(name) <= MAX_NAME_LENGTH:
        raise BadRequest(f"The pool name must have 1 to {MAX_NAME_LENGTH} characters")
    slots = values.get("slots")
    if slots is not None and slots < UNLIMITED:
        raise BadRequest("Slots must be -1 (unlimited) or a number of 0 or more")


def _missing_required(values: Mapping[str, Any]) -> None:
    missing = [name for name in _REQUIRED if name not in values]
    if missing:
        raise BadRequest(f"Missing required property(ies): {sorted(missing)}")


def _not_found(name: str) -> NotFound:
    return NotFound(f"Pool with name:'{name}' not found")


def _ensure_free(name: str, *, session: Session) -> None:
    if session.scalar(select(models.Pool.id).where(models.Pool.pool == name)) is not None:
        raise AlreadyExists(f"Pool: {name} already exists")


def get_pool(name: str, *, session: Session) -> models.Pool:
    row = session.scalar(select(models.Pool).where(models.Pool.pool == name))
    if row is None:
        raise _not_found(name)
    return row


def list_pools(*, session: Session) -> list[models.Pool]:
    """Every pool, by name (the CLI's `pools list/export`)."""
    return list(session.scalars(select(models.Pool).order_by(models.Pool.pool)))


def _apply(row: models.Pool, values: Mapping[str, Any]) -> None:
    for field, value in values.items():
        if field == "name":
            row.pool = value
        elif field == "description":
            row.description = value
        elif field == "slots":
            row.slots = value
        elif field == "include_deferred":
            row.include_deferred = bool(value)


def create_pool(values: Mapping[str, Any], *, session: Session) -> models.Pool:
    _missing_required(values)
    _check_fields(values)
    _ensure_free(values["name"], session=session)
    row = models.Pool(include_deferred=False)
    _apply(row, values)
    session.add(row)
    session.flush()
    return row


def update_pool(
    name: str,
    values: Mapping[str, Any],
    *,
    update_mask: list[str] | None = None,
    session: Session,
) -> models.Pool:
    """Airflow's rules: with a mask only its fields change (each must be in the body); without
    one, `name` and `slots` are required. `default_pool` keeps its name."""
    mask = [field.strip() for field in update_mask or [] if field.strip()]
    renames_default = name == DEFAULT_POOL and "name" in values and values["name"] != DEFAULT_POOL
    if renames_default and not (mask and set(mask) <= _DEFAULT_POOL_MUTABLE):
        raise BadRequest("Default Pool's name can't be modified")
    row = get_pool(name, session=session)
    _check_fields(values)
    if mask:
        for field in mask:
            if field not in FIELDS:
                raise BadRequest(f"Invalid field: {field} in update mask")
            if field not in values:
                raise BadRequest(f"'{field}' is in the update mask but not in the request body")
        changes = {field: values[field] for field in mask}
    else:
        _missing_required(values)
        changes = dict(values)
    new_name = changes.get("name")
    if new_name is not None and new_name != row.pool:
        _ensure_free(new_name, session=session)
    _apply(row, changes)
    session.flush()
    return row


def delete_pool(name: str, *, session: Session) -> None:
    if name == DEFAULT_POOL:
        raise BadRequest("Default Pool can't be deleted")
    session.delete(get_pool(name, session=session))
    session.flush()


def pools_page(*, offset: int, limit: int, session: Session) -> tuple[list[models.Pool], int]:
    """A page of pools by name, and how many there are."""
    total = session.scalar(select(func.count()).select_from(models.Pool)) or 0
    rows = session.scalars(
        select(models.Pool).order_by(models.Pool.pool).offset(offset).limit(limit)
    )
    return list(rows), int(total)

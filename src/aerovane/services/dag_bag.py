"""Serialized DAGs from the database, deserialized once per version and cached.

The scheduler and the API only ever see DAGs through here, never by importing user code.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from aerovane.db import models

if TYPE_CHECKING:
    from aerovane.authoring.serialization import SerializedDAG

_MAX = 512
_lock = threading.Lock()
_cache: OrderedDict[str, tuple[str, SerializedDAG]] = OrderedDict()


def get_serialized_dag(dag_id: str, *, session: Session) -> SerializedDAG | None:
    """The current serialized form of `dag_id`, or None if it was never parsed."""
    dag_hash = session.scalar(
        select(models.SerializedDagModel.dag_hash).where(models.SerializedDagModel.dag_id == dag_id)
    )
    if dag_hash is None:
        return None
    return serialized_dag_version(dag_id, dag_hash, session=session)


def serialized_dag_version(dag_id: str, dag_hash: str, *, session: Session) -> SerializedDAG | None:
    """`get_serialized_dag` for a caller that already read the current `dag_hash`."""
    from aerovane.authoring.serialization import SerializedDAG

    with _lock:
        hit = _cache.get(dag_id)
        if hit is not None and hit[0] == dag_hash:
            _cache.move_to_end(dag_id)
            return hit[1]
    row = session.execute(
        select(models.SerializedDagModel.data, models.SerializedDagModel.dag_hash).where(
            models.SerializedDagModel.dag_id == dag_id
        )
    ).first()
    if row is None:
        return None
    dag = SerializedDAG.from_dict(row.data)
    with _lock:
        _cache[dag_id] = (row.dag_hash, dag)
        _cache.move_to_end(dag_id)
        while len(_cache) > _MAX:
            _cache.popitem(last=False)
    return dag

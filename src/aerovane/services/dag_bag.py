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
    from aerovane.authoring.serialization import SerializedDAG

    dag_hash = session.scalar(
        select(models.SerializedDagModel.dag_hash).where(models.SerializedDagModel.dag_id == dag_id)
    )
    if dag_hash is None:
        return None
    with _lock:
        hit = _cache.get(dag_id)
        if hit is not None and hit[0] == dag_hash:
            _cache.move_to_end(dag_id)
            return hit[1]
    data = session.scalar(
        select(models.SerializedDagModel.data).where(models.SerializedDagModel.dag_id == dag_id)
    )
    if data is None:
        return None
    dag = SerializedDAG.from_dict(data)
    with _lock:
        _cache[dag_id] = (dag_hash, dag)
        _cache.move_to_end(dag_id)
        while len(_cache) > _MAX:
            _cache.popitem(last=False)
    return dag

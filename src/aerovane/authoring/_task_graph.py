"""The read-only task-graph view shared by `DAG` (user code) and `SerializedDAG` (the
scheduler's and API's copy): tasks, ids, roots, leaves, lookup."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from aerovane.authoring.exceptions import AerovaneNotFoundException

T = TypeVar("T")


class TaskGraphView(Generic[T]):
    """Needs `dag_id` and `task_dict: dict[str, T]`, where each T has upstream/downstream ids."""

    dag_id: str
    task_dict: dict[str, T]

    @property
    def tasks(self) -> list[T]:
        return list(self.task_dict.values())

    @property
    def task_ids(self) -> list[str]:
        return list(self.task_dict)

    @property
    def roots(self) -> list[T]:
        return [t for t in self.task_dict.values() if not _ids(t, "upstream_task_ids")]

    @property
    def leaves(self) -> list[T]:
        return [t for t in self.task_dict.values() if not _ids(t, "downstream_task_ids")]

    def get_task(self, task_id: str) -> T:
        try:
            return self.task_dict[task_id]
        except KeyError:
            raise AerovaneNotFoundException(
                f"Task {task_id} not found in DAG {self.dag_id}"
            ) from None

    def has_task(self, task_id: str) -> bool:
        return task_id in self.task_dict


def _ids(task: Any, attr: str) -> Any:
    return getattr(task, attr)

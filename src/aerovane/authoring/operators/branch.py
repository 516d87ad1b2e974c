"""Branching: follow some direct downstream tasks of a task and skip the others.

`BranchMixIn` owns the choice-to-skips logic shared by every branching operator
(`BranchPythonOperator`, `BranchDayOfWeekOperator`, `BranchDateTimeOperator`,
`LatestOnlyOperator`); `BaseBranchOperator` is Airflow's base for custom ones, which implement
`choose_branch(context)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aerovane.authoring.baseoperator import BaseOperator
from aerovane.authoring.exceptions import AerovaneException

__all__ = ["BaseBranchOperator", "BranchMixIn"]


class BranchMixIn:
    """For operators: skip the direct downstream tasks not on the chosen branch(es)."""

    def do_branch(
        self: Any, context: Mapping[str, Any], branches: str | Iterable[str] | None
    ) -> Any:
        self.log.info("Branch into %s", branches)
        self.skip_all_except(context, branches)
        return branches

    def skip_all_except(
        self: Any, context: Mapping[str, Any], branch_task_ids: str | Iterable[str] | None
    ) -> None:
        """Tasks downstream of a chosen branch are never skipped, even when also direct
        downstream tasks of this one (the "join" of an empty branch)."""
        dag = self.dag
        if dag is None:
            raise AerovaneException(f"Task {self.task_id!r} must belong to a DAG to branch")
        if branch_task_ids is None:
            chosen: set[str] = set()
        elif isinstance(branch_task_ids, str):
            chosen = {branch_task_ids}
        else:
            chosen = set(branch_task_ids)
        invalid_types = [b for b in chosen if not isinstance(b, str)]
        if invalid_types:
            raise AerovaneException(
                "'branch_task_ids' expected all task IDs are strings. "
                f"Invalid tasks found: {[(b, type(b).__name__) for b in invalid_types]}."
            )
        unknown = sorted(b for b in chosen if b not in dag.task_dict)
        if unknown:
            raise AerovaneException(
                "'branch_task_ids' must contain only valid task_ids. "
                f"Invalid tasks found: {unknown}."
            )
        follow = set(chosen)
        for task_id in chosen:
            follow.update(dag.task_dict[task_id].get_flat_relative_ids(upstream=False))
        to_skip = [
            task_id
            for task_id in dag.task_dict
            if task_id in self.downstream_task_ids and task_id not in follow
        ]
        self.log.info("Following branch %s; skipping %s", sorted(chosen), to_skip)
        self.skip(context, to_skip)


class BaseBranchOperator(BaseOperator, BranchMixIn):
    """Subclasses return the task id(s) to follow from `choose_branch(context)`."""

    def choose_branch(self, context: Mapping[str, Any]) -> str | Iterable[str] | None:
        raise NotImplementedError(f"{type(self).__name__} must implement choose_branch(context)")

    def execute(self, context: Mapping[str, Any]) -> Any:
        return self.do_branch(context, self.choose_branch(context))

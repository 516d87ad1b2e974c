"""`with setup_task >> teardown_task:` — the tasks built inside the block run between them.

On leaving the block, the work created in it gets the block's setups upstream of its roots and
the block's teardowns downstream of its leaves, as Airflow's setup/teardown context manager
wires them; a nested block's setup ends up after the outer setup and its teardown before the
outer teardown. The setups of a teardown (and the teardowns of a setup) are its direct
setup/teardown neighbours.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aerovane.authoring.exceptions import AerovaneException

if TYPE_CHECKING:
    from aerovane.authoring.baseoperator import BaseOperator

__all__ = ["enter_scope", "exit_scope"]

#: (the operator the block was entered with, how many tasks its DAG had then).
_scopes: list[tuple[BaseOperator, int]] = []


def enter_scope(operator: BaseOperator) -> None:
    if not (operator.is_setup or operator.is_teardown):
        raise AerovaneException("Only setup/teardown tasks can be used as context managers.")
    dag = operator.dag
    if dag is None:
        raise AerovaneException(f"{operator!r} must be in a DAG to be used as a context manager")
    _scopes.append((operator, len(dag.task_dict)))


def exit_scope(*, wire: bool = True) -> None:
    """Leave the innermost block; `wire=False` (the block raised) only forgets it."""
    operator, before = _scopes.pop()
    if not wire:
        return
    dag = operator.dag
    assert dag is not None
    tasks = dag.task_dict
    if operator.is_teardown:
        teardowns = [operator]
        setups = [tasks[u] for u in sorted(operator.upstream_task_ids) if tasks[u].is_setup]
    else:
        setups = [operator]
        teardowns = [tasks[d] for d in sorted(operator.downstream_task_ids) if tasks[d].is_teardown]
    scope = {id(t) for t in (*setups, *teardowns)}
    created = [t for t in list(tasks.values())[before:] if id(t) not in scope]
    roots = [t for t in created if not t.is_teardown and not t.upstream_task_ids]
    leaves = [t for t in created if not t.is_setup and not t.downstream_task_ids]
    for setup in setups:
        if roots:
            setup.set_downstream(roots)
    for teardown in teardowns:
        if leaves:
            teardown.set_upstream(leaves)

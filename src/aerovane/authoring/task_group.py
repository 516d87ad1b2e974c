"""Task groups: named, nestable sets of a DAG's tasks (Airflow 2's `TaskGroup`, `@task_group`).

A group prefixes its tasks' ids (`group.task`, unless `prefix_group_id=False`), feeds its
`default_args` to the operators built inside it, and stands at either end of an edge: an edge
into a group attaches to its roots, one out of it leaves from its leaves (teardowns excluded, as
Airflow does). Every DAG has a root group (`group_id=None`). `serialize_task_group` and
`SerializedTaskGroup` carry the tree to the scheduler and the API unchanged.
"""

from __future__ import annotations

import functools
import re
import types
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from aerovane.authoring.dependencies import DependencyMixin, Relatives
from aerovane.authoring.exceptions import AerovaneDagError

if TYPE_CHECKING:
    from aerovane.authoring.baseoperator import BaseOperator
    from aerovane.authoring.dag import DAG

__all__ = [
    "SerializedTaskGroup",
    "TaskGroup",
    "current_task_group",
    "serialize_task_group",
    "task_group",
]

_GROUP_KEY_RE = re.compile(r"[\w-]+")
_SUFFIX_RE = re.compile(r"__\d+$")

#: Innermost `with TaskGroup(...)` last.
_group_stack: list[TaskGroup] = []


def current_task_group(dag: DAG | None) -> TaskGroup | None:
    """The innermost active group of `dag`, else its root group (None without a DAG)."""
    if dag is None:
        return None
    for group in reversed(_group_stack):
        if group.dag is dag:
            return group
    return dag.task_group


class TaskGroup(DependencyMixin):
    """A collection of tasks; `>>`/`<<` on a group apply to its roots/leaves."""

    def __init__(
        self,
        group_id: str | None,
        prefix_group_id: bool = True,
        parent_group: TaskGroup | None = None,
        dag: DAG | None = None,
        default_args: Mapping[str, Any] | None = None,
        tooltip: str = "",
        ui_color: str = "CornflowerBlue",
        ui_fgcolor: str = "#000",
        add_suffix_on_collision: bool = False,
        group_display_name: str = "",
    ) -> None:
        from aerovane.authoring.dag import current_dag

        self.prefix_group_id = prefix_group_id
        self.default_args: dict[str, Any] = dict(default_args or {})
        self.tooltip = tooltip
        self.ui_color = ui_color
        self.ui_fgcolor = ui_fgcolor
        self.children: dict[str, BaseOperator | TaskGroup] = {}
        self.parent_group: TaskGroup | None = None
        #: Ids of groups/tasks outside this group that are wired to it as a whole (Airflow's
        #: bookkeeping for the graph view).
        self.upstream_group_ids: set[str | None] = set()
        self.downstream_group_ids: set[str | None] = set()
        self.upstream_task_ids: set[str] = set()
        self.downstream_task_ids: set[str] = set()
        dag = dag or (parent_group.dag if parent_group is not None else current_dag())

        if group_id is None:
            if parent_group is not None:
                raise AerovaneDagError("Root TaskGroup cannot have parent_group")
            self.used_group_ids: set[str | None] = set()
            self.dag = dag
            self._group_id: str | None = None
            self.group_display_name = group_display_name
            return

        if not isinstance(group_id, str) or not group_id:
            raise AerovaneDagError(f"group_id must be a non-empty string, got {group_id!r}")
        if prefix_group_id and not _GROUP_KEY_RE.fullmatch(group_id):
            raise AerovaneDagError(
                f"The group_id {group_id!r} has to be made of alphanumeric characters, dashes "
                "and underscores exclusively"
            )
        if parent_group is None and dag is None:
            raise AerovaneDagError("TaskGroup can only be used inside a dag")
        parent_group = parent_group or current_task_group(dag)
        assert parent_group is not None
        if dag is not parent_group.dag:
            raise AerovaneDagError(
                f"Cannot mix TaskGroups from different DAGs: {dag!r} and {parent_group.dag!r}"
            )
        self.dag = dag
        self.used_group_ids = parent_group.used_group_ids
        self._group_id = group_id
        self.group_display_name = group_display_name or group_id
        self.parent_group = parent_group
        self._check_collision(add_suffix_on_collision)
        parent_group.add(self)
        if parent_group.default_args:
            self.default_args = {**parent_group.default_args, **self.default_args}
        self.used_group_ids.add(self.group_id)

    def _check_collision(self, add_suffix: bool) -> None:
        """Same id twice: an error, or (for `@task_group`) the next `__N` suffix."""
        own = self._group_id
        assert own is not None
        if self._qualified(own) not in self.used_group_ids:
            return
        if not add_suffix:
            raise AerovaneDagError(f"group_id {own!r} has already been added to the DAG")
        base = _SUFFIX_RE.split(own)[0]
        pattern = re.compile(rf"{re.escape(self._qualified(base))}__(\d+)")
        suffixes = [
            int(m.group(1))
            for used in self.used_group_ids
            if used is not None and (m := pattern.fullmatch(used)) is not None
        ]
        self._group_id = f"{base}__{max(suffixes, default=0) + 1}"

    def _qualified(self, label: str) -> str:
        parent = self.parent_group
        return parent.child_id(label) if parent is not None else label

    @classmethod
    def create_root(cls, dag: DAG) -> TaskGroup:
        return cls(group_id=None, dag=dag)

    # -- identity -----------------------------------------------------------------------------

    @property
    def group_id(self) -> str | None:
        """The full id: the parent's prefix (if it prefixes) and this group's label."""
        parent = self.parent_group
        if parent is not None and parent.prefix_group_id and parent._group_id:
            return parent.child_id(self._group_id)
        return self._group_id

    @property
    def node_id(self) -> str | None:
        return self.group_id

    @property
    def label(self) -> str | None:
        """The group id without its parents' prefix."""
        return self._group_id

    @property
    def is_root(self) -> bool:
        return not self.group_id

    def child_id(self, label: str) -> str:
        """`label` prefixed with this group's id when the group prefixes its children."""
        if self.prefix_group_id:
            group_id = self.group_id
            if group_id:
                return f"{group_id}.{label}"
        return label

    # -- membership ---------------------------------------------------------------------------

    def add(self, node: BaseOperator | TaskGroup) -> None:
        """Make `node` (a task or a new group) a child of this group."""
        key = node.node_id if isinstance(node, TaskGroup) else node.task_id
        if isinstance(node, TaskGroup):
            node.parent_group = self
            key = node.group_id
        else:
            existing = node.task_group
            if existing is not None and existing is not self:
                raise AerovaneDagError(
                    f"Task {key!r} is already in task group {existing.group_id!r}; "
                    f"it cannot be added to {self.group_id!r}"
                )
            node.task_group = self
        assert key is not None
        current = self.children.get(key)
        if current is node:
            return
        if current is not None:
            kind = "Task Group" if isinstance(node, TaskGroup) else "Task"
            raise AerovaneDagError(f"{kind} id {key!r} has already been added to the DAG")
        self.children[key] = node

    def __iter__(self) -> Iterator[BaseOperator]:
        """The group's tasks, nested groups' tasks included, in the order they were added."""
        for child in self.children.values():
            if isinstance(child, TaskGroup):
                yield from child
            else:
                yield child

    def has_task(self, task: BaseOperator) -> bool:
        return any(t is task for t in self)

    def get_task_group_dict(self) -> dict[str | None, TaskGroup]:
        """Every group in this subtree, this one included, by full group id."""
        found: dict[str | None, TaskGroup] = {self.group_id: self}
        for child in self.children.values():
            if isinstance(child, TaskGroup):
                found.update(child.get_task_group_dict())
        return found

    def get_child_by_label(self, label: str) -> BaseOperator | TaskGroup:
        return self.children[self.child_id(label)]

    # -- edges --------------------------------------------------------------------------------

    @property
    def roots(self) -> list[BaseOperator]:
        """Tasks of the group with no upstream task inside the group."""
        tasks = list(self)
        ids = {t.task_id for t in tasks}
        return [t for t in tasks if t.upstream_task_ids.isdisjoint(ids)]

    @property
    def leaves(self) -> list[BaseOperator]:
        """Tasks of the group with no downstream task inside it; a teardown is replaced by the
        work it tears down after (Airflow's `get_leaves`), so `group >> next` waits for the
        work, not for the cleanup."""
        tasks = list(self)
        ids = {t.task_id for t in tasks}
        by_id = {t.task_id: t for t in tasks}

        def has_work_downstream(task: BaseOperator, exclude: str) -> bool:
            return any(
                d != exclude and d in ids and not by_id[d].is_teardown
                for d in task.downstream_task_ids
            )

        def before_teardown(task: BaseOperator) -> Iterator[BaseOperator]:
            for up_id in task.upstream_task_ids:
                up = by_id.get(up_id)
                if up is None:
                    continue
                if up.is_teardown:
                    yield from before_teardown(up)
                elif task.is_teardown and up.is_setup:
                    continue
                elif not has_work_downstream(up, exclude=task.task_id):
                    yield up

        found: dict[str, BaseOperator] = {}
        for task in tasks:
            if task.downstream_task_ids.isdisjoint(ids):
                for leaf in before_teardown(task) if task.is_teardown else (task,):
                    found.setdefault(leaf.task_id, leaf)
        return list(found.values())

    def update_relative(self, other: Any, *, upstream: bool) -> None:
        """Record a whole-group edge to `other` (a group or tasks) for the graph view."""
        if isinstance(other, TaskGroup):
            parent, child = (self, other) if upstream else (other, self)
            parent.upstream_group_ids.add(child.group_id)
            child.downstream_group_ids.add(parent.group_id)
            return
        for task in getattr(other, "roots", ()):
            (self.upstream_task_ids if upstream else self.downstream_task_ids).add(task.task_id)

    def _set_relatives(self, other: Relatives, *, upstream: bool) -> None:
        items = [other] if isinstance(other, DependencyMixin) else list(other)
        for item in items:
            self.update_relative(item, upstream=upstream)
        if upstream:
            for task in self.roots:
                task.set_upstream(items)
        else:
            for task in self.leaves:
                task.set_downstream(items)

    def set_upstream(self, other: Relatives) -> None:
        self._set_relatives(other, upstream=True)

    def set_downstream(self, other: Relatives) -> None:
        self._set_relatives(other, upstream=False)

    # -- context manager ----------------------------------------------------------------------

    def __enter__(self) -> TaskGroup:
        _group_stack.append(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _group_stack.pop()

    def __repr__(self) -> str:
        return f"<TaskGroup: {self.group_id}>"


def task_group(python_callable: Callable[..., Any] | None = None, **tg_kwargs: Any) -> Any:
    """`@task_group`: calling the function builds its tasks inside a new group.

    The group id defaults to the function's name; a second call gets `name__1`, as Airflow
    does. The call returns what the function returned (so edges bind to that task), or the
    group when it returned nothing.
    """

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def build(*args: Any, **kwargs: Any) -> Any:
            options = {"group_id": function.__name__, **tg_kwargs}
            with TaskGroup(add_suffix_on_collision=True, **options) as group:
                if function.__doc__ and not group.tooltip:
                    group.tooltip = function.__doc__
                result = function(*args, **kwargs)
            return group if result is None else result

        def override(**more: Any) -> Callable[..., Any]:
            return task_group(function, **{**tg_kwargs, **more})

        def expand_with(fixed: dict[str, Any], mapped: dict[str, Any]) -> Any:
            """A mapped task group: each task in it maps over `mapped`, index by index."""
            from aerovane.authoring.mapping import map_group

            options = {"group_id": function.__name__, **tg_kwargs}
            with TaskGroup(add_suffix_on_collision=True, **options) as group:
                result = map_group(group, function, fixed, mapped)
            return group if result is None else result

        build.override = override  # type: ignore[attr-defined]
        build.expand = lambda **mapped: expand_with({}, mapped)  # type: ignore[attr-defined]
        build.partial = lambda **fixed: types.SimpleNamespace(  # type: ignore[attr-defined]
            expand=lambda **mapped: expand_with(fixed, mapped)
        )
        return build

    if python_callable is not None:
        return decorate(python_callable)
    return decorate


# -- serialization ----------------------------------------------------------------------------


def serialize_task_group(group: TaskGroup) -> dict[str, Any]:
    """The group tree as JSON-safe data, in Airflow's shape (`children`: id → [kind, value])."""
    children: dict[str, Any] = {}
    for key, child in group.children.items():
        if isinstance(child, TaskGroup):
            children[key] = ["taskgroup", serialize_task_group(child)]
        else:
            children[key] = ["operator", child.task_id]
    return {
        "_group_id": group.label,
        "group_display_name": group.group_display_name,
        "prefix_group_id": group.prefix_group_id,
        "tooltip": group.tooltip,
        "ui_color": group.ui_color,
        "ui_fgcolor": group.ui_fgcolor,
        "children": children,
        "upstream_group_ids": sorted(g for g in group.upstream_group_ids if g is not None),
        "downstream_group_ids": sorted(g for g in group.downstream_group_ids if g is not None),
        "upstream_task_ids": sorted(group.upstream_task_ids),
        "downstream_task_ids": sorted(group.downstream_task_ids),
    }


class SerializedTaskGroup:
    """Read-only group tree rebuilt from `serialize_task_group` output."""

    def __init__(self, data: Mapping[str, Any], parent: SerializedTaskGroup | None = None) -> None:
        self.label: str | None = data.get("_group_id")
        self.parent_group = parent
        self.prefix_group_id: bool = data.get("prefix_group_id", True)
        self.group_display_name: str = data.get("group_display_name") or (self.label or "")
        self.tooltip: str = data.get("tooltip", "")
        self.ui_color: str = data.get("ui_color", "CornflowerBlue")
        self.ui_fgcolor: str = data.get("ui_fgcolor", "#000")
        self.upstream_group_ids = set(data.get("upstream_group_ids", ()))
        self.downstream_group_ids = set(data.get("downstream_group_ids", ()))
        self.upstream_task_ids = set(data.get("upstream_task_ids", ()))
        self.downstream_task_ids = set(data.get("downstream_task_ids", ()))
        #: Child id → a task id (str) or a nested group.
        self.children: dict[str, str | SerializedTaskGroup] = {}
        for key, (kind, value) in (data.get("children") or {}).items():
            self.children[key] = SerializedTaskGroup(value, self) if kind == "taskgroup" else value

    @property
    def group_id(self) -> str | None:
        parent = self.parent_group
        if parent is not None and parent.prefix_group_id and parent.label:
            return f"{parent.group_id}.{self.label}"
        return self.label

    def task_ids(self) -> list[str]:
        """Ids of the group's tasks, nested groups' included."""
        found: list[str] = []
        for child in self.children.values():
            found.extend(child.task_ids() if isinstance(child, SerializedTaskGroup) else [child])
        return found

    def get_task_group_dict(self) -> dict[str | None, SerializedTaskGroup]:
        found: dict[str | None, SerializedTaskGroup] = {self.group_id: self}
        for child in self.children.values():
            if isinstance(child, SerializedTaskGroup):
                found.update(child.get_task_group_dict())
        return found

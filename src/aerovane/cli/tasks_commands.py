"""`aerovane tasks`: Airflow 2's `airflow tasks` list, state, states-for-dag-run, clear,
render, failed-deps and test. Reads go through `services`; only `render` and `test` load the
DAG file (in this process, as Airflow does)."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import sys
from typing import Any

import click

from aerovane.cli.output import emit, output_option

_SUBDIR_HELP = (
    "File location or directory from which to look for the dag (default: [core] dags_folder)."
)


@click.group("tasks")
def tasks() -> None:
    """Manage tasks."""


@tasks.command("test")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("logical_date", required=False)
@click.option("-c", "--conf", default=None, help="JSON object for dag_run.conf.")
@click.option(
    "-t", "--task-params", default=None, help="JSON object of params for this task (as -t)."
)
@click.option("-n", "--dry-run", is_flag=True, help="Only render the template fields.")
@click.option("-S", "--subdir", default=None, help=_SUBDIR_HELP)
def test(
    dag_id: str,
    task_id: str,
    logical_date: str | None,
    conf: str | None,
    task_params: str | None,
    dry_run: bool,
    subdir: str | None,
) -> None:
    """Run one task in this process without dependencies, recording nothing.

    As Airflow's `tasks test`: no state, XCom or run is written to the database; XComs the
    task pushes live in memory for the command's duration."""
    from aerovane.authoring.exceptions import ParamValidationError
    from aerovane.cli.dags_commands import parse_conf, parse_date
    from aerovane.runtime.dag_test import DagNotFound, load_dag
    from aerovane.runtime.task_log import MaskedStream
    from aerovane.runtime.task_runner import LOG_FORMAT
    from aerovane.runtime.test_mode import run_task_in_process

    conf_obj = parse_conf(conf)
    params_obj = parse_conf(task_params, option="-t/--task-params")
    out = MaskedStream(sys.stdout)  # the task's secrets stay off the terminal, as in its log
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=out)
    try:
        dag = load_dag(dag_id, subdir)
    except DagNotFound as exc:
        raise click.ClickException(str(exc)) from None
    if not dag.has_task(task_id):
        raise click.ClickException(f"Task {task_id!r} not found in DAG {dag_id!r}")
    when = parse_date(logical_date) or dt.datetime.now(dt.UTC)
    from aerovane.components import startup_finished

    startup_finished()  # user code runs next, with the garbage collector on
    with contextlib.redirect_stdout(out):
        try:
            state, result = run_task_in_process(
                dag, task_id, when, conf_obj, task_params=params_obj, dry_run=dry_run
            )
        except ParamValidationError as exc:
            raise click.ClickException(f"params do not validate: {exc}") from None
        if dry_run:
            for name, value in result.items():
                click.echo(f"{name}: {value!r}")
            return
        click.echo(f"Task {task_id} finished: {state}; returned {result!r}")


def _find_run(dag_id: str, date_or_run_id: str, *, session: Any) -> Any:
    """The run named by its id, or else by its logical date (Airflow's
    EXECUTION_DATE_OR_RUN_ID); NotFound when neither matches."""
    from aerovane.cli.dags_commands import parse_date
    from aerovane.services.errors import NotFound
    from aerovane.services.task_instances import find_run

    run = find_run(dag_id, run_id=date_or_run_id, session=session)
    if run is None:
        try:
            when = parse_date(date_or_run_id)
        except click.ClickException:
            when = None
        if when is not None:
            run = find_run(dag_id, logical_date=when, session=session)
    if run is None:
        raise NotFound(
            f"DagRun for {dag_id} with run_id or execution_date of {date_or_run_id!r} not found"
        )
    return run


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()


@tasks.command("list")
@click.argument("dag_id")
@click.option("-t", "--tree", is_flag=True, help="Tree view, each task under its upstream.")
def list_cmd(dag_id: str, tree: bool) -> None:
    """List the tasks within a DAG."""
    from aerovane.db.engine import create_session
    from aerovane.services.dags import get_dag_with_model

    with create_session(readonly=True) as session:
        _, dag = get_dag_with_model(dag_id, session=session)
    if not tree:
        for task_id in sorted(dag.task_dict):
            click.echo(task_id)
        return

    def show(task_id: str, depth: int) -> None:
        task = dag.task_dict[task_id]
        click.echo(f"{'    ' * depth}<Task({task.operator_name}): {task_id}>")
        for child in sorted(task.downstream_task_ids):
            show(child, depth + 1)

    for root in sorted(t.task_id for t in dag.roots):
        show(root, 0)


@tasks.command("state")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("execution_date_or_run_id")
@click.option("-m", "--map-index", type=int, default=None, help="Mapped task index.")
def state_cmd(
    dag_id: str, task_id: str, execution_date_or_run_id: str, map_index: int | None
) -> None:
    """Get the status of a task instance."""
    from aerovane.db.engine import create_session
    from aerovane.services.task_instances import get_task_instance

    with create_session(readonly=True) as session:
        run = _find_run(dag_id, execution_date_or_run_id, session=session)
        ti, _ = get_task_instance(dag_id, run.run_id, task_id, map_index=map_index, session=session)
        click.echo(str(ti.state))


@tasks.command("states-for-dag-run")
@click.argument("dag_id")
@click.argument("execution_date_or_run_id")
@output_option
def states_for_dag_run(dag_id: str, execution_date_or_run_id: str, output: str) -> None:
    """Get the status of all task instances in a dag run."""
    from aerovane.db.engine import create_session
    from aerovane.services.task_instances import run_task_instances

    with create_session(readonly=True) as session:
        run = _find_run(dag_id, execution_date_or_run_id, session=session)
        rows = [
            {
                "dag_id": ti.dag_id,
                "execution_date": _iso(run.logical_date),
                "task_id": ti.task_id,
                "state": ti.state,
                "start_date": _iso(ti.start_date),
                "end_date": _iso(ti.end_date),
            }
            for ti in run_task_instances(dag_id, run.run_id, session=session)
        ]
    emit(rows, ["dag_id", "execution_date", "task_id", "state", "start_date", "end_date"], output)


def _regex(value: str | None, option: str) -> re.Pattern[str] | None:
    if value is None:
        return None
    try:
        return re.compile(value)
    except re.error as exc:
        raise click.ClickException(
            f"{option} {value!r} is not a valid regular expression: {exc}"
        ) from None


@tasks.command("clear")
@click.argument("dag_id")
@click.option(
    "-t", "--task-regex", default=None, help="The regex to filter specific task_ids (optional)."
)
@click.option("-s", "--start-date", default=None, help="Override start_date YYYY-MM-DD.")
@click.option("-e", "--end-date", default=None, help="Override end_date YYYY-MM-DD.")
@click.option("-f", "--only-failed", is_flag=True, help="Only failed jobs.")
@click.option("-r", "--only-running", is_flag=True, help="Only running jobs.")
@click.option("-u", "--upstream", is_flag=True, help="Include upstream tasks.")
@click.option("-d", "--downstream", is_flag=True, help="Include downstream tasks.")
@click.option("-y", "--yes", is_flag=True, help="Do not prompt to confirm. Use with care!")
@click.option("-x", "--exclude-subdags", is_flag=True, help="Exclude subdags (Aerovane has none).")
@click.option(
    "-X",
    "--exclude-parentdag",
    is_flag=True,
    help="Exclude ParentDAGS if the task cleared is a part of a SubDAG (Aerovane has none).",
)
@click.option(
    "-R", "--dag-regex", is_flag=True, help="Search dag_id as regex instead of exact string."
)
def clear_cmd(
    dag_id: str,
    task_regex: str | None,
    start_date: str | None,
    end_date: str | None,
    only_failed: bool,
    only_running: bool,
    upstream: bool,
    downstream: bool,
    yes: bool,
    exclude_subdags: bool,
    exclude_parentdag: bool,
    dag_regex: bool,
) -> None:
    """Clear a set of task instances, as if they never ran."""
    from aerovane.cli.dags_commands import parse_date
    from aerovane.db.engine import create_session
    from aerovane.services.dags import active_dag_ids, get_dag_with_model
    from aerovane.services.task_instances import clear_task_instances, find_task_instances_to_clear

    del exclude_subdags, exclude_parentdag  # accepted for Airflow's scripts; no SubDAGs here
    tasks_pattern = _regex(task_regex, "--task-regex")
    dags_pattern = _regex(dag_id, "DAG_ID") if dag_regex else None
    start, end = parse_date(start_date), parse_date(end_date)
    for lock in (False, True):  # look first, ask, then clear what is found again under lock
        with create_session(readonly=not lock) as session:
            dag_ids = (
                [d for d in active_dag_ids(session=session) if dags_pattern.search(d)]
                if dags_pattern
                else [dag_id]
            )
            if not dag_ids:
                raise click.ClickException(f"No DAG matches {dag_id!r}")
            found: list[tuple[Any, Any]] = []
            for one in dag_ids:
                _, dag = get_dag_with_model(one, session=session)
                task_ids = None
                if tasks_pattern is not None:
                    task_ids = [t for t in sorted(dag.task_dict) if tasks_pattern.search(t)]
                    if not task_ids:
                        continue
                tis = find_task_instances_to_clear(
                    dag,
                    task_ids=task_ids,
                    start_date=start,
                    end_date=end,
                    only_failed=only_failed,
                    only_running=only_running,
                    include_upstream=upstream,
                    include_downstream=downstream,
                    lock=lock,
                    session=session,
                )
                found.extend((dag, ti) for ti, _ in tis)
            if not found:
                click.echo("No task instances to clear")
                return
            if not lock:
                if not yes:
                    listing = "\n".join(
                        f"<TaskInstance: {ti.dag_id}.{ti.task_id} {ti.run_id} [{ti.state}]>"
                        for _, ti in found
                    )
                    click.echo(f"You are about to delete these {len(found)} tasks:\n{listing}\n")
                    click.confirm("Are you sure?", abort=True)
                continue
            by_dag: dict[str, tuple[Any, list[Any]]] = {}
            for dag, ti in found:
                by_dag.setdefault(dag.dag_id, (dag, []))[1].append(ti)
            for dag, tis_of_dag in by_dag.values():
                clear_task_instances(tis_of_dag, dag=dag, reset_dag_runs=True, session=session)
    click.echo(f"{len(found)} task instance(s) cleared")


@tasks.command("failed-deps")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("execution_date_or_run_id")
@click.option("-m", "--map-index", type=int, default=None, help="Mapped task index.")
def failed_deps(
    dag_id: str, task_id: str, execution_date_or_run_id: str, map_index: int | None
) -> None:
    """Returns the unmet dependencies for a task instance."""
    from aerovane.db.engine import create_session
    from aerovane.scheduler import trigger_rules
    from aerovane.services.task_instances import blocking_dependencies, get_task_instance

    with create_session(readonly=True) as session:
        run = _find_run(dag_id, execution_date_or_run_id, session=session)
        ti, _ = get_task_instance(dag_id, run.run_id, task_id, map_index=map_index, session=session)
        failed = blocking_dependencies(
            ti, evaluate_trigger_rule=trigger_rules.evaluate, session=session
        )
        name = f"<TaskInstance: {dag_id}.{task_id} {run.run_id} [{ti.state}]>"
    if not failed:
        click.echo("Task instance dependencies are all met.")
        return
    click.echo(f"Dependencies not met for {name}:")
    for dep in failed:
        click.echo(f"{dep.name}: {dep.reason}")


@tasks.command("run")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("execution_date_or_run_id")
@click.option("--map-index", type=int, default=-1, show_default=True, help="Mapped task index.")
@click.option("-l", "--local", is_flag=True, help="Run the task using the LocalExecutor.")
@click.option(
    "-r", "--raw", is_flag=True, help="Run the task directly (its log is printed here too)."
)
@click.option("-f", "--force", is_flag=True, help="Ignore previous task instance state.")
@click.option(
    "-A",
    "--ignore-all-dependencies",
    is_flag=True,
    help="Ignores all non-critical dependencies, including ignore_ti_state and ignore_task_deps.",
)
@click.option(
    "-i",
    "--ignore-dependencies",
    is_flag=True,
    help="Ignore task-specific dependencies, e.g. upstream, depends_on_past, and retry delay "
    "dependencies.",
)
@click.option(
    "-S",
    "--subdir",
    default=None,
    help="Accepted for Airflow compatibility: the worker imports the DAG's file as the "
    "metadata database names it.",
)
@click.option("-v", "--verbose", is_flag=True, help="Make logging output more verbose.")
def run_cmd(
    dag_id: str,
    task_id: str,
    execution_date_or_run_id: str,
    map_index: int,
    local: bool,
    raw: bool,
    force: bool,
    ignore_all_dependencies: bool,
    ignore_dependencies: bool,
    subdir: str | None,
    verbose: bool,
) -> None:
    """Run a single task instance, as a worker would.

    The task instance becomes a new queued try, then a child process runs it exactly as a
    worker does (claims it, heartbeats, writes its log, state and XComs); the command waits
    for it. `--local` and `--raw` run it the same way (Aerovane has no separate job process);
    `--raw` also prints the attempt's log when it ends. Exits 1 unless the try succeeded
    (or was skipped)."""

    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session, dispose_engines
    from aerovane.executors.base import TaskWorkload
    from aerovane.runtime.task_runner import TaskKey, hostname
    from aerovane.scheduler import trigger_rules
    from aerovane.services.task_instances import get_task_instance, queue_for_run
    from aerovane.services.task_logs import log_path

    with create_session() as session:
        run = _find_run(dag_id, execution_date_or_run_id, session=session)
        ti, _ = get_task_instance(dag_id, run.run_id, task_id, map_index=map_index, session=session)
        queue_for_run(
            ti,
            force=force or ignore_all_dependencies,
            ignore_dependencies=ignore_dependencies or ignore_all_dependencies,
            evaluate_trigger_rule=trigger_rules.evaluate,
            queued_by="cli",
            session=session,
        )
        fileloc = session.scalar(
            select(models.DagModel.fileloc).where(models.DagModel.dag_id == dag_id)
        )
        key = TaskKey(dag_id, task_id, run.run_id, map_index, ti.try_number)
    path = log_path(dag_id, key.run_id, task_id, key.try_number, map_index)
    workload = TaskWorkload(key=key, fileloc=str(fileloc), log_path=str(path), queue=ti.queue)
    label = f"<TaskInstance: {dag_id}.{task_id} {key.run_id} map_index={map_index}>"
    click.echo(f"Running {label} on host {hostname()}")
    sys.stdout.flush()
    dispose_engines()  # the child opens connections of its own
    code = _run_in_child(workload.to_dict())
    with create_session(readonly=True) as session:
        final, _ = get_task_instance(
            dag_id, key.run_id, task_id, map_index=map_index, session=session
        )
        state = final.state
    if raw and path.exists():
        click.echo(path.read_text(encoding="utf-8", errors="replace"), nl=False)
    click.echo(f"Task exited with return code {code}; {label} is {state} (log: {path})")
    if code != 0 or state not in ("success", "skipped"):
        raise SystemExit(1)


def _run_in_child(payload: dict[str, Any]) -> int:
    """Fork a worker process for one attempt (as the executor's zygote does) and wait."""
    import os

    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; its work is checked through the database
        code = 1
        try:
            os.setsid()
            from aerovane.runtime.task_runner import run_workload

            code = run_workload(payload)
        except BaseException:  # noqa: BLE001 - the attempt's log has the details
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@tasks.command("render")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("execution_date_or_run_id")
@click.option("-m", "--map-index", type=int, default=-1, help="Mapped task index.")
@click.option("-S", "--subdir", default=None, help=_SUBDIR_HELP)
def render(
    dag_id: str, task_id: str, execution_date_or_run_id: str, map_index: int, subdir: str | None
) -> None:
    """Render a task instance's template(s)."""
    from aerovane.cli.dags_commands import parse_date
    from aerovane.components import startup_finished
    from aerovane.db.engine import create_session
    from aerovane.runtime.dag_test import DagNotFound, load_dag
    from aerovane.runtime.test_mode import run_task_in_process
    from aerovane.services.errors import NotFound

    del map_index  # rendering a mapped instance's expanded arguments is not supported yet
    with create_session(readonly=True) as session:
        try:
            run = _find_run(dag_id, execution_date_or_run_id, session=session)
            when, conf = run.logical_date, dict(run.conf or {})
        except NotFound:
            when, conf = parse_date(execution_date_or_run_id), None
    when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    try:
        dag = load_dag(dag_id, subdir)
    except DagNotFound as exc:
        raise click.ClickException(str(exc)) from None
    if not dag.has_task(task_id):
        raise click.ClickException(f"Task {task_id!r} not found in DAG {dag_id!r}")
    startup_finished()
    _, fields = run_task_in_process(dag, task_id, when, conf, dry_run=True)
    for name, value in fields.items():
        click.echo(f"""
# ----------------------------------------------------------
# property: {name}
# ----------------------------------------------------------
{value}
""")


def register(cli: click.Group) -> None:
    cli.add_command(tasks)

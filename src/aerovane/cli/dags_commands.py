"""`aerovane dags`: Airflow 2's `airflow dags` commands over the metadata database.

The DAG processor writes what these commands read; they never import DAG files (but `test`).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time

import click
from sqlalchemy import select

from aerovane.cli.output import emit, output_option


def parse_conf(value: str | None, *, option: str = "-c/--conf") -> dict[str, object] | None:
    """A JSON object option, or a one-line error naming the option and what to pass."""
    if not value:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.ClickException(
            f"{option} is not valid JSON ({exc}); pass an object such as '{{\"key\": 1}}'"
        ) from None
    if not isinstance(parsed, dict):
        raise click.ClickException(
            f"{option} must be a JSON object such as '{{\"key\": 1}}', not {value!r}"
        )
    return parsed


def parse_date(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.ClickException(
            f"{value!r} is not an ISO-8601 date; pass e.g. 2026-01-01 or 2026-01-01T06:00:00+00:00"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


_SUBDIR_HELP = (
    "File location or directory from which to look for the dag (default: [core] dags_folder)."
)


@click.group("dags")
def dags() -> None:
    """Manage DAGs."""


@dags.command("list")
@output_option
def list_dags(output: str) -> None:
    """DAGs known to the metadata database."""
    from aerovane.db import models
    from aerovane.db.engine import create_session

    with create_session(readonly=True) as session:
        rows = [
            {
                "dag_id": d.dag_id,
                "fileloc": d.fileloc,
                "owners": d.owners,
                "is_paused": d.is_paused,
                "schedule": d.timetable_description,
            }
            for d in session.scalars(
                select(models.DagModel)
                .where(models.DagModel.is_active)
                .order_by(models.DagModel.dag_id)
            )
        ]
    emit(rows, ["dag_id", "fileloc", "owners", "is_paused", "schedule"], output)


@dags.command("trigger")
@click.argument("dag_id")
@click.option("-c", "--conf", default=None, help="JSON object, available as dag_run.conf.")
@click.option("-r", "--run-id", default=None)
@click.option(
    "-e",
    "--exec-date",
    "--logical-date",
    "logical_date",
    default=None,
    help="Logical date (ISO-8601).",
)
@output_option
def trigger(
    dag_id: str, conf: str | None, run_id: str | None, logical_date: str | None, output: str
) -> None:
    """Create a manual run."""
    from aerovane.db.engine import create_session
    from aerovane.services.dag_runs import trigger as trigger_run

    conf_obj = parse_conf(conf)
    with create_session() as session:
        run = trigger_run(
            dag_id,
            run_id=run_id,
            logical_date=parse_date(logical_date),
            conf=conf_obj,
            triggered_by="cli",
            session=session,
        )
        row = {
            "dag_id": run.dag_id,
            "run_id": run.run_id,
            "state": run.state,
            "logical_date": run.logical_date.isoformat(),
        }
    emit([row], ["dag_id", "run_id", "state", "logical_date"], output)


def _set_paused(dag_id: str, paused: bool) -> None:
    from aerovane.db import models
    from aerovane.db.engine import create_session
    from aerovane.services.errors import NotFound

    with create_session() as session:
        dag = session.get(models.DagModel, dag_id)
        if dag is None:
            raise NotFound(f"DAG {dag_id!r} not found")
        dag.is_paused = paused
    click.echo(f"DAG {dag_id} {'paused' if paused else 'unpaused'}.")


@dags.command("pause")
@click.argument("dag_id")
def pause(dag_id: str) -> None:
    """Stop scheduling new runs and tasks of a DAG."""
    _set_paused(dag_id, True)


@dags.command("unpause")
@click.argument("dag_id")
def unpause(dag_id: str) -> None:
    """Resume a paused DAG."""
    _set_paused(dag_id, False)


@dags.command("list-runs")
@click.option("-d", "--dag-id", required=True, help="The id of the dag.")
@click.option("--state", default=None, help="Only list the DAG runs corresponding to the state.")
@click.option(
    "--no-backfill", is_flag=True, help="Filter all the backfill dagruns given the dag id."
)
@click.option("-s", "--start-date", default=None, help="Override start_date YYYY-MM-DD.")
@click.option("-e", "--end-date", default=None, help="Override end_date YYYY-MM-DD.")
@output_option
def list_runs(
    dag_id: str,
    state: str | None,
    no_backfill: bool,
    start_date: str | None,
    end_date: str | None,
    output: str,
) -> None:
    """List DAG runs given a DAG id, newest first."""
    from aerovane.db import models
    from aerovane.db.engine import create_session
    from aerovane.services.dag_runs import list_dag_runs
    from aerovane.services.errors import NotFound

    start, end = parse_date(start_date), parse_date(end_date)
    with create_session(readonly=True) as session:
        if session.get(models.DagModel, dag_id) is None:
            raise NotFound(f"DAG {dag_id!r} not found; `aerovane dags list` shows the DAGs")
        runs = list_dag_runs(
            dag_id,
            state=state,
            no_backfill=no_backfill,
            start=start,
            end=end,
            session=session,
        )
        rows = [
            {
                "dag_id": r.dag_id,
                "run_id": r.run_id,
                "state": r.state,
                "logical_date": r.logical_date.isoformat(),
                "start_date": r.start_date.isoformat() if r.start_date else None,
                "end_date": r.end_date.isoformat() if r.end_date else None,
            }
            for r in runs
        ]
    emit(rows, ["dag_id", "run_id", "state", "logical_date", "start_date", "end_date"], output)


@dags.command("test")
@click.argument("dag_id")
@click.argument("logical_date", required=False)
@click.option("-c", "--conf", default=None, help="JSON object for dag_run.conf.")
@click.option("-S", "--subdir", default=None, help=_SUBDIR_HELP)
def test(dag_id: str, logical_date: str | None, conf: str | None, subdir: str | None) -> None:
    """Run one DAG run in this process, each task in dependency order, printing its log.

    As Airflow's `dags test`: only this run is created; no scheduler or executor runs, so other
    runs, the pause flag and the schedule are left alone. Exits 1 if the run failed.
    """
    from aerovane.authoring.exceptions import ParamValidationError
    from aerovane.components import startup_finished
    from aerovane.runtime.dag_test import DagNotFound, load_dag, run_dag_test

    conf_obj = parse_conf(conf)
    when = parse_date(logical_date)
    started = time.monotonic()
    try:
        dag = load_dag(dag_id, subdir)
    except DagNotFound as exc:
        raise click.ClickException(str(exc)) from None
    startup_finished()  # user code runs next, with the garbage collector on
    try:
        result = run_dag_test(dag, logical_date=when, conf=conf_obj, echo=click.echo)
    except ParamValidationError as exc:
        raise click.ClickException(f"--conf does not match the DAG's params: {exc}") from None
    for task_id, state in result.task_states.items():
        click.echo(f"{task_id}: {state}")
    click.echo(f"Run {result.run_id} finished {result.state} in {time.monotonic() - started:.2f}s")
    if result.state != "success":
        raise SystemExit(1)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def _required_date(value: str, option: str) -> dt.datetime:
    parsed = parse_date(value)
    if parsed is None:
        raise click.ClickException(f"{option} is required")
    return parsed


@dags.command("state")
@click.argument("dag_id")
@click.argument("execution_date")
def state(dag_id: str, execution_date: str) -> None:
    """Get the status of a dag run (and its conf, if any)."""
    from aerovane.db.engine import create_session
    from aerovane.services.dag_runs import find_run_by_logical_date
    from aerovane.services.dags import get_dag_with_model

    when = _required_date(execution_date, "EXECUTION_DATE")
    with create_session(readonly=True) as session:
        get_dag_with_model(dag_id, session=session)
        run = find_run_by_logical_date(dag_id, when, session=session)
        out = None if run is None else run.state
        conf = run.conf if run is not None else None
    click.echo(f"{out}, {json.dumps(conf)}" if out and conf else str(out))


@dags.command("next-execution")
@click.argument("dag_id")
@click.option(
    "-n",
    "--num-executions",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="The number of next logical date times to show.",
)
def next_execution(dag_id: str, num_executions: int) -> None:
    """Get the next logical datetimes of a DAG."""
    from aerovane.authoring.timetables import DataInterval, TimeRestriction
    from aerovane.db.engine import create_session
    from aerovane.services.dags import get_dag_with_model

    with create_session(readonly=True) as session:
        dag_model, dag = get_dag_with_model(dag_id, session=session)
        paused = dag_model.is_paused
        start = _aware(dag_model.next_dagrun_data_interval_start)
        end = _aware(dag_model.next_dagrun_data_interval_end)
    if paused:
        click.echo("[INFO] Please be reminded this DAG is PAUSED now.", err=True)
    interval = None if start is None or end is None else DataInterval(start, end)
    unrestricted = TimeRestriction(dag.time_restriction.earliest, None, True)
    for number in range(num_executions):
        if number:
            info = dag.timetable.next_dagrun_info(
                last_automated_data_interval=interval, restriction=unrestricted
            )
            interval = None if info is None else info.data_interval
        if interval is None:
            click.echo(
                "[WARN] No following schedule can be found. "
                "This DAG may have schedule interval '@once' or `None`.",
                err=True,
            )
            click.echo("None")
            return
        click.echo(interval.start.isoformat())


@dags.command("list-import-errors")
@output_option
def list_import_errors(output: str) -> None:
    """List all the DAGs that have import errors."""
    from aerovane.db.engine import create_session
    from aerovane.services.import_errors import list_import_errors as import_errors

    with create_session(readonly=True) as session:
        rows = [
            {"filepath": row.filename, "error": row.stacktrace}
            for row in import_errors(session=session)
        ]
    emit(rows, ["filepath", "error"], output)
    if rows:
        raise SystemExit(1)  # as Airflow: import errors make the command fail


DETAIL_COLUMNS = [
    "dag_id",
    "dag_display_name",
    "is_paused",
    "is_active",
    "last_parsed_time",
    "fileloc",
    "owners",
    "description",
    "timetable_summary",
    "timetable_description",
    "tags",
    "max_active_tasks",
    "max_active_runs",
    "has_task_concurrency_limits",
    "has_import_errors",
    "next_dagrun",
    "next_dagrun_data_interval_start",
    "next_dagrun_data_interval_end",
    "next_dagrun_create_after",
    "start_date",
    "end_date",
    "catchup",
    "timezone",
    "dagrun_timeout",
    "params",
]


@dags.command("details")
@click.argument("dag_id")
@output_option
def details(dag_id: str, output: str) -> None:
    """Get DAG details given a DAG id."""
    from aerovane.db.engine import create_session
    from aerovane.services.dags import get_dag_with_model

    def iso(value: dt.datetime | None) -> str | None:
        return None if value is None else _aware(value).isoformat()  # type: ignore[union-attr]

    with create_session(readonly=True) as session:
        model, dag = get_dag_with_model(dag_id, session=session)
        row = {
            "dag_id": model.dag_id,
            "dag_display_name": model.dag_display_name or model.dag_id,
            "is_paused": model.is_paused,
            "is_active": model.is_active,
            "last_parsed_time": iso(model.last_parsed_time),
            "fileloc": model.fileloc,
            "owners": model.owners,
            "description": model.description,
            "timetable_summary": dag.timetable.summary,
            "timetable_description": model.timetable_description,
            "tags": [tag.name for tag in model.tags],
            "max_active_tasks": model.max_active_tasks,
            "max_active_runs": model.max_active_runs,
            "has_task_concurrency_limits": model.has_task_concurrency_limits,
            "has_import_errors": model.has_import_errors,
            "next_dagrun": iso(model.next_dagrun),
            "next_dagrun_data_interval_start": iso(model.next_dagrun_data_interval_start),
            "next_dagrun_data_interval_end": iso(model.next_dagrun_data_interval_end),
            "next_dagrun_create_after": iso(model.next_dagrun_create_after),
            "start_date": iso(dag.start_date),
            "end_date": iso(dag.end_date),
            "catchup": dag.catchup,
            "timezone": dag.timezone,
            "dagrun_timeout": None if dag.dagrun_timeout is None else str(dag.dagrun_timeout),
            "params": dag.params.dump(),
        }
    if output in ("table", "plain"):  # one property per line reads better than a wide row
        emit(
            [{"property_name": k, "property_value": row[k]} for k in DETAIL_COLUMNS],
            ["property_name", "property_value"],
            output,
        )
        return
    emit([row], DETAIL_COLUMNS, output)


@dags.command("delete")
@click.argument("dag_id")
@click.option("-y", "--yes", is_flag=True, help="Do not prompt to confirm. Use with care!")
def delete(dag_id: str, yes: bool) -> None:
    """Delete all DB records related to the specified DAG."""
    from aerovane.db.engine import create_session
    from aerovane.services.dags import delete_dag, get_dag_with_model

    with create_session(readonly=True) as session:
        get_dag_with_model(dag_id, session=session)
    if not yes:
        click.confirm(
            "This will drop all existing records related to the specified DAG. Proceed?",
            abort=True,
        )
    with create_session() as session:
        count = delete_dag(dag_id, session=session)
    click.echo(f"Removed {count} record(s)")


def _dot(dag: object) -> str:
    """The DAG as Graphviz DOT: one node per task (the operator's colours), one edge per
    dependency; Airflow's `dags show` prints the same shape."""
    tasks = sorted(dag.task_dict.values(), key=lambda t: t.task_id)  # type: ignore[attr-defined]

    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [
        f"digraph {quoted(dag.dag_id)} {{",
        "\tgraph [label=" + quoted(dag.dag_id) + " labelloc=t rankdir=LR]",
    ]  # type: ignore[attr-defined]
    for task in tasks:
        lines.append(
            f"\t{quoted(task.task_id)} [color={quoted(task.ui_fgcolor)} "
            f"fillcolor={quoted(task.ui_color)} "
            "label=" + quoted(task.task_display_name) + ' shape=rectangle style="filled,rounded"]'
        )
    for task in tasks:
        for downstream in sorted(task.downstream_task_ids):
            lines.append(f"\t{quoted(task.task_id)} -> {quoted(downstream)}")
    lines.append("}")
    return "\n".join(lines)


@dags.command("show")
@click.argument("dag_id")
@click.option(
    "-s", "--save", default=None, help="Save the DOT source to the given file (.dot or .gv)."
)
def show(dag_id: str, save: str | None) -> None:
    """Display the DAG's tasks with their dependencies, as Graphviz DOT."""
    from aerovane.db.engine import create_session
    from aerovane.services.dags import get_dag_with_model

    with create_session(readonly=True) as session:
        _, dag = get_dag_with_model(dag_id, session=session)
    source = _dot(dag)
    if save is None:
        click.echo(source)
        return
    _save_dot(source, save)


@dags.command("report")
@click.option(
    "-S",
    "--subdir",
    default=None,
    help="File location or directory from which to look for the dag (default: [core] dags_folder).",
)
@output_option
def report(subdir: str | None, output: str) -> None:
    """Show DagBag loading report: how long each DAG file takes to import, and what it defines.

    As Airflow's, the files are imported in this process (user code runs here); the
    metadata database is not touched."""
    from pathlib import Path

    from aerovane.components import startup_finished
    from aerovane.config import get_settings
    from aerovane.dag_processing.importer import import_dag_file
    from aerovane.dag_processing.manager import list_dag_files

    folder = Path(subdir).expanduser() if subdir else get_settings().dags_folder
    if folder.is_file():
        files = [str(folder.resolve())]
        folder = folder.parent
    elif folder.is_dir():
        files = sorted(list_dag_files(folder, include_examples=False))
    else:
        raise click.ClickException(f"{folder} is neither a DAG file nor a folder")
    startup_finished()  # user code runs next, with the garbage collector on
    rows = []
    for path in files:
        started = time.perf_counter()
        try:
            found, _ = import_dag_file(path, folder)
            error = None
        except Exception as exc:  # noqa: BLE001 - a broken file is a row of the report
            found, error = {}, f"{type(exc).__name__}: {exc}"
        duration = time.perf_counter() - started
        relative = (
            path[len(str(folder.resolve())) :] if path.startswith(str(folder.resolve())) else path
        )
        rows.append(
            {
                "file": relative,
                "duration": f"{duration:.6f}",
                "dag_num": len(found),
                "task_num": sum(len(d.task_dict) for d in found.values()),  # type: ignore[attr-defined]
                "dags": ", ".join(sorted(found)) if error is None else error,
            }
        )
    rows.sort(key=lambda row: float(row["duration"]), reverse=True)
    emit(rows, ["file", "duration", "dag_num", "task_num", "dags"], output)


@dags.command("backfill")
@click.argument("dag_id")
@click.option("-s", "--start-date", required=True, help="Override start_date YYYY-MM-DD.")
@click.option("-e", "--end-date", required=True, help="Override end_date YYYY-MM-DD.")
@click.option(
    "-c",
    "--conf",
    default=None,
    help="JSON string that gets pickled into the DagRun's conf attribute.",
)
@click.option(
    "--reset-dagruns",
    is_flag=True,
    help="If set, the backfill clears existing runs in the range and runs them anew.",
)
@click.option(
    "--rerun-failed-tasks",
    is_flag=True,
    help="If set, the backfill reruns the failed tasks of existing runs in the range.",
)
@click.option(
    "-n", "--dry-run", is_flag=True, help="Perform a dry run: list the runs, change nothing."
)
@click.option("-y", "--yes", is_flag=True, help="Do not prompt to confirm reset. Use with care!")
@click.option(
    "--wait",
    is_flag=True,
    help="Wait, showing progress, until the scheduler has finished every run.",
)
def backfill(
    dag_id: str,
    start_date: str,
    end_date: str,
    conf: str | None,
    reset_dagruns: bool,
    rerun_failed_tasks: bool,
    dry_run: bool,
    yes: bool,
    wait: bool,
) -> None:
    """Create a run of every schedule interval in a date range, for the scheduler to run.

    Runs that already exist are left alone, unless --reset-dagruns (cleared whole) or
    --rerun-failed-tasks (their failed tasks cleared) is given."""
    from aerovane.db.engine import create_session
    from aerovane.scheduler.wakeup import notify_schedulers
    from aerovane.services.backfill import Action
    from aerovane.services.backfill import backfill as plan_backfill

    if reset_dagruns and rerun_failed_tasks:
        raise click.ClickException(
            "--reset-dagruns and --rerun-failed-tasks cannot be used together"
        )
    conf_obj = parse_conf(conf)
    start = _required_date(start_date, "--start-date")
    end = _required_date(end_date, "--end-date")
    if reset_dagruns and not dry_run and not yes:
        click.confirm(
            "You are about to delete these task instances and reset their runs. Are you sure?",
            abort=True,
        )
    with create_session(readonly=dry_run) as session:
        steps = plan_backfill(
            dag_id,
            start,
            end,
            reset_dagruns=reset_dagruns,
            rerun_failed_tasks=rerun_failed_tasks,
            conf=conf_obj,
            dry_run=dry_run,
            session=session,
        )
    for step in steps:
        verb = step.action.value if not dry_run else f"would be {step.action.value}"
        click.echo(f"{step.logical_date.isoformat()}\t{step.run_id}\t{verb}")
    active = [s.run_id for s in steps if s.action is not Action.SKIPPED]
    click.echo(
        f"{len(steps)} run(s) in range, {len(active)} to run" + (" (dry run)" if dry_run else "")
    )
    if dry_run or not active:
        return
    notify_schedulers()
    if wait:
        _wait_for_runs(dag_id, active)


def _wait_for_runs(dag_id: str, run_ids: list[str]) -> None:
    from aerovane.db.engine import create_session
    from aerovane.services.backfill import run_states

    finished: dict[str, str] = {}
    with click.progressbar(
        length=len(run_ids), label="Backfill runs finished", file=sys.stderr
    ) as bar:
        while len(finished) < len(run_ids):
            with create_session(readonly=True) as session:
                states = run_states(dag_id, run_ids, session=session)
            for run_id, run_state in states.items():
                if run_state in ("success", "failed") and run_id not in finished:
                    finished[run_id] = run_state
                    bar.update(1)
            if len(finished) < len(run_ids):
                time.sleep(1.0)
    failed = sorted(run_id for run_id, s in finished.items() if s == "failed")
    if failed:
        raise click.ClickException(f"{len(failed)} backfill run(s) failed: {', '.join(failed)}")
    click.echo(f"All {len(run_ids)} backfill run(s) succeeded")


@dags.command("list-jobs")
@click.option("-d", "--dag-id", default=None, help="The id of the dag.")
@click.option(
    "--state",
    type=click.Choice(["running", "success", "failed", "restarting"]),
    default=None,
    help="Only list the jobs corresponding to the state.",
)
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="Return a limited number of records."
)
@output_option
def list_jobs(dag_id: str | None, state: str | None, limit: int | None, output: str) -> None:
    """List the jobs.

    Aerovane's jobs are its components (SchedulerJob, DagProcessorJob, TriggererJob); task
    attempts run without a job row of their own (Airflow's LocalTaskJob), so a DAG has none."""
    from aerovane.db.engine import create_session
    from aerovane.services.dags import get_dag_with_model
    from aerovane.services.jobs import recent_jobs

    with create_session(readonly=True) as session:
        if dag_id:
            get_dag_with_model(dag_id, session=session)  # NotFound: one line, exit 1
            jobs = []
        else:
            jobs = recent_jobs(state=state, limit=limit or 100, session=session)
        rows = [
            {
                "dag_id": dag_id,
                "state": job.state,
                "job_type": job.job_type,
                "start_date": _iso(job.start_date),
                "end_date": _iso(job.end_date),
            }
            for job in jobs
        ]
    emit(rows, ["dag_id", "state", "job_type", "start_date", "end_date"], output)


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return (_aware(value) or value).isoformat()


def _dependencies_dot(deps: dict[str, list[object]]) -> str:
    """Airflow's `render_dag_dependencies`: one subgraph per DAG, an edge source → dependency
    → target per dependency."""

    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["digraph {", "\tgraph [rankdir=LR]"]
    for dag_id, dependencies in deps.items():
        for dep in dependencies:
            lines.append(f"\tsubgraph {quoted(dag_id)} {{")
            lines.append(f"\t\tgraph [label={quoted(dag_id)} labelloc=t rankdir=LR]")
            source, target = dep.source, dep.target  # type: ignore[attr-defined]
            dependency_id = dep.dependency_id  # type: ignore[attr-defined]
            lines.append(f"\t\t{quoted(source)} -> {quoted(dependency_id)}")
            lines.append(f"\t\t{quoted(dependency_id)} -> {quoted(target)}")
            lines.append("\t}")
    lines.append("}")
    return "\n".join(lines)


def _save_dot(source: str, save: str) -> None:
    from pathlib import Path

    if Path(save).suffix.lower() not in (".dot", ".gv"):
        raise click.ClickException(
            f"--save {save}: only DOT source (.dot, .gv) can be written; render images with "
            "Graphviz (`dot -Tpng file.dot`)"
        )
    try:
        Path(save).write_text(source + "\n")
    except OSError as exc:
        raise click.ClickException(f"Cannot write {save}: {exc}") from None
    click.echo(f"File {save} saved")


@dags.command("show-dependencies")
@click.option(
    "-s", "--save", default=None, help="Save the DOT source to the given file (.dot or .gv)."
)
@click.option("-S", "--subdir", default=None, help=_SUBDIR_HELP)
@click.option("-v", "--verbose", is_flag=True, help="Make logging output more verbose.")
def show_dependencies(save: str | None, subdir: str | None, verbose: bool) -> None:
    """Displays DAGs with their dependencies (datasets, TriggerDagRunOperator,
    ExternalTaskSensor), as Graphviz DOT."""
    from aerovane.db.engine import create_session
    from aerovane.services.dag_dependencies import dag_dependencies

    with create_session(readonly=True) as session:
        deps = dag_dependencies(session=session)
    source = _dependencies_dot(deps)  # type: ignore[arg-type]
    if save is None:
        click.echo(source)
        return
    _save_dot(source, save)


@dags.command("reserialize")
@click.option(
    "--clear-only",
    is_flag=True,
    help="If passed, serialized DAGs will be cleared but not reserialized.",
)
@click.option("-S", "--subdir", default=None, help=_SUBDIR_HELP)
@click.option("-v", "--verbose", is_flag=True, help="Make logging output more verbose.")
def reserialize(clear_only: bool, subdir: str | None, verbose: bool) -> None:
    """Reserialize all DAGs by parsing the DagBag files.

    As Airflow's, the files are imported in this process (user code runs here)."""
    from pathlib import Path

    from aerovane.components import startup_finished
    from aerovane.config import get_settings
    from aerovane.dag_processing.manager import list_dag_files
    from aerovane.dag_processing.parse_worker import parse_result
    from aerovane.dag_processing.writer import store_parse_result
    from aerovane.db.engine import create_session
    from aerovane.services.dags import clear_serialized_dags

    with create_session() as session:
        cleared = clear_serialized_dags(session=session)
    click.echo(f"Cleared {cleared} serialized DAG(s).")
    if clear_only:
        return
    settings = get_settings()
    folder = Path(subdir).expanduser() if subdir else settings.dags_folder
    if folder.is_file():
        files = [str(folder.resolve())]
        folder = folder.parent
    elif folder.is_dir():
        files = sorted(
            list_dag_files(folder, include_examples=settings.getboolean("core", "load_examples"))
        )
    else:
        raise click.ClickException(f"{folder} is neither a DAG file nor a folder")
    startup_finished()  # user code runs next, with the garbage collector on
    count, errors = 0, 0
    for path in files:
        result = parse_result(path, folder)
        with create_session() as session:
            store_parse_result(path, result["dags"], result["error"], session=session)
        count += len(result["dags"])
        if result["error"]:
            errors += 1
            click.echo(f"Import error in {path} (see `dags list-import-errors`)", err=True)
        elif verbose:
            click.echo(f"{path}: {len(result['dags'])} DAG(s)")
    click.echo(f"Serialized {count} DAG(s) from {len(files)} file(s).")
    if errors:
        raise SystemExit(1)


def register(cli: click.Group) -> None:
    cli.add_command(dags)

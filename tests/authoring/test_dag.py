"""DAG construction, the context manager, validation and config-driven defaults."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from aerovane.authoring import DAG, EmptyOperator
from aerovane.authoring import dag as dag_decorator
from aerovane.authoring.dag import collect_autoregistered_dags, current_dag
from aerovane.authoring.exceptions import AerovaneDagError, AerovaneNotFoundException
from aerovane.authoring.timetables import (
    CronDataIntervalTimetable,
    DeltaDataIntervalTimetable,
    NullTimetable,
    OnceTimetable,
)
from aerovane.config import reload_settings

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def test_context_manager_attaches_operators_and_nests() -> None:
    with DAG("outer", schedule=None, start_date=START) as outer:
        a = EmptyOperator(task_id="a")
        with DAG("inner", schedule=None, start_date=START) as inner:
            b = EmptyOperator(task_id="b")
            assert current_dag() is inner
        c = EmptyOperator(task_id="c")
    assert current_dag() is None
    assert outer.task_ids == ["a", "c"] and inner.task_ids == ["b"]
    assert a.dag is outer and b.dag is inner and c.dag is outer


def test_explicit_dag_argument_without_context_manager() -> None:
    dag = DAG("explicit", schedule=None, start_date=START)
    op = EmptyOperator(task_id="op", dag=dag)
    loose = EmptyOperator(task_id="loose")
    assert dag.get_task("op") is op and loose.dag is None
    dag.add_task(loose)
    assert loose.dag is dag and dag.has_task("loose")


def test_attributes_roots_leaves_owner_and_fileloc() -> None:
    with DAG("attrs", schedule=None, start_date=START, tags=["x", "y"]) as dag:
        a = EmptyOperator(task_id="a", owner="alice")
        b = EmptyOperator(task_id="b", owner="bob")
        c = EmptyOperator(task_id="c", owner="alice")
        a >> [b, c]
    assert dag.tasks == [a, b, c]
    assert [t.task_id for t in dag.roots] == ["a"]
    assert [t.task_id for t in dag.leaves] == ["b", "c"]
    assert dag.owner == "alice, bob"
    assert dag.fileloc == __file__
    assert dag.folder == str(Path(__file__).parent)
    assert dag.tags == ["x", "y"]
    with pytest.raises(AerovaneNotFoundException, match="Task nope not found in DAG attrs"):
        dag.get_task("nope")


def test_schedule_variants_and_defaults() -> None:
    assert isinstance(DAG("d1").timetable, DeltaDataIntervalTimetable)  # Airflow 2 default
    assert DAG("d1b").timetable.summary == "1 day, 0:00:00"
    assert isinstance(DAG("d2", schedule=None).timetable, NullTimetable)
    assert isinstance(DAG("d3", schedule="@once").timetable, OnceTimetable)
    cron = DAG("d4", schedule="@daily").timetable
    assert isinstance(cron, CronDataIntervalTimetable) and cron.summary == "0 0 * * *"
    assert DAG("d5", schedule=dt.timedelta(hours=2)).timetable.summary == "2:00:00"
    assert DAG("d6", schedule=NullTimetable()).timetable == NullTimetable()


def test_schedule_interval_is_a_deprecated_alias() -> None:
    with pytest.deprecated_call():
        dag = DAG("legacy", schedule_interval="@hourly")
    assert dag.timetable.summary == "0 * * * *"
    assert dag.schedule_interval == "@hourly"


def test_giving_schedule_and_schedule_interval_is_an_error() -> None:
    with pytest.raises(AerovaneDagError, match="only one of schedule, schedule_interval"):
        DAG("both", schedule="@daily", schedule_interval="@daily")


@pytest.mark.parametrize("schedule", ["not a cron", "61 * * * *", 42])
def test_invalid_schedules(schedule: object) -> None:
    with pytest.raises(AerovaneDagError):
        DAG("bad_schedule", schedule=schedule)


def test_defaults_come_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    dag = DAG("cfg_default", schedule=None)
    assert (dag.max_active_tasks, dag.max_active_runs, dag.catchup) == (16, 16, True)
    monkeypatch.setenv("AEROVANE__CORE__MAX_ACTIVE_TASKS_PER_DAG", "3")
    monkeypatch.setenv("AEROVANE__CORE__MAX_ACTIVE_RUNS_PER_DAG", "2")
    monkeypatch.setenv("AEROVANE__SCHEDULER__CATCHUP_BY_DEFAULT", "False")
    reload_settings()
    dag = DAG("cfg_changed", schedule=None)
    assert (dag.max_active_tasks, dag.max_active_runs, dag.catchup) == (3, 2, False)
    explicit = DAG(
        "cfg_explicit", schedule=None, max_active_tasks=7, max_active_runs=1, catchup=True
    )
    assert (explicit.max_active_tasks, explicit.max_active_runs, explicit.catchup) == (7, 1, True)


def test_concurrency_is_a_deprecated_alias_for_max_active_tasks() -> None:
    with pytest.deprecated_call():
        dag = DAG("conc", schedule=None, concurrency=4)
    assert dag.max_active_tasks == 4


def test_start_date_naive_is_utc_and_default_args_supply_it() -> None:
    dag = DAG("naive", schedule=None, start_date=dt.datetime(2024, 5, 1))
    assert dag.start_date == dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    from_args = DAG(
        "from_args", schedule=None, default_args={"start_date": dt.datetime(2023, 1, 1)}
    )
    assert from_args.start_date == dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    with pytest.raises(TypeError, match="start_date must be a datetime"):
        DAG("bad_start", schedule=None, start_date="2024-01-01")  # type: ignore[arg-type]


def test_task_dates_are_clamped_to_the_dag() -> None:
    with DAG("dates", schedule=None, start_date=START, end_date=START + dt.timedelta(days=10)):
        inherit = EmptyOperator(task_id="inherit")
        early = EmptyOperator(task_id="early", start_date=START - dt.timedelta(days=5))
        late = EmptyOperator(
            task_id="late",
            start_date=START + dt.timedelta(days=2),
            end_date=START + dt.timedelta(days=30),
        )
    assert inherit.start_date == START and inherit.end_date == START + dt.timedelta(days=10)
    assert early.start_date == START
    assert late.start_date == START + dt.timedelta(days=2)
    assert late.end_date == START + dt.timedelta(days=10)


@pytest.mark.parametrize("bad_id", ["has space", "slash/y", "", "x" * 251, "ok\n"])
def test_invalid_dag_ids(bad_id: str) -> None:
    with pytest.raises(AerovaneDagError, match="dag_id"):
        DAG(bad_id)


@pytest.mark.parametrize("bad_id", ["has space", "é?", "x" * 251])
def test_invalid_task_ids(bad_id: str) -> None:
    with DAG("ids", schedule=None), pytest.raises(AerovaneDagError, match="task_id"):
        EmptyOperator(task_id=bad_id)


def test_valid_ids_allow_dots_dashes_and_underscores() -> None:
    with DAG("a.b-c_d", schedule=None) as dag:
        EmptyOperator(task_id="t.1-x_y")
    assert dag.task_ids == ["t.1-x_y"]


def test_duplicate_task_id_is_an_error() -> None:
    with DAG("dupes", schedule=None), pytest.raises(AerovaneDagError, match="'a' has already been"):
        EmptyOperator(task_id="a")
        EmptyOperator(task_id="a")


def test_cycle_is_reported_when_the_with_block_ends() -> None:
    with (
        pytest.raises(AerovaneDagError, match=r"Cycle detected in DAG: cyc.*a -> b -> c -> a"),
        DAG("cyc", schedule=None),
    ):
        a, b, c = (EmptyOperator(task_id=i) for i in "abc")
        a >> b >> c >> a
    assert current_dag() is None


def test_cycle_added_outside_the_block_is_caught_by_validate() -> None:
    with DAG("late_cycle", schedule=None) as dag:
        a, b = EmptyOperator(task_id="a"), EmptyOperator(task_id="b")
        a >> b
    b >> a
    with pytest.raises(AerovaneDagError, match="Cycle detected"):
        dag.validate()


def test_self_dependency_is_a_cycle() -> None:
    with DAG("selfdep", schedule=None):
        a = EmptyOperator(task_id="a")
        with pytest.raises(AerovaneDagError, match="cannot depend on itself"):
            a >> a


def test_continuous_requires_a_single_active_run() -> None:
    with pytest.raises(AerovaneDagError, match="requires max_active_runs <= 1"):
        DAG("cont", schedule="@continuous")
    assert DAG("cont_ok", schedule="@continuous", max_active_runs=1).timetable.summary == (
        "@continuous"
    )


def test_argument_validation_messages() -> None:
    with pytest.raises(AerovaneDagError, match=r"dagrun_timeout must be a datetime\.timedelta"):
        DAG("t1", dagrun_timeout=5)  # type: ignore[arg-type]
    with pytest.raises(AerovaneDagError, match="max_active_runs must be a positive integer"):
        DAG("t2", max_active_runs=0)
    with pytest.raises(AerovaneDagError, match="at most 100 characters"):
        DAG("t3", tags=["x" * 101])


def test_doc_md_file_beside_the_dag_is_read(tmp_path: Path) -> None:
    dag = DAG("docs", schedule=None, doc_md="# inline")
    assert dag.doc_md == "# inline"
    readme = tmp_path / "README.md"
    readme.write_text("# From a file\n")
    assert DAG("docs_file", schedule=None, doc_md=str(readme)).doc_md == "# From a file\n"
    assert DAG("docs_missing", schedule=None, doc_md="missing.md").doc_md == "missing.md"


def test_autoregistration_collects_dags_built_in_with_blocks() -> None:
    collect_autoregistered_dags()
    with DAG("registered", schedule=None):
        EmptyOperator(task_id="a")
    with DAG("not_registered", schedule=None, auto_register=False):
        EmptyOperator(task_id="a")
    DAG("never_entered", schedule=None)

    @dag_decorator(schedule=None)
    def decorated() -> None:
        EmptyOperator(task_id="x")

    decorated()
    assert [d.dag_id for d in collect_autoregistered_dags()] == ["registered", "decorated"]
    assert collect_autoregistered_dags() == []


def test_unique_task_id_is_constant_time_bookkeeping() -> None:
    with DAG("uniq", schedule=None) as dag:
        EmptyOperator(task_id="job")
        EmptyOperator(task_id="job__5")
    assert dag.unique_task_id("other") == "other"
    assert dag.unique_task_id("job") == "job__6"
    assert dag.unique_task_id("job__5") == "job__6"


def test_time_restriction_uses_task_dates() -> None:
    with DAG("restrict", schedule="@daily") as dag:
        EmptyOperator(task_id="a", start_date=START + dt.timedelta(days=1))
        EmptyOperator(task_id="b", start_date=START, end_date=START + dt.timedelta(days=3))
    restriction = dag.time_restriction
    assert restriction.earliest == START
    assert restriction.latest is None  # task "a" has no end date
    assert restriction.catchup is True


def test_package_dag_name_serves_as_decorator_and_module() -> None:
    # `aerovane.authoring.dag` is both a submodule and the re-exported decorator; code that
    # meant the module (`from aerovane.authoring import dag`) must still work.
    from aerovane.authoring import dag as dag_name
    from aerovane.authoring.dag import DAG as ModuleDAG

    assert dag_name.DAG is ModuleDAG is DAG
    assert dag_name.collect_autoregistered_dags() == []
    with pytest.raises(AttributeError):
        dag_name.no_such_name

"""`POST /dags/{dag_id}/clearTaskInstances` and `.../updateTaskInstancesState`: what they select,
what they change (task instances, history, runs), their errors and who may call them; then the
engine end to end: a real `aerovane scheduler` re-runs what the API cleared or unblocked."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import ROLES, add_run, add_user, update_ti
from tests.api.test_errors import assert_problem
from tests.api.test_task_instances_more import audit_events, history, run_row, ti_row
from tests.conftest import PG_URL
from tests.engine.conftest import Engine, wait_for, write_dag

UTC = dt.UTC
D1 = dt.datetime(2024, 3, 1, tzinfo=UTC)
D2 = dt.datetime(2024, 3, 2, tzinfo=UTC)
D3 = dt.datetime(2024, 3, 3, tzinfo=UTC)
CLEAR = "/dags/etl/clearTaskInstances"
SET_STATE = "/dags/etl/updateTaskInstancesState"
ENDED = D1 + dt.timedelta(minutes=10)


def store_dag(dag: Any) -> None:
    """`dag` as the DAG processor stores a parsed DAG (row and serialized form)."""
    from aerovane.authoring.serialization import SerializedDAG, serialize_dag
    from aerovane.db import models
    from aerovane.db.engine import create_session

    data = serialize_dag(dag)
    serialized = SerializedDAG.from_dict(data)
    with create_session() as session:
        session.add(
            models.DagModel(
                dag_id=dag.dag_id,
                is_paused=False,
                is_active=True,
                fileloc=dag.fileloc,
                max_active_tasks=serialized.max_active_tasks,
                max_active_runs=serialized.max_active_runs,
            )
        )
        session.flush()
        session.add(
            models.SerializedDagModel(
                dag_id=dag.dag_id, fileloc=dag.fileloc, data=data, dag_hash=serialized.dag_hash
            )
        )


@pytest.fixture
def world(accounts: Any) -> None:
    """etl: extract >> transform (2 retries) >> load, three runs.

    run_1 (failed): extract success, transform failed on try 3, load upstream_failed.
    run_2 (failed): extract failed, transform and load upstream_failed.
    run_3 (running): extract running, the others waiting.
    """
    from aerovane.authoring import DAG, EmptyOperator

    with DAG("etl", schedule=None, start_date=D1, auto_register=False) as dag:
        extract = EmptyOperator(task_id="extract")
        transform = EmptyOperator(task_id="transform", retries=2)
        load = EmptyOperator(task_id="load")
        extract >> transform >> load
    dag.fileloc = "/opt/dags/etl.py"
    store_dag(dag)
    for run_id, date in (("run_1", D1), ("run_2", D2), ("run_3", D3)):
        add_run("etl", run_id, logical_date=date, state="failed", start_date=date, end_date=ENDED)
    done = {"start_date": D1, "end_date": ENDED, "duration": 600.0, "try_number": 1}
    update_ti("etl", "run_1", "extract", state="success", **done)
    update_ti("etl", "run_1", "transform", state="failed", **{**done, "try_number": 3})
    update_ti("etl", "run_1", "load", state="upstream_failed", start_date=ENDED, end_date=ENDED)
    update_ti("etl", "run_2", "extract", state="failed", **done)
    update_ti("etl", "run_2", "transform", state="upstream_failed")
    update_ti("etl", "run_2", "load", state="upstream_failed")
    add_run_state("run_3", "running", end_date=None)
    update_ti("etl", "run_3", "extract", state="running", try_number=1, start_date=D3)


def add_run_state(run_id: str, state: str, **values: Any) -> None:
    from tests.api.test_task_instances_more import set_run

    set_run("etl", run_id, state=state, **values)


def refs(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"task_instances"}
    for ref in body["task_instances"]:
        assert set(ref) == {"task_id", "dag_id", "execution_date", "dag_run_id"}
        assert ref["dag_id"] == "etl"
    return [f"{r['dag_run_id']}.{r['task_id']}" for r in body["task_instances"]]


# -- clearTaskInstances -------------------------------------------------------------------------


def test_clear_dry_run_by_default(
    client: httpx.Client, admin: httpx.BasicAuth, world: None
) -> None:
    response = client.post(CLEAR, json={}, auth=admin)
    # only_failed is the default: failed and upstream_failed, every run.
    assert refs(response) == [
        "run_1.load",
        "run_1.transform",
        "run_2.extract",
        "run_2.load",
        "run_2.transform",
    ]
    first = response.json()["task_instances"][0]
    assert first["execution_date"] == "2024-03-01T00:00:00+00:00"
    assert ti_row("etl", "run_1", "transform").state == "failed"
    assert history("etl", "run_1", "transform") == []
    assert audit_events() == ["api.post_clear_task_instances"]


def test_clear_run_resets_task_instances_and_run(
    client: httpx.Client, admin: httpx.BasicAuth, world: None
) -> None:
    body = {"dry_run": False, "dag_run_id": "run_1", "reset_dag_runs": True}
    assert refs(client.post(CLEAR, json=body, auth=admin)) == ["run_1.load", "run_1.transform"]
    transform = ti_row("etl", "run_1", "transform")
    assert transform.state is None
    # Its retries are granted again: tries 4..6 may run.
    assert (transform.try_number, transform.max_tries) == (3, 3 + 2)
    (archived,) = history("etl", "run_1", "transform")
    assert (archived.try_number, archived.state, archived.end_date) == (3, "failed", ENDED)
    load = ti_row("etl", "run_1", "load")
    assert (load.state, load.max_tries) == (None, 0)
    assert history("etl", "run_1", "load") == []  # never ran: nothing to archive
    assert ti_row("etl", "run_1", "extract").state == "success"
    run = run_row("etl", "run_1")
    assert (run.state, run.start_date, run.end_date, run.clear_number) == ("queued", None, None, 1)
    assert run.last_scheduling_decision is None
    assert run_row("etl", "run_2").state == "failed"


def test_clear_without_reset_leaves_the_run(
    client: httpx.Client, admin: httpx.BasicAuth, world: None
) -> None:
    body = {"dry_run": False, "dag_run_id": "run_2"}
    assert len(refs(client.post(CLEAR, json=body, auth=admin))) == 3
    assert ti_row("etl", "run_2", "extract").state is None
    # Airflow's default: the run keeps its state.
    assert run_row("etl", "run_2").state == "failed"


def test_clear_relatives(client: httpx.Client, admin: httpx.BasicAuth, world: None) -> None:
    def cleared(**body: Any) -> list[str]:
        return refs(client.post(CLEAR, json={"dag_run_id": "run_1", **body}, auth=admin))

    assert cleared(task_ids=["extract"], only_failed=False) == ["run_1.extract"]
    assert cleared(task_ids=["extract"], only_failed=False, include_downstream=True) == [
        "run_1.extract",
        "run_1.load",
        "run_1.transform",
    ]
    assert cleared(task_ids=["load"], only_failed=False, include_upstream=True) == [
        "run_1.extract",
        "run_1.load",
        "run_1.transform",
    ]
    assert cleared(task_ids=["extract"], include_downstream=True) == [
        "run_1.load",
        "run_1.transform",
    ]
    assert cleared(task_ids=["nope"]) == []


def test_clear_runs_by_date(client: httpx.Client, admin: httpx.BasicAuth, world: None) -> None:
    def runs(**body: Any) -> list[str]:
        found = refs(client.post(CLEAR, json={"task_ids": ["extract"], **body}, auth=admin))
        return [key.split(".")[0] for key in found]

    everything = {"only_failed": False}
    assert runs(**everything, dag_run_id="run_2") == ["run_2"]
    assert runs(**everything, dag_run_id="run_2", include_future=True) == ["run_2", "run_3"]
    assert runs(**everything, dag_run_id="run_2", include_past=True) == ["run_1", "run_2"]
    assert runs(**everything, start_date="2024-03-02T00:00:00Z") == ["run_2", "run_3"]
    assert runs(**everything, end_date="2024-03-02T00:00:00+00:00") == ["run_1", "run_2"]
    assert runs(
        **everything, start_date="2024-03-02T00:00:00Z", end_date="2024-03-02T00:00:00Z"
    ) == ["run_2"]
    assert runs(only_failed=False, only_running=True) == ["run_3"]


def test_clear_running_task_instance_restarts_it(
    client: httpx.Client, admin: httpx.BasicAuth, world: None
) -> None:
    before = dt.datetime.now(UTC)
    body = {"dry_run": False, "only_failed": False, "only_running": True, "reset_dag_runs": True}
    assert refs(client.post(CLEAR, json=body, auth=admin)) == ["run_3.extract"]
    extract = ti_row("etl", "run_3", "extract")
    # Its process stops at its next heartbeat; the retry starts after that.
    assert extract.state == "up_for_retry"
    assert extract.next_retry_at is not None and extract.next_retry_at > before
    assert extract.end_date is not None and extract.end_date >= before
    assert extract.max_tries == 0
    (archived,) = history("etl", "run_3", "extract")
    assert (archived.try_number, archived.state) == (1, "failed")
    assert run_row("etl", "run_3").state == "running"


def test_clear_queued_task_instance(
    client: httpx.Client, admin: httpx.BasicAuth, world: None
) -> None:
    update_ti("etl", "run_3", "transform", state="queued", try_number=1, start_date=None)
    body = {
        "dry_run": False,
        "only_failed": False,
        "task_ids": ["transform"],
        "dag_run_id": "run_3",
    }
    assert refs(client.post(CLEAR, json=body, auth=admin)) == ["run_3.transform"]
    assert ti_row("etl", "run_3", "transform").state is None
    (archived,) = history("etl", "run_3", "transform")
    assert (archived.state, archived.start_date) == ("failed", None)


def test_clear_is_idempotent_for_history(
    client: httpx.Client, admin: httpx.BasicAuth, world: None
) -> None:
    body = {
        "dry_run": False,
        "dag_run_id": "run_1",
        "only_failed": False,
        "task_ids": ["transform"],
    }
    refs(client.post(CLEAR, json=body, auth=admin))
    refs(client.post(CLEAR, json=body, auth=admin))
    assert [h.try_number for h in history("etl", "run_1", "transform")] == [3]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            {"only_failed": True, "only_running": True},
            "{'_schema': ['only_failed and only_running both are set to True']}",
        ),
        (
            {"start_date": "2024-03-02T00:00:00Z", "end_date": "2024-03-01T00:00:00Z"},
            "{'_schema': ['end_date is sooner than start_date']}",
        ),
        (
            {
                "start_date": "2024-03-01T00:00:00Z",
                "end_date": "2024-03-02T00:00:00Z",
                "dag_run_id": "run_1",
            },
            "{'_schema': ['Exactly one of dag_run_id or (start_date and end_date) must be "
            "provided']}",
        ),
        (
            {"start_date": "2024-03-01T00:00:00Z", "dag_run_id": "run_1"},
            "{'_schema': ['Exactly one of dag_run_id or start_date must be provided']}",
        ),
        (
            {"end_date": "2024-03-01T00:00:00Z", "dag_run_id": "run_1"},
            "{'_schema': ['Exactly one of dag_run_id or end_date must be provided']}",
        ),
    ],
)
def test_clear_form_errors(
    client: httpx.Client, admin: httpx.BasicAuth, world: None, body: Any, detail: str
) -> None:
    assert_problem(client.post(CLEAR, json=body, auth=admin), 400, detail=detail)


def test_clear_bad_bodies(client: httpx.Client, admin: httpx.BasicAuth, world: None) -> None:
    for body in (
        {"task_ids": []},
        {"task_ids": "extract"},
        {"dry_run": "maybe"},
        {"start_date": "2024-03-01T00:00:00"},
        {"start_date": "yesterday"},
        {"surprise": True},
    ):
        assert_problem(client.post(CLEAR, json=body, auth=admin), 400)
    assert_problem(client.post(CLEAR, auth=admin), 400, detail="Request body must not be empty")
    assert_problem(
        client.post(CLEAR, json={"start_date": "2024-03-01T00:00:00"}, auth=admin),
        400,
        detail="Naive datetime is disallowed - 'start_date'",
    )
    assert ti_row("etl", "run_1", "transform").state == "failed"


def test_clear_not_found(client: httpx.Client, admin: httpx.BasicAuth, world: None) -> None:
    assert_problem(
        client.post("/dags/ghost/clearTaskInstances", json={}, auth=admin),
        404,
        title="Dag id ghost not found",
        detail=None,
    )
    assert_problem(
        client.post(CLEAR, json={"dag_run_id": "nope"}, auth=admin),
        404,
        title="Dag Run id nope not found in dag etl",
        detail=None,
    )


# -- updateTaskInstancesState -------------------------------------------------------------------

FLAGS = {
    "include_upstream": False,
    "include_downstream": False,
    "include_future": False,
    "include_past": False,
}


def set_state(client: httpx.Client, auth: Any, **body: Any) -> httpx.Response:
    return client.post(SET_STATE, json={**FLAGS, **body}, auth=auth)


def test_set_state_dry_run_by_default(
    client: httpx.Client, admin: httpx.BasicAuth, world: None
) -> None:
    response = set_state(
        client, admin, task_id="transform", dag_run_id="run_1", new_state="success"
    )
    assert refs(response) == ["run_1.transform"]
    assert ti_row("etl", "run_1", "transform").state == "failed"
    assert audit_events() == ["api.post_set_task_instances_state"]


def test_set_state_resumes_downstream(
    client: httpx.Client, admin: httpx.BasicAuth, world: None
) -> None:
    response = set_state(
        client, admin, task_id="transform", dag_run_id="run_1", new_state="success", dry_run=False
    )
    assert refs(response) == ["run_1.transform"]
    transform = ti_row("etl", "run_1", "transform")
    # A finished attempt keeps its times.
    assert (transform.state, transform.end_date, transform.duration) == ("success", ENDED, 600.0)
    # The failed downstream task is cleared and its run queued for the scheduler.
    assert ti_row("etl", "run_1", "load").state is None
    run = run_row("etl", "run_1")
    assert (run.state, run.end_date) == ("queued", None)
    assert run_row("etl", "run_2").state == "failed"


def test_set_state_relatives_and_runs(
    client: httpx.Client, admin: httpx.BasicAuth, world: None
) -> None:
    def marked(**body: Any) -> list[str]:
        return refs(set_state(client, admin, **body))

    assert marked(task_id="transform", dag_run_id="run_1", new_state="failed") == []
    assert marked(
        task_id="transform", dag_run_id="run_1", new_state="failed", include_downstream=True
    ) == ["run_1.load"]
    assert marked(
        task_id="transform", dag_run_id="run_1", new_state="success", include_upstream=True
    ) == ["run_1.transform"]
    assert marked(
        task_id="extract", execution_date="2024-03-02T00:00:00+00:00", new_state="success"
    ) == ["run_2.extract"]
    assert marked(
        task_id="extract", dag_run_id="run_2", new_state="skipped", include_future=True
    ) == ["run_2.extract", "run_3.extract"]
    assert marked(
        task_id="extract", dag_run_id="run_2", new_state="skipped", include_past=True
    ) == ["run_1.extract", "run_2.extract"]
    assert marked(
        task_id="extract",
        dag_run_id="run_2",
        new_state="failed",
        include_past=True,
        include_future=True,
    ) == ["run_1.extract", "run_3.extract"]


def test_set_state_dates(client: httpx.Client, admin: httpx.BasicAuth, world: None) -> None:
    before = dt.datetime.now(UTC)
    body = {"dag_run_id": "run_3", "new_state": "success", "dry_run": False}
    refs(set_state(client, admin, task_id="extract", **body))
    extract = ti_row("etl", "run_3", "extract")
    # Running: it ends now, having started when it started.
    assert extract.start_date == D3
    assert extract.end_date >= before
    assert extract.duration == pytest.approx((extract.end_date - D3).total_seconds())
    refs(set_state(client, admin, task_id="transform", **body))
    transform = ti_row("etl", "run_3", "transform")
    # Never started: it starts and ends now.
    assert transform.start_date == transform.end_date and transform.start_date >= before
    assert transform.duration == 0.0
    assert run_row("etl", "run_3").state == "running"


def test_set_state_form_errors(client: httpx.Client, admin: httpx.BasicAuth, world: None) -> None:
    exactly_one = "{'_schema': ['Exactly one of execution_date or dag_run_id must be provided']}"
    assert_problem(
        set_state(client, admin, task_id="extract", new_state="success"), 400, detail=exactly_one
    )
    assert_problem(
        set_state(
            client,
            admin,
            task_id="extract",
            new_state="success",
            dag_run_id="run_1",
            execution_date="2024-03-01T00:00:00Z",
        ),
        400,
        detail=exactly_one,
    )
    bad = (
        {"task_id": "extract", "dag_run_id": "run_1", "new_state": "running", **FLAGS},
        {"task_id": "extract", "dag_run_id": "run_1", "new_state": "success"},
        {"dag_run_id": "run_1", "new_state": "success", **FLAGS},
        {"task_id": "x", "execution_date": "2024-03-01T00:00:00", "new_state": "failed", **FLAGS},
    )
    for body in bad:
        assert_problem(client.post(SET_STATE, json=body, auth=admin), 400)


def test_set_state_not_found(client: httpx.Client, admin: httpx.BasicAuth, world: None) -> None:
    assert_problem(
        client.post(
            "/dags/ghost/updateTaskInstancesState",
            json={**FLAGS, "task_id": "x", "dag_run_id": "r", "new_state": "failed"},
            auth=admin,
        ),
        404,
        title="Dag ID ghost not found",
        detail=None,
    )
    assert_problem(
        set_state(client, admin, task_id="nope", dag_run_id="run_1", new_state="failed"),
        404,
        title="Task ID nope not found",
    )
    assert_problem(
        set_state(client, admin, task_id="extract", dag_run_id="nope", new_state="failed"),
        404,
        title="Not Found",
        detail="Task instance not found for task 'extract' on DAG run with ID 'nope'",
    )
    assert_problem(
        set_state(
            client,
            admin,
            task_id="extract",
            execution_date="2024-05-01T00:00:00+00:00",
            new_state="failed",
        ),
        404,
        detail=(
            "Task instance not found for task 'extract' on execution_date 2024-05-01 00:00:00+00:00"
        ),
    )


# -- who may call ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_default_roles(client: httpx.Client, accounts: Any, world: None, role: str) -> None:
    auth = accounts[role].auth
    expected = 200 if role in {"Admin", "Op", "User"} else 403
    clear = client.post(CLEAR, json={}, auth=auth)
    assert clear.status_code == expected, clear.text
    marked = set_state(client, auth, task_id="extract", dag_run_id="run_1", new_state="failed")
    assert marked.status_code == expected, marked.text
    if expected == 403:
        assert audit_events() == []
    assert_problem(client.post(CLEAR, json={}), 401)


# -- the engine end to end ------------------------------------------------------------------------

START = "datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A real scheduler over a fresh home (as tests/engine/conftest.py), with a short task
    heartbeat so an attempt changed from outside stops quickly."""
    from aerovane.config import ensure_home, reload_settings
    from aerovane.db.engine import dispose_engines
    from aerovane.db.migrate import migrate

    home = tmp_path_factory.mktemp("engine") / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AEROVANE__", "AIRFLOW__"))}
    env.update(
        AEROVANE_HOME=str(home),
        AEROVANE__CORE__LOAD_EXAMPLES="False",
        AEROVANE__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AEROVANE__SCHEDULER__DAG_DIR_LIST_INTERVAL="0.2",
        AEROVANE__SCHEDULER__MIN_FILE_PROCESS_INTERVAL="0",
        AEROVANE__SCHEDULER__TASK_HEARTBEAT_SEC="0.2",
    )
    if PG_URL:
        env["AEROVANE__DATABASE__SQL_ALCHEMY_CONN"] = PG_URL
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith(("AEROVANE__", "AIRFLOW__")):
                mp.delenv(key)
        for key, value in env.items():
            if key.startswith("AEROVANE"):
                mp.setenv(key, value)
        dispose_engines()
        reload_settings()
        settings = ensure_home()
        if PG_URL:
            from tests.conftest import _reset_postgres

            _reset_postgres()
        else:
            migrate()
        eng = Engine(home=home, dags=settings.dags_folder, env=env)
        eng.proc = subprocess.Popen(
            [sys.executable, "-m", "aerovane", "scheduler"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(home / "scheduler.log", "wb"),  # noqa: SIM115
        )
        try:
            yield eng
        finally:
            eng.proc.send_signal(signal.SIGTERM)
            try:
                eng.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                eng.proc.kill()
                eng.proc.wait()
            dispose_engines()
            reload_settings()


@pytest.fixture(scope="module")
def api(engine: Engine, _server_holder: Any) -> Iterator[httpx.Client]:
    """The API (the session's server reads the current settings: the engine's home) as Admin."""
    account = add_user("engine-admin", ["Admin"])
    with httpx.Client(
        base_url=_server_holder.ensure() + "/api/v1", auth=account.auth, timeout=30
    ) as client:
        yield client


def _ti_state(engine: Engine, dag_id: str, run_id: str, task_id: str) -> Any:
    return engine.tis(dag_id, run_id)[task_id]


@pytest.mark.slow
def test_engine_reruns_a_cleared_failed_task(engine: Engine, api: httpx.Client) -> None:
    marker = engine.home / "fixed"
    write_dag(
        engine.dags,
        "clear_me.py",
        f"""
        import datetime
        from aerovane.authoring import DAG, BashOperator
        with DAG("clear_me", schedule=None, start_date={START}):
            check = BashOperator(task_id="check", bash_command="test -f {marker}")
            after = BashOperator(task_id="after", bash_command="echo after")
            check >> after
        """,
    )
    engine.wait_dag("clear_me")
    run_id = engine.trigger("clear_me")
    assert engine.wait_run("clear_me", run_id) == "failed"
    assert _ti_state(engine, "clear_me", run_id, "check").state == "failed"
    assert _ti_state(engine, "clear_me", run_id, "after").state == "upstream_failed"

    marker.write_text("ok")
    response = api.post(
        "/dags/clear_me/clearTaskInstances",
        json={"dry_run": False, "dag_run_id": run_id, "reset_dag_runs": True},
    )
    assert refs_of(response) == ["after", "check"]
    assert engine.wait_run("clear_me", run_id) == "success"
    tis = engine.tis("clear_me", run_id)
    assert (tis["check"].state, tis["check"].try_number) == ("success", 2)
    assert tis["after"].state == "success"
    tries = api.get(f"/dags/clear_me/dagRuns/{run_id}/taskInstances/check/tries").json()
    assert [(t["try_number"], t["state"]) for t in tries["task_instances"]] == [
        (1, "failed"),
        (2, "success"),
    ]


@pytest.mark.slow
def test_engine_restarts_a_cleared_running_task(engine: Engine, api: httpx.Client) -> None:
    write_dag(
        engine.dags,
        "restart_me.py",
        f"""
        import datetime
        from aerovane.authoring import DAG, BashOperator
        with DAG("restart_me", schedule=None, start_date={START}):
            BashOperator(
                task_id="work", bash_command="[ {{{{ ti.try_number }}}} -gt 1 ] || sleep 60"
            )
        """,
    )
    engine.wait_dag("restart_me")
    run_id = engine.trigger("restart_me")
    wait_for(
        lambda: _ti_state(engine, "restart_me", run_id, "work").state == "running",
        30,
        "the first attempt to run",
    )
    response = api.post(
        "/dags/restart_me/clearTaskInstances",
        json={"dry_run": False, "dag_run_id": run_id, "only_failed": False},
    )
    assert refs_of(response) == ["work"]
    # The first attempt (sleeping a minute) is terminated; the second one finishes at once.
    assert engine.wait_run("restart_me", run_id) == "success"
    work = _ti_state(engine, "restart_me", run_id, "work")
    assert (work.state, work.try_number) == ("success", 2)
    assert "changed externally" in engine.log("restart_me", run_id, "work", 1)
    tries = api.get(f"/dags/restart_me/dagRuns/{run_id}/taskInstances/work/tries").json()
    assert [(t["try_number"], t["state"]) for t in tries["task_instances"]] == [
        (1, "failed"),
        (2, "success"),
    ]


@pytest.mark.slow
def test_engine_resumes_after_marking_success(engine: Engine, api: httpx.Client) -> None:
    write_dag(
        engine.dags,
        "mark_me.py",
        f"""
        import datetime
        from aerovane.authoring import DAG, BashOperator
        with DAG("mark_me", schedule=None, start_date={START}):
            broken = BashOperator(task_id="broken", bash_command="exit 1")
            after = BashOperator(task_id="after", bash_command="echo after")
            broken >> after
        """,
    )
    engine.wait_dag("mark_me")
    run_id = engine.trigger("mark_me")
    assert engine.wait_run("mark_me", run_id) == "failed"
    response = api.patch(
        f"/dags/mark_me/dagRuns/{run_id}/taskInstances/broken",
        json={"dry_run": False, "new_state": "success"},
    )
    assert response.status_code == 200, response.text
    assert engine.wait_run("mark_me", run_id) == "success"
    tis = engine.tis("mark_me", run_id)
    assert (tis["broken"].state, tis["broken"].try_number) == ("success", 1)
    assert (tis["after"].state, tis["after"].try_number) == ("success", 1)


def refs_of(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(r["task_id"] for r in response.json()["task_instances"])

"""The DAG pages over HTTP: list, grid, graph, code, runs, trigger form, task instance and its
log, mark/clear, and who may see and do what (page x role)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select, update

from aerovane.authoring import DAG, BashOperator, Param
from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.services.dag_runs import trigger_dag_run
from aerovane.services.dags import set_paused
from aerovane.services.task_logs import log_path
from tests.api.conftest import add_role, add_user
from tests.api.test_dags_more import store_dags
from tests.services.test_ui_data import grouped_dag
from tests.www.conftest import Browserish, csrf_token, sign_in

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def params_dag() -> DAG:
    with DAG(
        "with_params",
        schedule="@daily",
        start_date=START,
        tags=["ui"],
        params={
            "count": Param(2, type="integer", minimum=0, description="How many"),
            "name": Param("world", type="string"),
            "mode": Param("fast", enum=["fast", "slow"]),
        },
        auto_register=False,
    ) as dag:
        BashOperator(task_id="hello", bash_command="echo {{ params.name }}")
    return dag


@pytest.fixture
def dags(tmp_path: Path, accounts: dict) -> Path:
    store_dags(tmp_path / "dags" / "ui.py", params_dag(), grouped_dag(), source="# the source\n")
    with create_session() as session:  # new DAGs start paused ([core] dags_are_paused_at_creation)
        set_paused(["grouped", "with_params"], False, session=session)
    return tmp_path


def _run(dag_id: str, **kwargs: object) -> str:
    with create_session() as session:
        return trigger_dag_run(dag_id, session=session, **kwargs).run_id  # type: ignore[arg-type]


def test_dag_list_shows_filters_and_paginates(
    dags: Path, signed_in: Callable[[str], Browserish]
) -> None:
    _run("with_params", conf={"count": 3})
    admin = signed_in("Admin")
    page = admin.get("/home")
    assert page.status_code == 200, page.text
    assert 'data-dag-id="grouped"' in page.text and 'data-dag-id="with_params"' in page.text
    assert "@daily" in page.text and 'class="dot state-queued"' in page.text
    assert "Trigger with_params" in page.text
    tagged = admin.get("/home", params={"tags": "ui"})
    assert 'data-dag-id="with_params"' in tagged.text
    assert 'data-dag-id="grouped"' not in tagged.text
    searched = admin.get("/home", params={"search": "GROUP"})
    assert 'data-dag-id="grouped"' in searched.text
    assert 'data-dag-id="with_params"' not in searched.text


def test_pause_toggle_and_viewer_cannot(dags: Path, signed_in: Callable[[str], Browserish]) -> None:
    op = signed_in("Op")
    response = op.post_form("/home", "/dags/grouped/paused", {"is_paused": "true"})
    assert response.status_code == 303
    with create_session(readonly=True) as session:
        assert session.get(models.DagModel, "grouped").is_paused  # type: ignore[union-attr]
    paused = op.get("/home", params={"status": "paused"})
    assert 'data-dag-id="grouped"' in paused.text
    assert 'data-dag-id="with_params"' not in paused.text

    viewer = signed_in("Viewer")
    page = viewer.get("/home")
    assert 'class="inline pause-toggle"' not in page.text and "Trigger" not in page.text
    refused = viewer.post(
        "/dags/grouped/paused",
        data={"csrf_token": _logout_token(viewer), "is_paused": "false"},
    )
    assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]


def _logout_token(client: Browserish) -> str:
    return csrf_token(client.get("/home").text)  # the sign-out form carries one


def test_grid_graph_code_and_runs(dags: Path, signed_in: Callable[[str], Browserish]) -> None:
    old = _run("grouped", logical_date=START)
    with create_session() as session:
        session.execute(
            update(models.TaskInstance)
            .where(models.TaskInstance.run_id == old, models.TaskInstance.task_id == "start")
            .values(state="failed", try_number=1)
        )
    viewer = signed_in("Viewer")
    grid = viewer.get("/dags/grouped/grid")
    assert grid.status_code == 200, grid.text
    assert 'data-task-id="section"' in grid.text
    assert 'data-task-id="section.inner"' not in grid.text  # groups start collapsed
    assert 'class="cell state-failed' in grid.text
    assert 'data-live="yes"' in grid.text  # a queued run: the grid follows it
    opened = viewer.get("/dags/grouped/grid", params={"expand": "section"})
    assert 'data-task-id="section.inner"' in opened.text
    assert 'data-task-id="section.deep.deepest"' not in opened.text
    every = viewer.get(
        "/dags/grouped/grid", params=[("expand", "section"), ("expand", "section.deep")]
    )
    assert 'data-task-id="section.deep.deepest"' in every.text
    assert "trigger-button" not in grid.text  # a Viewer may not trigger

    graph = viewer.get("/dags/grouped/graph", params={"run_id": old})
    data = json.loads(
        re.search(r'id="graph-data">(.*?)</script>', graph.text, re.S).group(1)  # type: ignore[union-attr]
    )
    assert {n["id"] for n in data["nodes"]} >= {"start", "section.inner", "each"}
    assert data["states"]["start"] == "failed"
    assert "/static/vendor/dagre/dagre-3.1.3.min.js" in graph.text
    assert viewer.get("/static/vendor/dagre/dagre-3.1.3.min.js").status_code == 200

    code = viewer.get("/dags/grouped/code")
    assert "# the source" in code.text
    runs = viewer.get("/dags/grouped/runs", params={"state": "queued"})
    assert f'data-run-id="{old}"' in runs.text
    none = viewer.get("/dags/grouped/runs", params={"state": "success"})
    assert f'data-run-id="{old}"' not in none.text
    assert viewer.get("/dags/nope/grid").status_code == 404


def test_trigger_form_from_params_keeps_input_on_errors(
    dags: Path, signed_in: Callable[[str], Browserish]
) -> None:
    op = signed_in("Op")
    form = op.get("/dags/with_params/trigger")
    assert form.status_code == 200
    assert 'id="param-count"' in form.text and 'type="number"' in form.text
    assert "How many" in form.text and 'id="param-mode"' in form.text
    assert "&#34;count&#34;: 2" in form.text or '"count": 2' in form.text
    token = csrf_token(form.text)

    bad_json = op.post(
        "/dags/with_params/trigger",
        data={"csrf_token": token, "conf": '{"count": 3,', "note": "keep me"},
    )
    assert bad_json.status_code == 400
    assert "not valid JSON" in bad_json.text
    assert "{&#34;count&#34;: 3," in bad_json.text and 'value="keep me"' in bad_json.text

    bad_param = op.post(
        "/dags/with_params/trigger",
        data={"csrf_token": token, "conf": '{"count": -1}'},
    )
    assert bad_param.status_code == 400 and "count" in bad_param.text
    with create_session(readonly=True) as session:
        assert session.scalar(select(models.DagRun.run_id)) is None

    done = op.post(
        "/dags/with_params/trigger",
        data={"csrf_token": token, "conf": '{"count": 5, "name": "ui"}'},
    )
    assert done.status_code == 303 and "/dags/with_params/grid" in done.headers["location"]
    with create_session(readonly=True) as session:
        run = session.scalars(select(models.DagRun)).one()
    assert run.conf == {"count": 5, "name": "ui"} and run.triggered_by == "ui"
    with create_session(readonly=True) as session:
        events = session.scalars(select(models.EventLog.event).where(models.EventLog.owner == "op"))
        assert "ui.trigger" in set(events)


def test_viewer_gets_no_trigger_form_and_403_when_posting(
    dags: Path, signed_in: Callable[[str], Browserish]
) -> None:
    viewer = signed_in("Viewer")
    assert viewer.get("/dags/with_params/trigger").status_code == 403
    posted = viewer.post(
        "/dags/with_params/trigger", data={"csrf_token": _logout_token(viewer), "conf": "{}"}
    )
    assert posted.status_code == 403
    assert "<html" in posted.text
    with create_session(readonly=True) as session:
        assert session.scalar(select(models.DagRun.run_id)) is None


def test_task_instance_page_log_follow_and_actions(
    dags: Path, signed_in: Callable[[str], Browserish]
) -> None:
    run_id = _run("with_params")
    with create_session() as session:
        session.execute(
            update(models.TaskInstance)
            .where(models.TaskInstance.run_id == run_id)
            .values(state="running", try_number=1, rendered_fields={"bash_command": "echo hi"})
        )
    path = log_path("with_params", run_id, "hello", 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("first line <b>\n", encoding="utf-8")
    op = signed_in("Op")
    url = f"/dags/with_params/runs/{run_id}/tasks/hello"
    page = op.get(url)
    assert page.status_code == 200, page.text
    assert "first line &lt;b&gt;" in page.text
    assert "echo hi" in page.text
    follow = re.search(r'hx-get="([^"]+/log\?[^"]+)"', page.text)
    assert follow, "a running try's log is followed"
    with path.open("a", encoding="utf-8") as fh:
        fh.write("second line\n")
    more = op.get(follow.group(1).replace("&amp;", "&"))
    assert more.status_code == 200
    assert more.text.startswith("second line\n") and "hx-get" in more.text

    marked = op.post(url + "/state", data={"csrf_token": csrf_token(page.text), "state": "failed"})
    assert marked.status_code == 303
    done = op.get(url)
    assert "state-failed" in done.text
    assert 'hx-get="' not in done.text.split('id="log"')[1].split("</pre>")[0]
    cleared = op.post(
        url + "/clear", data={"csrf_token": csrf_token(done.text), "downstream": "on"}
    )
    assert cleared.status_code == 303
    with create_session(readonly=True) as session:
        ti = session.scalars(select(models.TaskInstance)).one()
    assert ti.state is None

    viewer = signed_in("Viewer")
    seen = viewer.get(url)
    assert seen.status_code == 200 and "mark-success" not in seen.text
    refused = viewer.post(
        url + "/state", data={"csrf_token": _logout_token(viewer), "state": "success"}
    )
    assert refused.status_code == 403


def test_per_dag_access(dags: Path, base_url: str) -> None:
    """A role with one DAG sees only that DAG and gets 403 on the other's pages."""
    add_role(
        "OneDag",
        {
            ("can_read", "DAG:grouped"),
            ("can_read", "DAG Runs"),
            ("can_read", "Task Instances"),
            ("menu_access", "DAGs"),
        },
    )
    client = sign_in(base_url, add_user("one", ["OneDag"], password="One-pw-123"))
    try:
        home = client.get("/home")
        assert 'data-dag-id="grouped"' in home.text
        assert 'data-dag-id="with_params"' not in home.text
        assert client.get("/dags/grouped/grid").status_code == 200
        assert client.get("/dags/with_params/grid").status_code == 403
        assert client.get("/dags/grouped/trigger").status_code == 403
    finally:
        client.close()


_PAGES = {
    "list": "/home",
    "grid": "/dags/grouped/grid",
    "graph": "/dags/grouped/graph",
    "code": "/dags/grouped/code",
    "runs": "/dags/grouped/runs",
    "trigger": "/dags/grouped/trigger",
    "browse runs": "/dagrun/list/",
    "browse task instances": "/taskinstance/list/",
    "datasets": "/datasets",
}


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("Admin", dict.fromkeys(_PAGES, 200)),
        ("Op", dict.fromkeys(_PAGES, 200)),
        ("User", dict.fromkeys(_PAGES, 200)),
        ("Viewer", {**dict.fromkeys(_PAGES, 200), "trigger": 403}),
        ("Public", dict.fromkeys(_PAGES, 403)),
    ],
)
def test_page_by_role(
    dags: Path, signed_in: Callable[[str], Browserish], role: str, expected: dict[str, int]
) -> None:
    client = signed_in(role)
    got = {name: client.get(path).status_code for name, path in _PAGES.items()}
    assert got == expected


def test_browse_pages(dags: Path, signed_in: Callable[[str], Browserish]) -> None:
    from aerovane.dag_processing.writer import store_parse_result
    from aerovane.services.datasets import create_event, ensure_datasets

    run_id = _run("grouped", logical_date=START)
    with create_session() as session:
        store_parse_result("/dags/broken.py", [], "SyntaxError: boom", session=session)
        ensure_datasets(["s3://bucket/out"], session=session)
    with create_session() as session:
        create_event("s3://bucket/out", extra={"rows": 3}, session=session)
    admin = signed_in("Admin")
    runs = admin.get("/dagrun/list/", params={"dag_id": "grouped"})
    assert runs.status_code == 200 and f'data-run-id="{run_id}"' in runs.text
    tis = admin.get("/taskinstance/list/", params={"dag_id": "grouped", "task_id": "start"})
    assert tis.status_code == 200 and "/tasks/start" in tis.text
    assert "/tasks/section.inner" not in tis.text
    datasets = admin.get("/datasets")
    assert "s3://bucket/out" in datasets.text and '"rows": 3' in datasets.text
    home = admin.get("/home")
    assert "1 DAG import error" in home.text
    errors = admin.get("/import-errors")
    assert "SyntaxError: boom" in errors.text
    admin.post_form("/home", "/dags/grouped/paused", {"is_paused": "true"})
    audit = admin.get("/log/list/", params={"event": "ui.paused"})
    assert audit.status_code == 200 and "ui.paused" in audit.text

    viewer = signed_in("Viewer")
    assert 'href="/dagrun/list/"' in viewer.get("/home").text
    assert 'href="/log/list/"' not in viewer.get("/home").text
    assert viewer.get("/log/list/").status_code == 403
    assert viewer.get("/taskinstance/list/").status_code == 200

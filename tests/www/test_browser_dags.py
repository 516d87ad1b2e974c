"""In Chromium, against a real scheduler: trigger a DAG with a conf from the trigger form and
watch the grid reach success and the log show the conf; a failed task's log from the grid; a
Viewer has no trigger button and is refused when posting the form anyway.

The UI is the API app on its own uvicorn server over the engine's database (the scheduler is a
separate process). Screenshots of the pages go to docs/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.api.conftest import add_user, run_server
from tests.engine.conftest import Engine, engine, engine_env  # noqa: F401
from tests.www.browser import screenshot, sign_in_on_form

#: The first test also starts a scheduler and waits for it to parse the DAGs: on a busy shared
#: machine that alone can take a minute or two, so the per-test limit is raised for this module.
pytestmark = pytest.mark.timeout(300)

START = "datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)"

DAG_FILES = {
    "ui_conf.py": f"""
        import datetime
        from aerovane.authoring import DAG, BashOperator, EmptyOperator, Param, TaskGroup
        with DAG(
            "ui_conf",
            schedule=None,
            start_date={START},
            tags=["ui", "example"],
            params={{
                "who": Param("world", type="string", description="Whom to greet"),
                "times": Param(1, type="integer", minimum=1),
            }},
        ):
            start = EmptyOperator(task_id="start")
            with TaskGroup("greet") as greet:
                BashOperator(
                    task_id="echo",
                    bash_command="echo conf={{{{ dag_run.conf }}}} who={{{{ params.who }}}}",
                )
            start >> greet
    """,
    "ui_fail.py": f"""
        import datetime
        from aerovane.authoring import DAG, BashOperator
        with DAG("ui_fail", schedule=None, start_date={START}, tags=["ui"]):
            BashOperator(task_id="boom", bash_command="echo boom-marker-42; exit 3", retries=0)
    """,
}


@pytest.fixture(scope="module")
def ui(engine: Engine) -> Iterator[str]:  # noqa: F811
    """The UI over the engine's database, with an Op and a Viewer."""
    from aerovane.api.app import create_app

    engine.wait_dag("ui_conf", timeout=120)
    engine.wait_dag("ui_fail", timeout=120)
    add_user("op", ["Op"], password="Op-pw")
    add_user("viewer", ["Viewer"], password="Viewer-pw")
    with run_server(create_app()) as url:
        yield url


def test_trigger_with_conf_watch_grid_and_log(ui: str, new_page: Callable[[str], Page]) -> None:
    page = new_page(ui)
    sign_in_on_form(page, "op", "Op-pw")
    row = page.locator("tr[data-dag-id=ui_conf]")
    expect(row).to_be_visible()
    screenshot(page, "dag-list")
    row.get_by_role("link", name="Trigger ui_conf").click()
    expect(page.locator("#trigger-form")).to_be_visible()
    page.fill("#param-who", "browser")  # the param field writes into the conf JSON
    expect(page.locator("#conf")).to_have_value(re.compile(r'"who": "browser"'))
    screenshot(page, "trigger")
    page.locator("#trigger-submit").click()
    expect(page.locator(".flash.success")).to_contain_text("Triggered ui_conf")
    # The grid follows the run until it ends.
    expect(page.locator("a.run-bar").first).to_have_attribute("data-state", "success")
    page.locator("a.group-toggle").click()
    cell = page.locator("tr[data-task-id='greet.echo'] a.cell")
    expect(cell).to_have_attribute("data-state", "success")
    screenshot(page, "grid")
    cell.click()
    expect(page.locator("#log")).to_contain_text("who=browser")
    expect(page.locator("#log")).to_contain_text("'who': 'browser'")
    screenshot(page, "task-instance")
    page.get_by_role("link", name="Graph").click()
    expect(page.locator("#graph svg g.node[data-task-id='greet.echo']")).to_be_visible()
    screenshot(page, "graph")


def test_failed_task_log_from_the_grid(
    ui: str,
    engine: Engine,  # noqa: F811
    new_page: Callable[[str], Page],
) -> None:
    run_id = engine.trigger("ui_fail")
    page = new_page(ui)
    sign_in_on_form(page, "op", "Op-pw", target="/dags/ui_fail/grid")
    cell = page.locator("tr[data-task-id=boom] a.cell")
    expect(cell).to_have_attribute("data-state", "failed")
    cell.click()
    expect(page).to_have_url(re.compile(r"/dags/ui_fail/runs/.+/tasks/boom"))
    expect(page.locator("main")).to_contain_text(run_id)
    expect(page.locator("#log")).to_contain_text("boom-marker-42")
    screenshot(page, "task-failed-log")


def test_viewer_has_no_trigger_button_and_is_refused(
    ui: str, new_page: Callable[[str], Page]
) -> None:
    page = new_page(ui)
    sign_in_on_form(page, "viewer", "Viewer-pw", target="/dags/ui_conf/grid")
    expect(page.locator("h1")).to_contain_text("ui_conf")
    expect(page.locator("#trigger-button")).to_have_count(0)
    page.goto("/home")
    expect(page.locator("tr[data-dag-id=ui_conf]")).to_be_visible()
    expect(page.get_by_role("link", name="Trigger ui_conf")).to_have_count(0)
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    response = page.request.post(
        "/dags/ui_conf/trigger", form={"csrf_token": token or "", "conf": '{"who": "x"}'}
    )
    assert response.status == 403
    assert "text/html" in response.headers["content-type"]
    page.goto("/dags/ui_conf/trigger")
    expect(page.locator("h1")).to_have_text("403 Forbidden")

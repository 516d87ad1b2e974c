"""Dynamic task mapping end to end through the real scheduler and executor: expansion over
literals and XComs, per-index kwargs, XComs and logs, reduce, zero length and max_map_length."""

from __future__ import annotations

import pytest

from tests.engine.conftest import Engine

DAG_FILES = {
    "mapping.py": """
        import pendulum
        from airflow import DAG
        from airflow.decorators import task
        from airflow.models.xcom_arg import MapXComArg, XComArg
        from airflow.operators.bash import BashOperator

        with DAG("mapping", schedule=None, start_date=pendulum.datetime(2024, 1, 1)):
            @task
            def numbers():
                return [1, 2, 3]

            @task
            def add(x, y):
                print(f"adding {x} and {y}")
                return x + y

            @task
            def total(values):
                return sum(values)

            nums = numbers()
            assert isinstance(nums, XComArg) and isinstance(nums.map(str), MapXComArg)
            added = add.partial(y=10).expand(x=nums)
            total(added)

            @task
            def letters():
                return ["a", "b"]

            @task
            def show(v):
                return v

            chars = letters()
            show.override(task_id="upper").expand(v=chars.map(lambda s: s.upper()))
            show.override(task_id="zipped").expand(v=nums.zip(chars))
            show.override(task_id="zipped_long").expand(v=nums.zip(chars, fillvalue="-"))
            total.override(task_id="doubled_total")(nums.map(lambda n: n * 2))
            # A mapped task over a mapped task's results: one instance per upstream index.
            show.override(task_id="chained").expand(v=added)
            echo = BashOperator.partial(task_id="echo", do_xcom_push=True).expand(
                bash_command=["echo one", "echo two"]
            )
            added >> echo

            @task
            def pairs():
                return [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]

            @task
            def join(a, b):
                return f"{b}{a}"

            join.expand_kwargs(pairs())
            BashOperator.partial(task_id="kw").expand_kwargs(
                [{"bash_command": "echo $V", "env": {"V": "first"}}, {"bash_command": "echo lit"}]
            )

            @task
            def cross(letter, digit):
                return f"{letter}{digit}"

            cross.expand(letter=["a", "b"], digit=[1, 2])
    """,
    "mapping_group.py": """
        import pendulum
        from airflow import DAG
        from airflow.decorators import task, task_group

        with DAG("mapping_group", schedule=None, start_date=pendulum.datetime(2024, 1, 1)):
            @task
            def add(x, y):
                return x + y

            @task
            def double(v):
                return v * 2

            @task
            def collect(values):
                return values

            @task_group
            def per_item(x, y):
                return double(add(x, y))

            collect(per_item.partial(y=100).expand(x=[1, 2, 3]))
    """,
    "mapping_empty.py": """
        import pendulum
        from airflow import DAG
        from airflow.decorators import task

        with DAG("mapping_empty", schedule=None, start_date=pendulum.datetime(2024, 1, 1)):
            @task
            def nothing():
                return []

            @task
            def each(x):
                return x

            @task(trigger_rule="all_done")
            def after(values):
                return list(values)

            after(each.expand(x=nothing()))
    """,
    "mapping_fail.py": """
        import pendulum
        from airflow import DAG
        from airflow.decorators import task

        with DAG("mapping_fail", schedule=None, start_date=pendulum.datetime(2024, 1, 1)):
            @task(retries=1, retry_delay=0)
            def flaky(x, ti=None):
                if x == 2 and ti.try_number == 1:
                    raise ValueError("first try of 2 fails")
                if x == 3:
                    raise ValueError("3 always fails")
                return x

            @task
            def after(values):
                return values

            after(flaky.expand(x=[1, 2, 3]))
    """,
    "mapping_too_long.py": """
        import pendulum
        from airflow import DAG
        from airflow.decorators import task

        with DAG("mapping_too_long", schedule=None, start_date=pendulum.datetime(2024, 1, 1)):
            @task
            def many():
                return list(range(6))

            @task
            def each(x):
                return x

            each.expand(x=many())
    """,
    "mapping_not_a_list.py": """
        import pendulum
        from airflow import DAG
        from airflow.decorators import task

        with DAG("mapping_not_a_list", schedule=None, start_date=pendulum.datetime(2024, 1, 1)):
            @task
            def scalar():
                return 7

            @task
            def each(x):
                return x

            each.expand(x=scalar())
    """,
    "mapping_named.py": """
        import pendulum
        from airflow import DAG
        from airflow.decorators import task
        from airflow.operators.bash import BashOperator
        from airflow.operators.python import get_current_context

        with DAG("mapping_named", schedule=None, start_date=pendulum.datetime(2024, 1, 1)):
            @task(map_index_template="{{ city_label }}")
            def weather(city):
                get_current_context()["city_label"] = f"city {city}"
                if city == "Lima":
                    raise ValueError("no weather in Lima")
                return city

            weather.expand(city=["Oslo", "Lima"])
            BashOperator.partial(
                task_id="named_echo", map_index_template="run {{ task.bash_command }}"
            ).expand(bash_command=["echo x", "echo y"])
    """,
    "mapping_clear.py": """
        import pendulum
        from airflow import DAG
        from airflow.decorators import task

        with DAG("mapping_clear", schedule=None, start_date=pendulum.datetime(2024, 1, 1)):
            @task
            def shrinking(ti=None):
                return list(range(4 - ti.try_number))

            @task
            def growing(ti=None):
                return list(range(1 + ti.try_number))

            @task
            def each(x):
                return x * 10

            @task
            def total(values):
                return sorted(values)

            total.override(task_id="shrunk_total")(
                each.override(task_id="shrunk").expand(x=shrinking())
            )
            total.override(task_id="grown_total")(
                each.override(task_id="grown").expand(x=growing())
            )
    """,
}


@pytest.fixture(scope="module")
def engine_env() -> dict[str, str]:
    return {"AEROVANE__CORE__MAX_MAP_LENGTH": "5"}


def _instances(dag_id: str, run_id: str) -> dict[tuple[str, int], tuple[str | None, object]]:
    """(task_id, map_index) → (state, return value)."""
    import json

    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    TI, XCom = models.TaskInstance, models.XCom
    with create_session(readonly=True) as session:
        states = {
            (ti.task_id, ti.map_index): ti.state
            for ti in session.scalars(select(TI).where(TI.dag_id == dag_id, TI.run_id == run_id))
        }
        values = {
            (x.task_id, x.map_index): json.loads(x.value) if x.value is not None else None
            for x in session.scalars(
                select(XCom).where(
                    XCom.dag_id == dag_id, XCom.run_id == run_id, XCom.key == "return_value"
                )
            )
        }
    return {k: (state, values.get(k)) for k, state in states.items()}


def _log(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    from aerovane.services.task_logs import log_path

    path = log_path(dag_id, run_id, task_id, 1, map_index)
    return path.read_text() if path.exists() else ""


def test_mapped_tasks_expand_run_per_index_and_reduce(engine: Engine) -> None:
    engine.wait_dag("mapping")
    run_id = engine.trigger("mapping")
    state = engine.wait_run("mapping", run_id)
    got = _instances("mapping", run_id)
    assert state == "success", {k: v for k, v in got.items() if v[0] != "success"}

    assert {k: v for k, v in got.items() if k[0] == "add"} == {
        ("add", 0): ("success", 11),
        ("add", 1): ("success", 12),
        ("add", 2): ("success", 13),
    }
    assert got[("total", -1)] == ("success", 36)
    assert got[("echo", 0)] == ("success", "one")
    assert got[("echo", 1)] == ("success", "two")
    assert got[("join", 0)] == ("success", "x1")
    assert got[("join", 1)] == ("success", "y2")
    assert got[("kw", 0)] == ("success", "first")
    assert got[("kw", 1)] == ("success", "lit")
    # Several mapped arguments: their cross product, the last varying fastest.
    assert [got[("cross", i)][1] for i in range(4)] == ["a1", "a2", "b1", "b2"]
    assert ("add", -1) not in got

    # .map() runs in each consuming task; .zip() stops at the shortest unless given a fillvalue.
    assert [got[("upper", i)][1] for i in range(2)] == ["A", "B"]
    assert [got[("zipped", i)][1] for i in range(2)] == [[1, "a"], [2, "b"]]
    assert ("zipped", 2) not in got
    assert [got[("zipped_long", i)][1] for i in range(3)] == [[1, "a"], [2, "b"], [3, "-"]]
    assert got[("doubled_total", -1)] == ("success", 12)
    assert [got[("chained", i)][1] for i in range(3)] == [11, 12, 13]

    # Each map index logs to its own file.
    assert "adding 2 and 10" in _log("mapping", run_id, "add", 1)
    assert "adding 2 and 10" not in _log("mapping", run_id, "add", 0)


def test_each_map_index_retries_and_fails_on_its_own(engine: Engine) -> None:
    engine.wait_dag("mapping_fail")
    run_id = engine.trigger("mapping_fail")
    assert engine.wait_run("mapping_fail", run_id) == "failed"
    got = _instances("mapping_fail", run_id)
    assert got[("flaky", 0)] == ("success", 1)
    assert got[("flaky", 1)] == ("success", 2)
    assert got[("flaky", 2)][0] == "failed"
    assert got[("after", -1)][0] == "upstream_failed"
    assert "first try of 2 fails" in _log("mapping_fail", run_id, "flaky", 1)
    assert "3 always fails" in _log("mapping_fail", run_id, "flaky", 2)


def test_mapped_task_group_runs_each_index_through_the_group(engine: Engine) -> None:
    engine.wait_dag("mapping_group")
    run_id = engine.trigger("mapping_group")
    state = engine.wait_run("mapping_group", run_id)
    got = _instances("mapping_group", run_id)
    assert state == "success", got
    assert [got[("per_item.add", i)][1] for i in range(3)] == [101, 102, 103]
    # Each index of `double` read its own index of `add`, not the whole list.
    assert [got[("per_item.double", i)][1] for i in range(3)] == [202, 204, 206]
    assert got[("collect", -1)] == ("success", [202, 204, 206])


def test_zero_length_skips_the_mapped_task(engine: Engine) -> None:
    engine.wait_dag("mapping_empty")
    run_id = engine.trigger("mapping_empty")
    assert engine.wait_run("mapping_empty", run_id) == "success"
    got = _instances("mapping_empty", run_id)
    assert got[("each", -1)] == ("skipped", None)
    assert got[("after", -1)][0] == "success"


def test_over_max_map_length_fails_the_task_with_the_reason(engine: Engine) -> None:
    engine.wait_dag("mapping_too_long")
    run_id = engine.trigger("mapping_too_long")
    assert engine.wait_run("mapping_too_long", run_id) == "failed"
    got = _instances("mapping_too_long", run_id)
    assert got[("each", -1)] == ("failed", None)
    reason = "mapped length 6 exceeds [core] max_map_length (5)"
    assert reason in _log("mapping_too_long", run_id, "each", -1)
    # The reason is where an API client looks: the instance's log of its one try.
    import httpx

    from aerovane.api.app import create_app
    from tests.api.conftest import add_user, run_server

    admin = add_user("too-long-admin", ["Admin"]).auth
    with run_server(create_app()) as url, httpx.Client(base_url=url + "/api/v1", auth=admin) as c:
        log = c.get(
            f"/dags/mapping_too_long/dagRuns/{run_id}/taskInstances/each/logs/1",
            params={"full_content": True},
            headers={"Accept": "application/json"},
        )
        assert log.status_code == 200, log.text
        assert reason in log.json()["content"]


def test_mapping_over_a_non_list_fails_the_task(engine: Engine) -> None:
    engine.wait_dag("mapping_not_a_list")
    run_id = engine.trigger("mapping_not_a_list")
    assert engine.wait_run("mapping_not_a_list", run_id) == "failed"
    got = _instances("mapping_not_a_list", run_id)
    assert got[("each", -1)] == ("failed", None)
    assert "can only map over a list or a dict, got int" in _log(
        "mapping_not_a_list", run_id, "each", -1
    )


def test_api_lists_and_serves_mapped_instances(engine: Engine) -> None:
    import httpx

    from aerovane.api.app import create_app
    from tests.api.conftest import add_user, run_server

    engine.wait_dag("mapping")
    run_id = engine.trigger("mapping")
    assert engine.wait_run("mapping", run_id) == "success"
    empty_run = engine.trigger("mapping_empty")
    assert engine.wait_run("mapping_empty", empty_run) == "success"
    admin = add_user("mapping-admin", ["Admin"]).auth

    with run_server(create_app()) as url, httpx.Client(base_url=url + "/api/v1", auth=admin) as c:
        tis = f"/dags/mapping/dagRuns/{run_id}/taskInstances"
        listed = c.get(tis, params={"limit": 100}).json()["task_instances"]
        assert sorted(t["map_index"] for t in listed if t["task_id"] == "add") == [0, 1, 2]
        assert [t["map_index"] for t in listed if t["task_id"] == "total"] == [-1]

        mapped = c.get(f"{tis}/add/listMapped").json()
        assert mapped["total_entries"] == 3
        assert [t["map_index"] for t in mapped["task_instances"]] == [0, 1, 2]
        assert {t["state"] for t in mapped["task_instances"]} == {"success"}

        one = c.get(f"{tis}/add/1")
        assert one.status_code == 200
        assert (one.json()["map_index"], one.json()["state"]) == (1, "success")
        assert c.get(f"{tis}/add/7").status_code == 404

        log = c.get(f"{tis}/add/logs/1", params={"map_index": 1, "full_content": True})
        assert log.status_code == 200
        assert "adding 2 and 10" in log.text

        xcom = c.get(f"{tis}/add/xcomEntries/return_value", params={"map_index": 2})
        assert xcom.status_code == 200
        assert xcom.json()["value"] in (13, "13")

        not_mapped = c.get(f"{tis}/total/listMapped")
        assert not_mapped.status_code == 404
        assert not_mapped.json()["title"] == "Task id total is not mapped"
        # A mapped task that expanded to nothing is still mapped: an empty list, not a 404.
        nothing = c.get(f"/dags/mapping_empty/dagRuns/{empty_run}/taskInstances/each/listMapped")
        assert nothing.status_code == 200
        assert nothing.json()["total_entries"] == 0

        tasks = {t["task_id"]: t for t in c.get("/dags/mapping/tasks").json()["tasks"]}
        assert tasks["add"]["is_mapped"] is True
        assert tasks["numbers"]["is_mapped"] is False


def test_map_index_template_names_each_index_in_the_api(engine: Engine) -> None:
    import httpx

    from aerovane.api.app import create_app
    from tests.api.conftest import add_user, run_server

    engine.wait_dag("mapping_named", timeout=120)
    run_id = engine.trigger("mapping_named")
    assert engine.wait_run("mapping_named", run_id, timeout=120) == "failed"
    admin = add_user("named-admin", ["Admin"]).auth
    with run_server(create_app()) as url, httpx.Client(base_url=url + "/api/v1", auth=admin) as c:
        tis = f"/dags/mapping_named/dagRuns/{run_id}/taskInstances"
        weather = c.get(f"{tis}/weather/listMapped").json()["task_instances"]
        # Rendered with the context the task left, also when the task failed.
        assert [(t["rendered_map_index"], t["state"]) for t in weather] == [
            ("city Oslo", "success"),
            ("city Lima", "failed"),
        ]
        echo = c.get(f"{tis}/named_echo/listMapped").json()["task_instances"]
        assert [t["rendered_map_index"] for t in echo] == ["run echo x", "run echo y"]
        listed = c.get(tis, params={"limit": 100}).json()["task_instances"]
        assert {t["rendered_map_index"] for t in listed} == {
            "city Oslo",
            "city Lima",
            "run echo x",
            "run echo y",
        }


def test_clearing_a_mapped_task_reexpands_to_the_new_length(engine: Engine) -> None:
    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session
    from aerovane.scheduler.wakeup import notify_schedulers
    from aerovane.services.dag_bag import get_serialized_dag
    from aerovane.services.task_instances import clear_task_instances

    engine.wait_dag("mapping_clear", timeout=120)
    run_id = engine.trigger("mapping_clear")
    assert engine.wait_run("mapping_clear", run_id, timeout=120) == "success"
    got = _instances("mapping_clear", run_id)
    assert got[("shrunk_total", -1)] == ("success", [0, 10, 20])
    assert got[("grown_total", -1)] == ("success", [0, 10])

    TI = models.TaskInstance
    with create_session() as session:
        tis = session.scalars(
            select(TI).where(TI.dag_id == "mapping_clear", TI.run_id == run_id)
        ).all()
        dag = get_serialized_dag("mapping_clear", session=session)
        clear_task_instances(tis, dag=dag, reset_dag_runs=True, session=session)
    notify_schedulers()
    assert engine.wait_run("mapping_clear", run_id, timeout=120) == "success"
    got = _instances("mapping_clear", run_id)
    # The upstreams' second tries returned one value fewer and one more than the first.
    assert {k[1]: v for k, v in got.items() if k[0] == "shrunk"} == {
        0: ("success", 0),
        1: ("success", 10),
        2: ("removed", None),
    }
    assert got[("shrunk_total", -1)] == ("success", [0, 10])
    assert {k[1]: v for k, v in got.items() if k[0] == "grown"} == {
        0: ("success", 0),
        1: ("success", 10),
        2: ("success", 20),
    }
    assert got[("grown_total", -1)] == ("success", [0, 10, 20])

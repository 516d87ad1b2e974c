"""Context building and Jinja rendering of templated fields."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jinja2
import pytest

from aerovane.authoring import DAG, BaseOperator, EmptyOperator, PythonOperator
from aerovane.authoring.context import KNOWN_CONTEXT_KEYS, context_to_airflow_vars
from aerovane.authoring.exceptions import AerovaneException, ParamValidationError
from aerovane.authoring.templating import build_jinja_env, render_template
from aerovane.config import Settings
from tests.authoring.helpers import LOGICAL, FakeDagRun, FakeTI, make_context


class Templated(BaseOperator):
    template_fields = ("text", "data")
    template_ext = (".txt",)

    def __init__(self, *, text: Any = None, data: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.text = text
        self.data = data

    def execute(self, context: Any) -> Any:
        return self.text


def test_build_context_keys_and_values() -> None:
    with DAG("ctx", schedule=None, params={"who": "world"}) as dag:
        task = EmptyOperator(task_id="t", params={"task_level": 1}, outlets=["o"])
    ti = FakeTI(try_number=2)
    run = FakeDagRun(conf={"who": "conf"})
    context = make_context(dag, task, ti, run)
    assert KNOWN_CONTEXT_KEYS - {"exception"} <= set(context)
    assert context["ds"] == "2024-03-05" and context["ds_nodash"] == "20240305"
    assert context["ts"] == "2024-03-05T06:07:08+00:00"
    assert context["ts_nodash"] == "20240305T060708"
    assert context["ts_nodash_with_tz"] == "20240305T060708+0000"
    assert context["logical_date"] == context["execution_date"] == LOGICAL
    assert context["data_interval_start"] == LOGICAL - dt.timedelta(days=1)
    assert context["data_interval_end"] == LOGICAL
    assert context["run_id"] == run.run_id and context["dag_run"] is run
    assert context["ti"] is context["task_instance"] is ti and context["try_number"] == 2
    assert context["dag"] is dag and context["task"] is task
    assert context["params"] == {"who": "conf", "task_level": 1}
    assert isinstance(context["conf"], Settings)
    assert context["macros"].ds_add("2024-03-05", -5) == "2024-02-29"
    assert context["outlets"] == ["o"] and context["inlets"] == []
    assert context["expanded_ti_count"] is None and context["test_mode"] is False
    assert context["task_instance_key_str"] == "ctx__t__20240305"


def test_build_context_validates_params_from_conf() -> None:
    from aerovane.authoring import Param

    with DAG("ctx_params", schedule=None, params={"n": Param(1, type="integer")}) as dag:
        task = EmptyOperator(task_id="t")
    with pytest.raises(ParamValidationError, match="Invalid input for param n"):
        make_context(dag, task, dag_run=FakeDagRun(conf={"n": "x"}))


def test_naive_run_dates_are_utc() -> None:
    with DAG("naive_ctx", schedule=None) as dag:
        task = EmptyOperator(task_id="t")
    run = FakeDagRun(
        logical_date=dt.datetime(2024, 1, 2), data_interval_start=None, data_interval_end=None
    )
    context = make_context(dag, task, dag_run=run)
    assert context["logical_date"] == dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    assert context["logical_date"].timezone_name == "UTC"
    assert context["data_interval_start"] == context["data_interval_end"] == context["logical_date"]


def test_render_template_fields_in_place_with_nested_values() -> None:
    with DAG("render", schedule=None, params={"name": "Ada"}) as dag:
        task = Templated(
            task_id="t",
            text="Hello {{ params.name }} on {{ ds }} ({{ run_id }})",
            data={"list": ["{{ ds_nodash }}", 3], "tuple": ("{{ task.task_id }}",), "n": None},
        )
    task.render_template_fields(make_context(dag, task))
    assert task.text == "Hello Ada on 2024-03-05 (manual__2024-03-05T06:07:08+00:00)"
    assert task.data == {"list": ["20240305", 3], "tuple": ("t",), "n": None}


def test_macros_filters_and_user_defined_extensions() -> None:
    with DAG(
        "macros",
        schedule=None,
        user_defined_macros={"greeting": "hi", "double": lambda x: x * 2},
        user_defined_filters={"shout": lambda s: s.upper() + "!"},
    ) as dag:
        task = Templated(
            task_id="t",
            text=(
                "{{ macros.ds_add(ds, 1) }} {{ macros.ds_format(ds, '%Y-%m-%d', '%d/%m') }} "
                "{{ logical_date | ds_nodash }} {{ greeting | shout }} {{ double(21) }} "
                "{{ macros.timedelta(days=1).days }} {{ macros.json.dumps({'a': 1}) }}"
            ),
        )
    task.render_template_fields(make_context(dag, task))
    assert task.text == '2024-03-06 05/03 20240305 HI! 42 1 {"a": 1}'


def test_undefined_names_fail_loudly() -> None:
    with DAG("strict", schedule=None) as dag:
        task = Templated(task_id="t", text="{{ no_such_thing }}")
    with pytest.raises(jinja2.UndefinedError, match="no_such_thing"):
        task.render_template_fields(make_context(dag, task))


def test_sandbox_blocks_dunder_access() -> None:
    env = build_jinja_env(None)
    with pytest.raises(jinja2.exceptions.SecurityError):
        render_template("{{ ''.__class__.__mro__ }}", {}, env)


def test_native_rendering_keeps_python_types() -> None:
    with DAG("native", schedule=None, render_template_as_native_obj=True) as dag:
        task = Templated(task_id="t", text="{{ [1, 2] + [3] }}", data="{{ params | length }}")
    task.render_template_fields(make_context(dag, task))
    assert task.text == [1, 2, 3] and task.data == 0


def test_template_files_from_dag_folder_and_searchpath(tmp_path: Path) -> None:
    searchpath = tmp_path / "templates"
    searchpath.mkdir()
    (searchpath / "greeting.txt").write_text("file says {{ ds }}")
    absolute = tmp_path / "absolute.txt"
    absolute.write_text("absolute {{ ds_nodash }}")
    with DAG("files", schedule=None, template_searchpath=str(searchpath)) as dag:
        from_searchpath = Templated(task_id="a", text="greeting.txt")
        from_abs = Templated(task_id="b", text=str(absolute))
        not_a_file = Templated(task_id="c", text="greeting.txt ")
        missing = Templated(task_id="d", text="missing.txt")
    for task in (from_searchpath, from_abs, not_a_file):
        task.render_template_fields(make_context(dag, task))
    assert from_searchpath.text == "file says 2024-03-05"
    assert from_abs.text == "absolute 20240305"
    assert not_a_file.text == "greeting.txt "
    with pytest.raises(AerovaneException, match=r"Template file 'missing\.txt' not found"):
        missing.render_template_fields(make_context(dag, missing))


def test_xcom_args_in_templated_fields_resolve_and_wire_dependencies() -> None:
    with DAG("xcom_fields", schedule=None) as dag:
        producer = PythonOperator(task_id="producer", python_callable=lambda: "v")
        consumer = Templated(task_id="consumer", text=producer.output, data=[producer.output["k"]])
        embedded = Templated(task_id="embedded", text=f"got {producer.output}")
    assert consumer.upstream_task_ids == {"producer"}
    assert embedded.upstream_task_ids == set()  # an f-string embeds a template, not an edge
    ti = FakeTI(xcoms={("producer", "return_value"): "value", ("producer", "k"): "kv"})
    consumer.render_template_fields(make_context(dag, consumer, ti))
    assert consumer.text == "value" and consumer.data == ["kv"]
    embedded.render_template_fields(make_context(dag, embedded, ti))
    assert embedded.text == "got value"


def test_var_and_conn_accessors_in_templates(monkeypatch: pytest.MonkeyPatch) -> None:
    from aerovane.db import secrets

    variables = {"plain": "v1", "cfg": '{"nested": {"x": 5}}'}
    connections = {
        "pg": {
            "conn_id": "pg",
            "conn_type": "postgres",
            "host": "db.local",
            "schema": "app",
            "login": "u",
            "password": "p",
            "port": 5432,
            "extra": None,
        }
    }
    monkeypatch.setattr(secrets, "get_variable", variables.get)
    monkeypatch.setattr(secrets, "get_connection", connections.get)
    with DAG("accessors", schedule=None) as dag:
        task = Templated(
            task_id="t",
            text=(
                "{{ var.value.plain }} {{ var.json.cfg.nested.x }} "
                "{{ var.value.get('missing', 'fallback') }} {{ conn.pg.host }}:{{ conn.pg.port }} "
                "{{ conn.get('nope') }}"
            ),
        )
        missing = Templated(task_id="m", text="{{ var.value.missing }}")
    task.render_template_fields(make_context(dag, task))
    assert task.text == "v1 5 fallback db.local:5432 None"
    with pytest.raises(KeyError, match="Variable missing does not exist"):
        missing.render_template_fields(make_context(dag, missing))


def test_context_to_airflow_vars() -> None:
    with DAG("vars", schedule=None) as dag:
        task = EmptyOperator(task_id="t", owner="ann", email=["a@x", "b@x"])
    context = make_context(dag, task, FakeTI(try_number=3))
    env = context_to_airflow_vars(context, in_env_var_format=True)
    assert env == {
        "AIRFLOW_CTX_DAG_EMAIL": "a@x,b@x",
        "AIRFLOW_CTX_DAG_OWNER": "ann",
        "AIRFLOW_CTX_DAG_ID": "vars",
        "AIRFLOW_CTX_TASK_ID": "t",
        "AIRFLOW_CTX_EXECUTION_DATE": "2024-03-05T06:07:08+00:00",
        "AIRFLOW_CTX_TRY_NUMBER": "3",
        "AIRFLOW_CTX_DAG_RUN_ID": "manual__2024-03-05T06:07:08+00:00",
    }
    assert context_to_airflow_vars(context)["airflow.ctx.dag_id"] == "vars"

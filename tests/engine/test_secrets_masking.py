"""Secrets stay out of task logs and rendered fields, end to end: a real scheduler runs an
Airflow DAG file whose tasks read a connection and variables, print them, log them, pass them
to subprocesses, call `mask_secret` and fail with them; the stored log file and what the API
shows a Viewer hold `***` instead."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.engine.conftest import Engine

START = "datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)"

PASSWORD = "Sup3r/Secret pw!"  # URL-quoted in URIs: Sup3r%2FSecret%20pw%21
QUOTED_PASSWORD = "Sup3r%2FSecret%20pw%21"
EXTRA_TOKEN = "extra-token-8f3a"
API_KEY = "vendor-key-6d1c"
JSON_PASSWORD = "json-pw-44b2"
USER_SECRET = "user-secret-91e7"
UNREGISTERED = "dict-pw-0c55"
SECRETS = (PASSWORD, QUOTED_PASSWORD, EXTRA_TOKEN, API_KEY, JSON_PASSWORD, USER_SECRET)
VISIBLE = ("login=svc-user", "greeting=hello-visible", "region=eu-visible", "short=abc")

DAG_FILES = {
    "masking.py": f"""
        import datetime, json, logging, os, subprocess, sys

        from airflow import DAG
        from airflow.models import Connection, Variable
        from airflow.operators.bash import BashOperator
        from airflow.operators.python import PythonOperator
        from airflow.utils.log.secrets_masker import mask_secret

        log = logging.getLogger("user.code")

        def leak():
            conn = Connection.get_connection_from_secrets("masked_db")
            print("login=" + conn.login, "password=" + conn.password)
            print("uri=" + conn.get_uri())
            print("extra=" + conn.extra)
            log.info("extra_dejson %s", conn.extra_dejson)
            print("api_key=" + Variable.get("vendor_api_key"))
            print("greeting=" + Variable.get("greeting"))
            settings = Variable.get("service_settings", deserialize_json=True)
            print("settings=" + json.dumps(settings))
            print("region=" + settings["region"])
            mask_secret("{USER_SECRET}")
            mask_secret("abc")
            print("mine={USER_SECRET} short=abc")
            log.info("a dict %s", {{"password": "{UNREGISTERED}"}})
            sys.stderr.write("stderr password=" + conn.password + "\\n")
            subprocess.run(["echo", "child process says", conn.password], check=True)
            os.system("echo shell says " + Variable.get("vendor_api_key"))
            sys.stdout.write("no newline at the end " + conn.password)
            raise ValueError("could not connect with " + conn.password)

        with DAG("masking", schedule=None, start_date={START}):
            PythonOperator(task_id="leak", python_callable=leak)
            BashOperator(
                task_id="bash",
                bash_command="echo pw={{{{ conn.masked_db.password }}}} "
                "key={{{{ var.value.vendor_api_key }}}} greeting={{{{ var.value.greeting }}}}; "
                "echo env=$DB_PASSWORD",
                env={{"DB_PASSWORD": "{{{{ conn.masked_db.password }}}}", "PLAIN": "visible"}},
                append_env=True,
            )
            PythonOperator(
                task_id="templated",
                python_callable=lambda **kw: None,
                op_kwargs={{
                    "dsn": "{{{{ conn.masked_db.get_uri() }}}}",
                    "api_key": "literal-in-dag-file",
                    "nested": {{"headers": {{"Authorization": "Bearer literal"}}, "page": 1}},
                    "greeting": "{{{{ var.value.greeting }}}}",
                }},
            )
            PythonOperator(
                task_id="late_mask",
                python_callable=lambda value, other: mask_secret(value),
                op_args=["{{{{ dag_run.conf.get('late', 'late-secret-3f9d') }}}}", "visible-arg"],
            )
    """,
}


@pytest.fixture(scope="module")
def seeded(engine: Engine) -> None:
    from aerovane.db.engine import create_session
    from aerovane.db.secrets import set_variable
    from aerovane.services.connections import create_connection

    with create_session() as session:
        create_connection(
            "masked_db",
            {
                "conn_type": "postgres",
                "host": "db.internal",
                "login": "svc-user",
                "password": PASSWORD,
                "extra": f'{{"api_token": "{EXTRA_TOKEN}", "sslmode": "require"}}',
            },
            session=session,
        )
    set_variable("vendor_api_key", API_KEY)
    set_variable("greeting", "hello-visible")
    set_variable("service_settings", f'{{"password": "{JSON_PASSWORD}", "region": "eu-visible"}}')
    engine.wait_dag("masking")


@pytest.fixture(scope="module")
def run_id(engine: Engine, seeded: None) -> str:
    run = engine.trigger("masking")
    engine.wait_run("masking", run, timeout=60)
    return run


@pytest.fixture(scope="module")
def api(engine: Engine) -> Iterator[tuple[str, tuple[str, str], tuple[str, str]]]:
    """A real API server over the engine's database, with a Viewer and an Admin."""
    from aerovane.api.app import create_app
    from tests.api.conftest import add_user, run_server

    viewer = add_user("viewer", ["Viewer"], password="viewer-pw").auth
    admin = add_user("admin", ["Admin"], password="admin-pw").auth
    with run_server(create_app()) as url:
        yield f"{url}/api/v1", viewer, admin


def _assert_masked(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked"


def test_task_log_masks_what_the_task_writes(engine: Engine, run_id: str) -> None:
    assert engine.tis("masking", run_id)["leak"].state == "failed"
    text = engine.log("masking", run_id, "leak")
    _assert_masked(text)
    assert UNREGISTERED not in text  # a dict logged with a `password` key
    for line in (
        "login=svc-user password=***",
        "uri=postgres://svc-user:***@db.internal",
        '"api_token": "***"',
        "'api_token': '***'",
        "'sslmode': 'require'",
        "api_key=***",
        "greeting=hello-visible",
        '"password": "***"',
        "region=eu-visible",
        "mine=*** short=abc",
        "a dict {'password': '***'}",
        "stderr password=***",
        "child process says ***",
        "shell says ***",
        "no newline at the end ***",
        "ValueError: could not connect with ***",
    ):
        assert line in text, f"{line!r} missing from the log:\n{text}"


def test_bash_output_and_rendered_fields_are_masked(engine: Engine, run_id: str) -> None:
    ti = engine.tis("masking", run_id)["bash"]
    assert ti.state == "success"
    text = engine.log("masking", run_id, "bash")
    _assert_masked(text)
    assert "pw=*** key=*** greeting=hello-visible" in text
    assert "env=***" in text
    assert ti.rendered_fields["bash_command"].startswith("echo pw=*** key=*** greeting=hello-")
    assert ti.rendered_fields["env"] == {"DB_PASSWORD": "***", "PLAIN": "visible"}


def test_rendered_fields_redact_sensitive_keys(engine: Engine, run_id: str) -> None:
    rendered = engine.tis("masking", run_id)["templated"].rendered_fields
    assert rendered["op_kwargs"] == {
        "dsn": "postgres://svc-user:***@db.internal/?api_token=***&sslmode=require",
        "api_key": "***",
        "nested": {"headers": {"Authorization": "***"}, "page": 1},
        "greeting": "hello-visible",
    }


def test_secret_masked_during_execution_is_masked_in_rendered_fields(
    engine: Engine, run_id: str
) -> None:
    ti = engine.tis("masking", run_id)["late_mask"]
    assert ti.state == "success"
    assert ti.rendered_fields["op_args"] == ["***", "visible-arg"]


def _get(api: Any, path: str, auth: tuple[str, str], **kw: Any) -> httpx.Response:
    base, _, _ = api
    response = httpx.get(f"{base}{path}", auth=auth, timeout=30, **kw)
    assert response.status_code == 200, response.text
    return response


def test_viewer_sees_masked_log_and_rendered_fields(api: Any, run_id: str) -> None:
    _, viewer, _ = api
    prefix = f"/dags/masking/dagRuns/{run_id}/taskInstances"
    for task_id in ("leak", "bash", "templated"):
        body = _get(api, f"{prefix}/{task_id}", viewer).text
        _assert_masked(body)
        assert "literal-in-dag-file" not in body
        log = _get(api, f"{prefix}/{task_id}/logs/1", viewer, params={"full_content": "true"})
        _assert_masked(log.text)
        plain = _get(api, f"{prefix}/{task_id}/logs/1", viewer, headers={"accept": "text/plain"})
        _assert_masked(plain.text)
    rendered = _get(api, f"{prefix}/bash", viewer).json()["rendered_fields"]
    assert rendered["env"] == {"DB_PASSWORD": "***", "PLAIN": "visible"}
    plain = _get(api, f"{prefix}/leak/logs/1", viewer, headers={"accept": "text/plain"}).text
    assert "child process says ***" in plain


def test_connection_endpoints_never_show_the_password(api: Any, seeded: None) -> None:
    _, _, admin = api
    for body in (
        _get(api, "/connections/masked_db", admin).text,
        _get(api, "/connections", admin).text,
    ):
        _assert_masked(body)
        assert "svc-user" in body
    extra = _get(api, "/connections/masked_db", admin).json()["extra"]
    assert extra == '{"api_token": "***", "sslmode": "require"}'

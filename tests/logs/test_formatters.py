"""`[logging] json_format`: component lines are one JSON object each, with the context's ids and
exceptions as a field, and pass the secrets masker; the default stays masked text."""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

from aerovane.authoring.secrets_masker import mask_secret
from aerovane.logs.context import log_context
from tests.api.conftest import set_config
from tests.logs.conftest import LogBuffer


def test_json_lines_carry_fields_context_and_masked_exceptions(
    component_log: Callable[[], LogBuffer], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_config(monkeypatch, logging__json_format="True")
    out = component_log()
    secret = f"s3cr3t-{secrets.token_hex(8)}"
    mask_secret(secret)
    log = logging.getLogger("aerovane.scheduler")
    with log_context(dag_id="etl", run_id="manual__1", task_id="load"):
        log.info("connecting with %s", secret)
        log.warning("connection %s", {"login": "bob", "password": "hunter2-pw"})
        try:
            raise RuntimeError(f"refused: {secret}")
        except RuntimeError:
            log.exception('it failed "%s"\nsecond line', "quoted")
    log.info("outside: caf\u00e9 \udcff")
    lines = out.json_lines()  # each line parses on its own
    assert len(lines) == len(out.lines()) == 4
    first, second, third, outside = lines
    assert outside["message"] == "outside: caf\u00e9 \udcff" and out.getvalue().isascii()
    assert list(first)[:4] == ["timestamp", "level", "logger", "message"]
    assert first["level"] == "INFO" and first["logger"] == "aerovane.scheduler"
    assert first["timestamp"].endswith("+00:00")
    assert first["message"] == "connecting with ***"
    assert (first["dag_id"], first["run_id"], first["task_id"]) == ("etl", "manual__1", "load")
    assert "request_id" not in first
    assert second["message"] == "connection {'login': 'bob', 'password': '***'}"
    assert third["message"] == 'it failed "quoted"\nsecond line'
    assert third["exception"].startswith("Traceback (most recent call last)")
    assert "RuntimeError: refused: ***" in third["exception"]
    assert "dag_id" not in outside
    assert secret not in out.getvalue() and "hunter2-pw" not in out.getvalue()


def test_json_fields_name_record_attributes_as_airflow_does(
    component_log: Callable[[], LogBuffer], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_config(
        monkeypatch,
        logging__json_format="True",
        logging__json_fields="asctime, filename, lineno, levelname, message",
    )
    out = component_log()
    logging.getLogger("aerovane.x").warning("hello %d", 1)
    (line,) = out.json_lines()
    assert set(line) == {"asctime", "filename", "lineno", "levelname", "message"}
    assert line["filename"] == "test_formatters.py" and isinstance(line["lineno"], int)
    assert (line["levelname"], line["message"]) == ("WARNING", "hello 1")


def test_text_stays_the_default_and_is_masked(
    component_log: Callable[[], LogBuffer], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = component_log()
    secret = f"t3xt-{secrets.token_hex(8)}"
    mask_secret(secret)
    logging.getLogger("aerovane.triggerer").error("token is %s", secret)
    (line,) = out.lines()
    assert line.endswith(" ERROR aerovane.triggerer: token is ***")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_triggerer_lines_name_the_task_instance_of_their_trigger(
    component_log: Callable[[], LogBuffer], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from aerovane.services.triggers import TriggerWork
    from aerovane.triggerer.runner import TriggerRunner

    set_config(monkeypatch, logging__json_format="True")
    out = component_log()
    runner = TriggerRunner(lambda: None, lambda *key: tmp_path / "task.log")
    runner.start()
    try:
        moment = dt.datetime(2024, 1, 1, tzinfo=dt.UTC).isoformat()
        classpath = "aerovane.authoring.triggers.temporal.DateTimeTrigger"
        runner.update([TriggerWork(7, classpath, {"moment": moment}, ("etl", "wait", "r1", -1, 1))])
        line = out.wait_for(lambda line: line["message"].startswith("Trigger fired event"))
    finally:
        runner.stop()
    assert line["logger"] == "aerovane.triggers.DateTimeTrigger"
    assert (line["dag_id"], line["run_id"], line["task_id"]) == ("etl", "r1", "wait")
    assert "Trigger fired event" in (tmp_path / "task.log").read_text()  # the task's log too

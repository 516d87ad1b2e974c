"""EmailOperator and send_email against a local SMTP server, with the [smtp] settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from aerovane.authoring import DAG, EmailOperator
from aerovane.authoring.email import get_email_address_list, send_email
from aerovane.config import reload_settings
from tests.authoring.helpers import run_task
from tests.smtp_sink import smtp_sink


def _configure(monkeypatch: pytest.MonkeyPatch, port: int, **extra: str) -> None:
    monkeypatch.setenv("AEROVANE__SMTP__SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("AEROVANE__SMTP__SMTP_PORT", str(port))
    monkeypatch.setenv("AEROVANE__SMTP__SMTP_STARTTLS", "False")
    monkeypatch.setenv("AEROVANE__SMTP__SMTP_MAIL_FROM", "aerovane@example.com")
    for key, value in extra.items():
        monkeypatch.setenv(f"AEROVANE__SMTP__{key.upper()}", value)
    reload_settings()


def test_address_lists() -> None:
    assert get_email_address_list("a@x, b@y;c@z") == ["a@x", "b@y", "c@z"]
    assert get_email_address_list(["a@x", "b@y, c@z"]) == ["a@x", "b@y", "c@z"]
    with pytest.raises(TypeError, match="Unexpected argument type"):
        get_email_address_list(3)  # type: ignore[arg-type]


def test_email_operator_sends_a_templated_mail_with_attachment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    attachment = tmp_path / "report.csv"
    attachment.write_text("a,b\n1,2\n")
    with smtp_sink() as sink:
        _configure(monkeypatch, sink.port)
        with DAG("mail", schedule=None):
            op = EmailOperator(
                task_id="send",
                to="ops@example.com",
                cc=["lead@example.com"],
                bcc="audit@example.com",
                subject="Run {{ ds }}",
                html_content="<b>{{ task.task_id }}</b> done",
                files=[str(attachment)],
            )
        run_task(op)
    [(mail_from, rcpt, msg)] = sink.messages
    assert mail_from == "aerovane@example.com"
    assert rcpt == ["ops@example.com", "lead@example.com", "audit@example.com"]
    assert msg["Subject"] == "Run 2024-03-05"
    assert msg["To"] == "ops@example.com" and msg["CC"] == "lead@example.com"
    assert "Bcc" not in msg
    parts = list(msg.walk())
    html = next(p for p in parts if p.get_content_type() == "text/html")
    assert html.get_payload(decode=True).decode() == "<b>send</b> done"
    attached = next(p for p in parts if p.get_filename() == "report.csv")
    assert attached.get_payload(decode=True) == b"a,b\n1,2\n"


def test_login_with_the_configured_user(monkeypatch: pytest.MonkeyPatch) -> None:
    with smtp_sink(user="mailer", password="s3cret") as sink:
        _configure(monkeypatch, sink.port, smtp_user="mailer", smtp_password="s3cret")
        send_email("ops@example.com", "hello", "<p>hi</p>")
    assert sink.logins == ["mailer"]
    assert len(sink.messages) == 1


def test_the_password_is_a_secret_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from aerovane.config.schema import OPTION_INDEX

    assert OPTION_INDEX[("smtp", "smtp_password")].sensitive
    assert not OPTION_INDEX[("smtp", "smtp_user")].sensitive


def test_dryrun_and_no_recipients(monkeypatch: pytest.MonkeyPatch) -> None:
    _configure(monkeypatch, 1)  # nothing listens there: a dry run must not connect
    send_email("ops@example.com", "s", "c", dryrun=True)
    with pytest.raises(ValueError, match="at least one recipient"):
        send_email([], "s", "c")


def test_airflow_paths() -> None:
    from aerovane.compat import airflow_shim

    airflow_shim.install()
    from airflow.operators.email import EmailOperator as AirflowEmailOperator
    from airflow.utils.email import send_email as airflow_send_email

    assert AirflowEmailOperator is EmailOperator
    assert airflow_send_email is send_email

"""Admin > Configuration never shows a secret, whatever `[webserver] expose_config` says (issue
14: `secret_key` would let an Op forge an Admin's session cookie)."""

from __future__ import annotations

import html
from collections.abc import Callable

import pytest

from aerovane.config import get_settings
from tests.api.conftest import set_config
from tests.www.conftest import Browserish

SECRETS = {
    "webserver__secret_key": "cookie-signing-secret-value",
    "proxy__oidc_client_secret": "oidc-client-secret-value",
    "smtp__smtp_password": "smtp-password-value",
    "celery__broker_url": "redis://:broker-password-value@localhost:6379/0",
}


@pytest.mark.parametrize("exposed", ["True", "non-sensitive-only"])
def test_the_page_hides_every_sensitive_option(
    signed_in: Callable[[str], Browserish], monkeypatch: pytest.MonkeyPatch, exposed: str
) -> None:
    set_config(monkeypatch, webserver__expose_config=exposed, **SECRETS)
    client = signed_in("Op")  # Ops may read the configuration page, as in Airflow
    settings = get_settings()
    values = [
        *SECRETS.values(),
        settings.getstr("core", "fernet_key"),
        settings.sql_alchemy_conn,
    ]
    assert all(values)
    page = client.get("/configuration")
    assert page.status_code == 200, page.text
    text = html.unescape(page.text)
    assert "web_server_port" in text  # the page does list the configuration
    assert text.count("< hidden >") >= len(values)
    for value in values:
        assert value not in text

"""`/config` and `/config/section/{s}/option/{o}`: `expose_config` (False, True,
non-sensitive-only), content negotiation (JSON, text, 406), sections and options, 404s, and who
may call what."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from aerovane.api.v1.datamodels.config import ConfigResponse
from aerovane.config import get_settings
from tests.api.test_errors import assert_problem

JSON = {"accept": "application/json"}
TEXT = {"accept": "text/plain"}
NOT_EXPOSED = (
    "Your Airflow administrator chose not to expose the configuration, most likely for security"
    " reasons."
)


@pytest.fixture
def expose(configure: Callable[..., None]) -> Callable[[str], None]:
    def apply(value: str) -> None:
        configure(webserver__expose_config=value)

    return apply


def _options(response: httpx.Response) -> dict[str, dict[str, str]]:
    assert response.status_code == 200, response.text
    body = ConfigResponse.model_validate(response.json())
    return {s.name: {o.key: o.value for o in s.options} for s in body.sections}


# -- exposure --------------------------------------------------------------------------------------


def test_not_exposed_by_default(client: httpx.Client, admin: httpx.BasicAuth) -> None:
    for path in ("/config", "/config/section/core/option/dags_folder"):
        assert_problem(
            client.get(path, headers=JSON, auth=admin),
            403,
            title="Forbidden",
            detail=NOT_EXPOSED,
        )


def test_everything_exposed(
    client: httpx.Client, admin: httpx.BasicAuth, expose: Callable[[str], None]
) -> None:
    expose("True")
    response = client.get("/config", headers=JSON, auth=admin)
    assert response.headers["content-type"] == "application/json"
    assert response.text.startswith('{\n    "sections": [')
    options = _options(response)
    settings = get_settings()
    assert list(options)[:2] == ["core", "database"]
    assert options["core"]["dags_folder"] == str(settings.dags_folder)
    assert options["webserver"]["expose_config"] == "True"
    assert all(isinstance(v, str) for section in options.values() for v in section.values())


def test_non_sensitive_only(
    client: httpx.Client, admin: httpx.BasicAuth, expose: Callable[[str], None]
) -> None:
    expose("non-sensitive-only")
    options = _options(client.get("/config", headers=JSON, auth=admin))
    assert options["core"]["fernet_key"] == "< hidden >"
    assert options["database"]["sql_alchemy_conn"] == "< hidden >"
    assert options["webserver"]["secret_key"] == "< hidden >"
    assert options["core"]["parallelism"] == "32"
    assert options["webserver"]["expose_config"] == "non-sensitive-only"


def test_values_are_the_effective_ones(
    client: httpx.Client, admin: httpx.BasicAuth, configure: Callable[..., None]
) -> None:
    configure(webserver__expose_config="True", core__parallelism="7")
    options = _options(client.get("/config", headers=JSON, auth=admin))
    assert options["core"]["parallelism"] == "7"


def test_one_section(
    client: httpx.Client, admin: httpx.BasicAuth, expose: Callable[[str], None]
) -> None:
    expose("True")
    options = _options(client.get("/config", params={"section": "api"}, headers=JSON, auth=admin))
    assert list(options) == ["api"]
    assert options["api"]["maximum_page_limit"] == "100"
    assert_problem(
        client.get("/config", params={"section": "nope"}, headers=JSON, auth=admin),
        404,
        title="section not found.",
        detail="section=nope not found.",
    )
    # Section names are matched exactly, as configparser does.
    assert_problem(client.get("/config", params={"section": "API"}, headers=JSON, auth=admin), 404)


@pytest.mark.parametrize("exposed", ["True", "non-sensitive-only"])
def test_secrets_are_never_exposed(
    client: httpx.Client, accounts: Any, configure: Callable[..., None], exposed: str
) -> None:
    """`secret_key` signs session cookies: an Op who could read it could forge an Admin's."""
    configure(
        webserver__expose_config=exposed,
        webserver__secret_key="cookie-signing-secret-value",
        proxy__oidc_client_secret="oidc-client-secret-value",
        logging__remote_base_log_folder="ftp://logs:ftp-password-value@127.0.0.1/logs",
    )
    settings = get_settings()
    secrets = {
        ("core", "fernet_key"): settings.getstr("core", "fernet_key"),
        ("webserver", "secret_key"): "cookie-signing-secret-value",
        ("database", "sql_alchemy_conn"): settings.sql_alchemy_conn,
        ("proxy", "oidc_client_secret"): "oidc-client-secret-value",
        ("logging", "remote_base_log_folder"): "ftp-password-value",
    }
    assert all(secrets.values())
    op = accounts["Op"].auth
    options = _options(client.get("/config", headers=JSON, auth=op))
    text = client.get("/config", headers=TEXT, auth=op).text
    for (section, key), value in secrets.items():
        assert options[section][key] == "< hidden >"
        assert f"\n{key} = < hidden >\n" in text
        one = client.get(f"/config/section/{section}/option/{key}", headers=JSON, auth=op)
        assert _options(one) == {section: {key: "< hidden >"}}
        for response_text in (json.dumps(options), text, one.text):
            assert value not in response_text


# -- text ------------------------------------------------------------------------------------------


def test_text(client: httpx.Client, admin: httpx.BasicAuth, expose: Callable[[str], None]) -> None:
    expose("non-sensitive-only")
    response = client.get("/config", params={"section": "logging"}, headers=TEXT, auth=admin)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain"
    folder = get_settings().base_log_folder
    assert response.text == (
        f"[logging]\nbase_log_folder = {folder}\nlogging_level = INFO\n"
        "min_length_masked_secret = 5\nworker_log_server_port = 8793\nremote_logging = False\n"
        "remote_base_log_folder = < hidden >\nremote_log_conn_id = \njson_format = False\n"
        "json_fields = timestamp, level, logger, message\naccess_log = False\n"
    )
    everything = client.get("/config", headers=TEXT, auth=admin).text
    assert everything.startswith("[core]\ndags_folder = ")
    assert "\n\n[database]\n" in everything
    assert "fernet_key = < hidden >\n" in everything


# -- content negotiation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("*/*", "text/plain"),
        ("application/json", "application/json"),
        ("application/json, text/plain;q=0.5", "application/json"),
        ("text/*", "text/plain"),
        ("application/*", "application/json"),
        ("text/html, */*;q=0.1", "text/plain"),
    ],
)
def test_negotiation(
    client: httpx.Client,
    admin: httpx.BasicAuth,
    expose: Callable[[str], None],
    accept: str,
    expected: str,
) -> None:
    expose("True")
    for path in ("/config", "/config/section/core/option/parallelism"):
        response = client.get(path, headers={"accept": accept}, auth=admin)
        assert response.status_code == 200
        assert response.headers["content-type"] == expected


@pytest.fixture
def bare_client(base_url: str) -> Iterator[httpx.Client]:
    """A client that sends no Accept header at all."""
    with httpx.Client(base_url=base_url + "/api/v1", timeout=30) as c:
        del c.headers["accept"]
        yield c


@pytest.mark.parametrize("exposed", ["True", "False"])
def test_unacceptable_is_406_before_anything_else(
    client: httpx.Client,
    bare_client: httpx.Client,
    admin: httpx.BasicAuth,
    expose: Callable[[str], None],
    exposed: str,
) -> None:
    expose(exposed)
    for path in ("/config", "/config/section/nope/option/nope"):
        for response in (
            client.get(path, headers={"accept": "image/png"}, auth=admin),
            client.get(path, headers={"accept": "application/xml"}, auth=admin),
            bare_client.get(path, auth=admin),
        ):
            assert response.status_code == 406, (path, response.text)
            assert response.content == b""


# -- one option ------------------------------------------------------------------------------------


def test_one_option(
    client: httpx.Client, admin: httpx.BasicAuth, expose: Callable[[str], None]
) -> None:
    expose("True")
    response = client.get("/config/section/core/option/parallelism", headers=JSON, auth=admin)
    assert response.status_code == 200
    assert json.loads(response.text) == {
        "sections": [{"name": "core", "options": [{"key": "parallelism", "value": "32"}]}]
    }
    text = client.get("/config/section/core/option/parallelism", headers=TEXT, auth=admin)
    assert text.text == "[core]\nparallelism = 32\n"
    # Names are matched case-insensitively and echoed as given.
    upper = client.get("/config/section/CORE/option/Parallelism", headers=JSON, auth=admin)
    assert _options(upper) == {"CORE": {"Parallelism": "32"}}


@pytest.mark.parametrize("exposed", ["True", "non-sensitive-only"])
def test_sensitive_option_is_always_hidden(
    client: httpx.Client, admin: httpx.BasicAuth, expose: Callable[[str], None], exposed: str
) -> None:
    expose(exposed)
    for section, option in (("core", "fernet_key"), ("database", "sql_alchemy_conn")):
        response = client.get(
            f"/config/section/{section}/option/{option}", headers=JSON, auth=admin
        )
        assert _options(response) == {section: {option: "< hidden >"}}


def test_unknown_option(
    client: httpx.Client, admin: httpx.BasicAuth, expose: Callable[[str], None]
) -> None:
    expose("True")
    assert_problem(
        client.get("/config/section/core/option/nope", headers=JSON, auth=admin),
        404,
        title="Config not found.",
        detail="The option [core/nope] is not found in config.",
    )
    assert_problem(
        client.get("/config/section/nope/option/parallelism", headers=JSON, auth=admin), 404
    )


def test_unknown_query_parameter(
    client: httpx.Client, admin: httpx.BasicAuth, expose: Callable[[str], None]
) -> None:
    expose("True")
    assert_problem(client.get("/config", params={"colour": "x"}, headers=JSON, auth=admin), 400)


# -- who may call what -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["Admin", "Op", "User", "Viewer", "Public"])
@pytest.mark.parametrize("path", ["/config", "/config/section/core/option/parallelism"])
def test_default_roles(
    client: httpx.Client,
    accounts: Any,
    expose: Callable[[str], None],
    path: str,
    role: str,
) -> None:
    expose("True")
    response = client.get(path, headers=JSON, auth=accounts[role].auth)
    expected = 200 if role in ("Admin", "Op") else 403
    assert response.status_code == expected, (path, role, response.text)
    if expected == 403:
        assert response.json()["title"] == "Forbidden"


def test_anonymous_is_401(client: httpx.Client, accounts: Any) -> None:
    assert_problem(client.get("/config", headers=JSON), 401)


# -- the official client ---------------------------------------------------------------------------


def test_official_client(base_url: str, accounts: Any, expose: Callable[[str], None]) -> None:
    client = pytest.importorskip("airflow_client.client")
    from airflow_client.client.api.config_api import ConfigApi

    expose("non-sensitive-only")
    conf = client.Configuration(host=f"{base_url}/api/v1", username="op", password="Op-pw")
    with client.ApiClient(conf) as api:
        config = ConfigApi(api)
        sections = {s.name: s for s in config.get_config().sections}
        assert {o.key: o.value for o in sections["core"].options}["fernet_key"] == "< hidden >"
        one = config.get_value("core", "parallelism")
        assert one.sections[0].options[0].value == "32"

"""`aerovane standalone`, `aerovane api-server`, `aerovane scheduler`, `aerovane proxy`."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from aerovane.components import Components

PASSWORD_FILE = "standalone_admin_password.txt"


def _setup_logging() -> None:
    from aerovane.logs.setup import configure_logging

    configure_logging()


def ensure_admin_user() -> tuple[str, str | None]:
    """Create `admin` with a random password on first start; return (username, password)."""
    from aerovane.auth.users import create_user, find_user, random_password
    from aerovane.config import get_settings
    from aerovane.db.engine import create_session

    path = get_settings().home / PASSWORD_FILE
    with create_session() as session:
        if find_user("admin", session=session) is not None:
            password = path.read_text().strip() if path.exists() else None
            return "admin", password
        password = random_password()
        create_user(
            username="admin",
            email="admin@example.com",
            first_name="Admin",
            last_name="User",
            role_names=["Admin"],
            password=password,
            session=session,
        )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    return "admin", password


def _announce_when_healthy(components: Components, urls: StandaloneUrls, started: float) -> None:
    if not components.wait_serving(timeout=60):
        return
    # After start-up, which its KDF and write would only slow down; nobody can use the account
    # before this: its password (and the file holding it) comes into being here.
    username, password = ensure_admin_user()
    took = time.monotonic() - started
    url = urls.web
    click.secho(f"\nAerovane is running at {url} (ready in {took:.2f}s)", fg="green", bold=True)
    if password:
        click.echo(f"Log in with username: {username}  password: {password}")
    else:
        click.echo(
            f"Log in as {username} (password in {PASSWORD_FILE} was removed; reset it "
            "with `aerovane users reset-password`)"
        )
    if urls.proxied:
        from aerovane.identity import oauth_client_id

        click.echo(
            f"The web server is behind the identity-aware proxy; OAuth client id: "
            f"{oauth_client_id()}"
        )
        click.echo(f"API server (direct, basic auth): {urls.api}")
    click.echo(f"Try:  curl -u {username}:<password> {urls.api}/api/v1/dags")
    click.echo("Press Ctrl-C to stop.\n")


@dataclass(frozen=True)
class StandaloneUrls:
    #: What people open: the proxy when enabled, else the API server itself.
    web: str
    #: The API server without the proxy (basic auth for local scripts).
    api: str
    proxied: bool


def standalone_urls(port: int, *, proxied: bool) -> StandaloneUrls:
    from aerovane.config import get_settings

    settings = get_settings()
    scheme = "https" if proxied and settings.getstr("proxy", "tls_cert_file") else "http"
    web = f"{scheme}://localhost:{port}"
    if not proxied:
        return StandaloneUrls(web, web, False)
    host = settings.getstr("proxy", "api_host")
    if host in ("0.0.0.0", "::", ""):
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return StandaloneUrls(web, f"http://{host}:{settings.getint('proxy', 'api_port')}", True)


@click.command("standalone")
@click.option("--port", type=int, default=None, help="Override [webserver] web_server_port.")
@click.option("--host", default=None, help="Override [webserver] web_server_host.")
def standalone(port: int | None, host: str | None) -> None:
    """Run everything in one process: API server, scheduler, DAG processor, local executor.

    With [proxy] enabled (the default) the public port serves the identity-aware proxy and the
    API server listens on [proxy] api_host:api_port as well.
    """
    started = time.monotonic()
    from aerovane.components import Components, Plan
    from aerovane.config import get_settings, reload_settings

    # As environment overrides, so every later settings snapshot (live config changes) and
    # every child process sees them, and the derived base URL follows the port.
    for key, value in (("WEB_SERVER_PORT", port), ("WEB_SERVER_HOST", host)):
        if value is not None:
            os.environ[f"AEROVANE__WEBSERVER__{key}"] = str(value)
    reload_settings()
    _setup_logging()
    components = Components(Plan(host=host, port=port))
    components.prepare()
    settings = get_settings()
    port = port if port is not None else settings.getint("webserver", "web_server_port")
    urls = standalone_urls(port, proxied=components.proxied)
    threading.Thread(
        target=_announce_when_healthy, args=(components, urls, started), daemon=True
    ).start()
    components.run()
    click.echo("Aerovane stopped.")


@click.command("proxy")
@click.option("--port", type=int, default=None, help="Override [webserver] web_server_port.")
@click.option("--host", default=None, help="Override [webserver] web_server_host.")
@click.option(
    "--upstream",
    default=None,
    help="The API server's URL (default http://[proxy] api_host:api_port).",
)
def proxy(port: int | None, host: str | None, upstream: str | None) -> None:
    """Serve only the identity-aware proxy, in front of an API server running elsewhere."""
    import uvicorn

    from aerovane.config import ensure_home
    from aerovane.db.migrate import check
    from aerovane.proxy import create_proxy_app

    _setup_logging()
    settings = ensure_home()
    ok, message = check()
    if not ok:
        raise click.ClickException(message)
    if upstream is None:
        api_host = settings.getstr("proxy", "api_host")
        api_host = f"[{api_host}]" if ":" in api_host else api_host
        upstream = f"http://{api_host}:{settings.getint('proxy', 'api_port')}"
    from aerovane.components import startup_finished

    host = host or settings.getstr("webserver", "web_server_host")
    port = port if port is not None else settings.getint("webserver", "web_server_port")
    _check_port_free(host, port)
    startup_finished()
    uvicorn.run(
        create_proxy_app(upstream),
        host=host,
        port=port,
        ssl_certfile=settings.getstr("proxy", "tls_cert_file") or None,
        ssl_keyfile=settings.getstr("proxy", "tls_key_file") or None,
        proxy_headers=False,
        log_config=None,  # ours (`_setup_logging`), not uvicorn's
        log_level="warning",
        access_log=False,
    )


@click.command("api-server")
@click.option("--port", type=int, default=None)
@click.option("--host", default=None)
@click.option("--workers", type=int, default=None, help="Override [webserver] workers.")
def api_server(port: int | None, host: str | None, workers: int | None) -> None:
    """Serve the REST API only."""
    import uvicorn

    from aerovane.config import ensure_home
    from aerovane.db.migrate import check
    from aerovane.logs.setup import logging_config

    _setup_logging()
    settings = ensure_home()
    ok, message = check()
    if not ok:
        raise click.ClickException(message)
    from aerovane.components import startup_finished

    host = host or settings.getstr("webserver", "web_server_host")
    port = port if port is not None else settings.getint("webserver", "web_server_port")
    _check_port_free(host, port)
    workers = workers or settings.getint("webserver", "workers")
    metrics_dir = None
    if workers > 1:
        # Each worker writes its samples here; /metrics on any of them merges them all.
        import tempfile

        metrics_dir = tempfile.mkdtemp(prefix="metrics-api-", dir=settings.home)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    startup_finished()
    try:
        uvicorn.run(
            "aerovane.api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            # Applied again in each worker process uvicorn spawns.
            log_config=logging_config(settings),
            log_level="warning",
            access_log=False,
        )
    finally:
        if metrics_dir is not None:
            import shutil

            shutil.rmtree(metrics_dir, ignore_errors=True)


def _check_port_free(host: str, port: int) -> None:
    """A port in use is one line naming the setting, not uvicorn's traceback (uvicorn binds
    again right after; with several workers it must own the socket itself)."""
    from aerovane.components import listen

    listen(host, port, "[webserver] web_server_port (or --port)").close()


@click.command("scheduler")
@click.option("--no-dag-processor", is_flag=True, help="Do not parse DAG files in this process.")
def scheduler(no_dag_processor: bool) -> None:
    """Run the scheduler, the local executor and (by default) the DAG processor."""
    from aerovane.components import Components, Plan

    _setup_logging()
    Components(Plan(api=False, dag_processor=not no_dag_processor, triggerer=False)).run()


@click.command("dag-processor")
def dag_processor() -> None:
    """Run only the DAG processor."""
    from aerovane.components import Components, Plan

    _setup_logging()
    Components(Plan(api=False, scheduler=False, triggerer=False)).run()


@click.command("triggerer")
@click.option(
    "--capacity",
    type=click.IntRange(min=1),
    default=None,
    help="Override [triggerer] default_capacity.",
)
def triggerer(capacity: int | None) -> None:
    """Run the triggerer: deferred tasks' triggers on one asyncio loop."""
    from aerovane.components import Components, Plan

    _setup_logging()
    Components(
        Plan(api=False, scheduler=False, dag_processor=False, triggerer_capacity=capacity)
    ).run()


def register(cli: click.Group) -> None:
    for command in (standalone, api_server, scheduler, dag_processor, triggerer, proxy):
        cli.add_command(command)

"""Schema migrations (`aerovane db migrate|downgrade|check|reset`) and the rows every install
needs.

Alembic is imported only when the schema is behind: the common start-up path just compares the
stored revision with the head, which keeps `aerovane standalone` quick to become healthy.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection as SAConnection

from aerovane.db import models
from aerovane.db.engine import create_session, get_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config(connection: SAConnection):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision, read from the version files without importing Alembic."""
    revisions: dict[str, str | None] = {}
    for path in (MIGRATIONS / "versions").glob("*.py"):
        scope: dict[str, object] = {}
        for line in path.read_text().splitlines():
            if line.startswith(("revision =", "down_revision =")):
                exec(line, scope)  # noqa: S102 - literal assignments from our own files
        revisions[str(scope["revision"])] = scope.get("down_revision")  # type: ignore[assignment]
    parents = {p for p in revisions.values() if p}
    heads = [r for r in revisions if r not in parents]
    if len(heads) != 1:
        raise RuntimeError(f"expected one migration head, found {heads}")
    return heads[0]


def current_revision() -> str | None:
    engine = get_engine()
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate() -> bool:
    """Bring the schema to head; return True if anything was applied.

    An empty database gets the tables straight from the models and is stamped at head, as
    Airflow does for new databases: quicker than replaying every migration, and Alembic is
    not even imported. A test checks that both paths give the same schema.
    """
    current = current_revision()
    if current == head_revision():
        ensure_default_rows()
        return False
    engine = get_engine()
    if current is None and _is_empty(engine):
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(7361502)"))
            if not inspect(conn).get_table_names():
                models.Base.metadata.create_all(conn)
                conn.execute(
                    text(
                        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                        "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
                    )
                )
                conn.execute(
                    text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                    {"v": head_revision()},
                )
        if current_revision() == head_revision():
            ensure_default_rows()
            return True
    from alembic import command

    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Several processes may start at once; one migrates, the others wait here.
            conn.execute(text("SELECT pg_advisory_xact_lock(7361502)"))
        command.upgrade(_alembic_config(conn), "head")
    ensure_default_rows()
    return True


def revisions() -> list[str]:
    """Every revision, oldest first."""
    names = sorted(path.name for path in (MIGRATIONS / "versions").glob("*.py"))
    return [name.split("_", 1)[0] for name in names]


def _alembic(
    action: str, revision: str, *, sql_only: bool = False, from_revision: str | None = None
) -> str | None:
    """Run Alembic's `upgrade`/`downgrade` to `revision`; with `sql_only`, return the SQL
    it would run instead (Alembic's offline mode) and change nothing."""
    from alembic import command

    if revision not in ("head", "base") and revision not in revisions():
        raise ValueError(f"unknown revision {revision!r}; known: {', '.join(revisions())}")
    engine = get_engine()
    if sql_only:
        import io

        from alembic.config import Config

        current = from_revision or current_revision() or "base"
        buffer = io.StringIO()
        cfg = Config(output_buffer=buffer)
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
        try:
            getattr(command, action)(cfg, f"{current}:{revision}", sql=True)
        except Exception as exc:  # noqa: BLE001 - reported as one line by the CLI
            raise ValueError(
                f"the SQL from {current} to {revision} cannot be printed offline: a migration "
                f"on the way reads the live schema ({type(exc).__name__}); run it without "
                "--show-sql-only, or pick a range that avoids it"
            ) from None
        return buffer.getvalue()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7361502)"))
        getattr(command, action)(_alembic_config(conn), revision)
    return None


def upgrade_to(
    revision: str, *, sql_only: bool = False, from_revision: str | None = None
) -> str | None:
    """Upgrade to `revision` (Airflow's `db migrate -r`); see `_alembic`."""
    if revision == "head" and not sql_only:
        migrate()
        return None
    return _alembic("upgrade", revision, sql_only=sql_only, from_revision=from_revision)


def downgrade_to(
    revision: str, *, sql_only: bool = False, from_revision: str | None = None
) -> str | None:
    """Downgrade to `revision` (`base`: no tables); see `_alembic`."""
    return _alembic("downgrade", revision, sql_only=sql_only, from_revision=from_revision)


def _is_empty(engine) -> bool:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return not inspect(conn).get_table_names()


def upgrade_with_alembic() -> None:
    """Replay every migration from scratch (used by the test that compares both paths)."""
    from alembic import command

    with get_engine().begin() as conn:
        command.upgrade(_alembic_config(conn), "head")


def check() -> tuple[bool, str]:
    """(ok, message) - reachable and at head?"""
    try:
        current = current_revision()
    except Exception as exc:  # noqa: BLE001 - any driver error means "not reachable"
        return False, f"database not reachable: {str(exc).splitlines()[0]}"
    head = head_revision()
    if current != head:
        return (
            False,
            f"schema at {current or 'nothing'}, expected {head}: run `aerovane db migrate`",
        )
    return True, f"database reachable, schema at head ({head})"


def reset(*, skip_init: bool = False) -> None:
    """Drop every table (including Alembic's) and, unless `skip_init`, migrate from scratch."""
    engine = get_engine()
    with engine.begin() as conn:
        models.Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    if not skip_init:
        migrate()


def ensure_default_rows() -> None:
    """The default pool and the default roles exist on every install."""
    from aerovane.config import get_settings

    slots = get_settings().getint("core", "default_pool_task_slot_count")
    with create_session() as session:
        if session.scalar(select(models.Pool).where(models.Pool.pool == "default_pool")) is None:
            session.add(models.Pool(pool="default_pool", slots=slots, description="Default pool"))
    from aerovane.auth.roles import sync_default_roles

    sync_default_roles()

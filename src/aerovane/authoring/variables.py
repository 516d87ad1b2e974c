"""`Variable` and `Connection`: run-time access to values stored in the metadata database.

Nothing here touches the database at import time: each lookup imports
`aerovane.db.secrets` (the engine's secrets API) when it happens. Also the `var` and `conn`
objects templates see (`{{ var.value.key }}`, `{{ var.json.key.field }}`,
`{{ conn.my_id.host }}`), which look values up only when a template touches them.
"""

from __future__ import annotations

import importlib
import json
import logging
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from aerovane.authoring._sentinel import NOTSET, ArgNotSet
from aerovane.authoring.exceptions import AerovaneNotFoundException
from aerovane.authoring.secrets_masker import mask_secret

__all__ = ["Connection", "ConnectionAccessor", "Variable", "VariableAccessor", "VariablesNamespace"]

log = logging.getLogger(__name__)


def _secrets() -> ModuleType:
    # import_module (not `from aerovane.db import secrets`) resolves straight from sys.modules,
    # so a stand-in registered there is honoured without importing the DB layer.
    return importlib.import_module("aerovane.db.secrets")


class Variable:
    """Key/value settings kept in the metadata database (Airflow's `Variable` API)."""

    @classmethod
    def get(cls, key: str, default_var: Any = NOTSET, deserialize_json: bool = False) -> Any:
        """The value of `key` (JSON-decoded if asked); `default_var` or KeyError when absent."""
        value = _secrets().get_variable(key)
        if value is None:
            if isinstance(default_var, ArgNotSet):
                raise KeyError(f"Variable {key} does not exist")
            return default_var
        if deserialize_json:
            obj = json.loads(value)
            mask_secret(obj, key)
            return obj
        mask_secret(value, key)
        return value

    @classmethod
    def set(
        cls,
        key: str,
        value: Any,
        serialize_json: bool = False,
        description: str | None = None,
    ) -> None:
        """Store `value` (as JSON when `serialize_json`, else as `str(value)`)."""
        stored = json.dumps(value, indent=2) if serialize_json else str(value)
        _secrets().set_variable(key, stored, description)

    @classmethod
    def setdefault(
        cls,
        key: str,
        default: Any,
        description: str | None = None,
        deserialize_json: bool = False,
    ) -> Any:
        """The value of `key`; when absent, store `default` first and return it."""
        current = cls.get(key, default_var=None, deserialize_json=deserialize_json)
        if current is not None:
            return current
        if default is None:
            raise ValueError("Default Value must be set")
        cls.set(key, default, serialize_json=deserialize_json, description=description)
        return default


@dataclass(repr=False)
class Connection:
    """Connection details for an external system, as stored under `conn_id`."""

    conn_id: str
    conn_type: str | None = None
    description: str | None = None
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = None
    port: int | None = None
    extra: str | None = None

    EXTRA_KEY = "__extra__"

    def __post_init__(self) -> None:
        if isinstance(self.extra, dict):
            self.extra = json.dumps(self.extra)
        if isinstance(self.port, str) and self.port:
            self.port = int(self.port)
        # Whatever a task does with a connection, its password and sensitive extras stay
        # out of the log (Airflow masks extras only once `extra_dejson` is read).
        if self.password:
            mask_secret(self.password)
        if self.extra:
            mask_secret(self._parsed_extra())

    def __repr__(self) -> str:
        # Never show the password or extras (they may hold secrets) in logs.
        return (
            f"Connection(conn_id={self.conn_id!r}, conn_type={self.conn_type!r}, "
            f"host={self.host!r})"
        )

    @property
    def extra_dejson(self) -> dict[str, Any]:
        """`extra` parsed as a JSON object ({} when empty or not valid JSON)."""
        if not self.extra:
            return {}
        try:
            value = json.loads(self.extra)
        except ValueError:
            log.error("Failed to deserialize extra property of connection %s as JSON", self.conn_id)
            return {}
        return value if isinstance(value, dict) else {}

    def _parsed_extra(self) -> dict[str, Any]:
        try:
            value = json.loads(self.extra or "")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def get_uri(self) -> str:
        """The connection as an Airflow-style URI (`type://login:pass@host:port/schema?extra`)."""
        conn_type = (self.conn_type or "").lower().replace("_", "-")
        host = self.host or ""
        if "://" in host:
            protocol, host = host.split("://", 1)
            uri = f"{conn_type}://{protocol}://"
        else:
            uri = f"{conn_type}://"
        authority = ""
        if self.login is not None:
            authority += quote(self.login, safe="")
        if self.password is not None:
            authority += ":" + quote(self.password, safe="")
        if authority:
            uri += authority + "@"
        host_block = quote(host, safe="") if host else ""
        if self.port:
            host_block += f"@:{self.port}" if not host_block and not authority else f":{self.port}"
        if self.schema:
            host_block += "/" + quote(self.schema, safe="")
        uri += host_block
        if self.extra:
            extras = self.extra_dejson
            try:
                query: str | None = urlencode(extras)
            except TypeError:
                query = None
            if query and extras == dict(parse_qsl(query, keep_blank_values=True)):
                uri += ("?" if self.schema else "/?") + query
            else:
                uri += ("?" if self.schema else "/?") + urlencode({self.EXTRA_KEY: self.extra})
        return uri

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Connection:
        return cls(
            conn_id=data["conn_id"],
            conn_type=data.get("conn_type"),
            description=data.get("description"),
            host=data.get("host"),
            schema=data.get("schema"),
            login=data.get("login"),
            password=data.get("password"),
            port=data.get("port"),
            extra=data.get("extra"),
        )

    @classmethod
    def get_connection_from_secrets(cls, conn_id: str) -> Connection:
        """Look `conn_id` up; AerovaneNotFoundException when it is not defined."""
        data = _secrets().get_connection(conn_id)
        if data is None:
            raise AerovaneNotFoundException(f"The conn_id `{conn_id}` isn't defined")
        return cls.from_dict({**data, "conn_id": data.get("conn_id") or conn_id})


class VariableAccessor:
    """`var.value` / `var.json` in templates: attribute access looks a variable up."""

    __slots__ = ("_deserialize_json",)

    def __init__(self, deserialize_json: bool) -> None:
        self._deserialize_json = deserialize_json

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        return Variable.get(key, deserialize_json=self._deserialize_json)

    def get(self, key: str, default_var: Any = NOTSET) -> Any:
        return Variable.get(key, default_var=default_var, deserialize_json=self._deserialize_json)

    def __repr__(self) -> str:
        return f"<VariableAccessor json={self._deserialize_json}>"


class VariablesNamespace:
    """The `var` template object: `var.value` (strings) and `var.json` (decoded JSON)."""

    __slots__ = ("json", "value")

    def __init__(self) -> None:
        self.value = VariableAccessor(deserialize_json=False)
        self.json = VariableAccessor(deserialize_json=True)

    def __repr__(self) -> str:
        return "<VariablesNamespace>"


class ConnectionAccessor:
    """The `conn` template object: `conn.my_id` is the Connection `my_id`."""

    __slots__ = ()

    def __getattr__(self, conn_id: str) -> Connection:
        if conn_id.startswith("__"):
            raise AttributeError(conn_id)
        return Connection.get_connection_from_secrets(conn_id)

    def get(self, conn_id: str, default_conn: Any = None) -> Any:
        try:
            return Connection.get_connection_from_secrets(conn_id)
        except AerovaneNotFoundException:
            return default_conn

    def __repr__(self) -> str:
        return "<ConnectionAccessor>"

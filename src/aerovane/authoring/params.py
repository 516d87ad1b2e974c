"""DAG params: `Param` (a default plus a JSON schema), `ParamsDict`, and `DagParam`.

A run's params are the DAG's defaults overlaid with the task's and then the run's `conf`,
validated with jsonschema (imported lazily: most DAG files never validate anything at parse
time). The serialized shape, `{"name": {"value", "schema", "description"}}`, is what the REST API
shows and what the engine validates a trigger's `conf` against without importing user code.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from aerovane.authoring._resolvable import Resolvable
from aerovane.authoring._sentinel import NOTSET, ArgNotSet
from aerovane.authoring.exceptions import AerovaneException, ParamValidationError

if TYPE_CHECKING:
    from aerovane.authoring.dag import DAG

__all__ = ["DagParam", "Param", "ParamsDict"]


def _validator_for(schema: Mapping[str, Any]) -> Any:
    import jsonschema
    from jsonschema.exceptions import SchemaError

    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as err:
        raise ParamValidationError(f"Invalid param schema: {err.message}") from None
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


class Param:
    """One DAG param: a default value, an optional description and a JSON schema.

    `Param(5, type="integer", minimum=0)`: keyword arguments other than `description` form the
    schema, or pass `schema={...}` whole. Without a default the param is required: a run must
    supply it in `conf`.
    """

    __slots__ = ("_validator", "_validator_schema", "description", "schema", "value")

    def __init__(
        self, default: Any = NOTSET, description: str | None = None, **kwargs: Any
    ) -> None:
        self.value: Any = default
        self.description = description
        self.schema: dict[str, Any] = dict(kwargs.pop("schema")) if "schema" in kwargs else kwargs
        self._validator: Any = None
        self._validator_schema: dict[str, Any] | None = None

    @property
    def has_value(self) -> bool:
        return not isinstance(self.value, ArgNotSet)

    def _get_validator(self) -> Any:
        # Compiling a validator checks the schema too; cache it until the schema is replaced.
        if self._validator is None or self._validator_schema is not self.schema:
            self._validator = _validator_for(self.schema)
            self._validator_schema = self.schema
        return self._validator

    def resolve(self, value: Any = NOTSET, suppress_exception: bool = False) -> Any:
        """`value` (or the default when NOTSET), validated against the schema.

        Unlike Airflow this never stores `value` on the Param: DAG objects are shared between
        runs in long-lived processes and must not remember one run's input.
        """
        final = self.value if isinstance(value, ArgNotSet) else value
        if isinstance(final, ArgNotSet):
            if suppress_exception:
                return None
            raise ParamValidationError("No value passed and Param has no default value")
        if not self.schema:
            return final
        from jsonschema.exceptions import ValidationError

        try:
            self._get_validator().validate(final)
        except ValidationError as err:
            if suppress_exception:
                return None
            raise ParamValidationError(err.message) from None
        return final

    def serialize(self) -> dict[str, Any]:
        """`{"value", "schema", "description"}`; a missing default adds `"has_default": False`."""
        out: dict[str, Any] = {
            "value": self.value if self.has_value else None,
            "schema": self.schema,
            "description": self.description,
        }
        if not self.has_value:
            out["has_default"] = False
        return out

    @classmethod
    def deserialize(cls, data: Mapping[str, Any]) -> Param:
        has_default = data.get("has_default", True)
        default = data.get("value") if has_default else NOTSET
        return cls(default, description=data.get("description"), schema=data.get("schema") or {})

    def __copy__(self) -> Param:
        return Param(self.value, description=self.description, schema=self.schema)

    def __deepcopy__(self, memo: dict[int, Any]) -> Param:
        return Param(
            copy.deepcopy(self.value, memo),
            description=self.description,
            schema=copy.deepcopy(self.schema, memo),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Param):
            return NotImplemented
        return (self.value, self.description, self.schema) == (
            other.value,
            other.description,
            other.schema,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Param({self.value!r}, description={self.description!r}, schema={self.schema!r})"


class ParamsDict(MutableMapping[str, Any]):
    """Name → `Param`; item access yields *validated values*, `get_param` the `Param` itself.

    Assigning a plain value to an existing name validates it against that param's schema;
    assigning to a new name creates an unconstrained `Param`.
    """

    __slots__ = ("_params", "suppress_exception")

    def __init__(
        self, dict_obj: Mapping[str, Any] | None = None, suppress_exception: bool = False
    ) -> None:
        self._params: dict[str, Param] = {}
        self.suppress_exception = suppress_exception
        if isinstance(dict_obj, ParamsDict):
            self._params = {k: copy.copy(p) for k, p in dict_obj._params.items()}
        elif dict_obj:
            for key, value in dict_obj.items():
                self._params[key] = value if isinstance(value, Param) else Param(value)

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, Param):
            self._params[key] = value
            return
        param = self._params.get(key)
        if param is None:
            self._params[key] = Param(value)
            return
        try:
            param.value = param.resolve(value, suppress_exception=self.suppress_exception)
        except ParamValidationError as err:
            raise ParamValidationError(f"Invalid input for param {key}: {err}") from None

    def __getitem__(self, key: str) -> Any:
        return self._params[key].resolve(suppress_exception=self.suppress_exception)

    def __delitem__(self, key: str) -> None:
        del self._params[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __contains__(self, key: object) -> bool:
        return key in self._params

    def __repr__(self) -> str:
        return f"ParamsDict({self._params!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ParamsDict):
            return self._params == other._params
        if isinstance(other, Mapping):
            return self.dump() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __copy__(self) -> ParamsDict:
        return ParamsDict(self, suppress_exception=self.suppress_exception)

    def __deepcopy__(self, memo: dict[int, Any]) -> ParamsDict:
        new = ParamsDict(suppress_exception=self.suppress_exception)
        new._params = {k: copy.deepcopy(p, memo) for k, p in self._params.items()}
        return new

    def get_param(self, key: str) -> Param:
        return self._params[key]

    def items_params(self) -> Iterator[tuple[str, Param]]:
        return iter(self._params.items())

    def dump(self) -> dict[str, Any]:
        """Values without validation (missing defaults become None); for display."""
        return {k: (p.value if p.has_value else None) for k, p in self._params.items()}

    def validate(self) -> dict[str, Any]:
        """Every param's validated value; raises naming the first invalid or missing param."""
        resolved: dict[str, Any] = {}
        for key, param in self._params.items():
            try:
                resolved[key] = param.resolve(suppress_exception=self.suppress_exception)
            except ParamValidationError as err:
                raise ParamValidationError(f"Invalid input for param {key}: {err}") from None
        return resolved

    def validate_defaults(self) -> None:
        """Check the defaults that exist (parse-time check; required params may lack one)."""
        for key, param in self._params.items():
            if param.has_value:
                try:
                    param.resolve()
                except ParamValidationError as err:
                    raise ParamValidationError(f"Invalid default for param {key}: {err}") from None

    def resolve(self, conf: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A run's params: `conf` merged over the defaults and validated.

        Keys in `conf` without a declared param are passed through unvalidated, as Airflow does
        with `dag_run_conf_overrides_params`.
        """
        conf = conf or {}
        resolved: dict[str, Any] = {}
        for key, param in self._params.items():
            try:
                resolved[key] = param.resolve(conf.get(key, NOTSET))
            except ParamValidationError as err:
                raise ParamValidationError(f"Invalid input for param {key}: {err}") from None
        for key, value in conf.items():
            if key not in self._params:
                resolved[key] = value
        return resolved

    def merged(self, other: Mapping[str, Any] | None) -> ParamsDict:
        """A new ParamsDict: these params overlaid by `other`'s (Params replace, values update)."""
        new = ParamsDict(self, suppress_exception=self.suppress_exception)
        if other:
            source = other._params if isinstance(other, ParamsDict) else other
            for key, value in source.items():
                new[key] = copy.copy(value) if isinstance(value, Param) else value
        return new

    def serialize(self) -> dict[str, dict[str, Any]]:
        return {key: param.serialize() for key, param in self._params.items()}

    @classmethod
    def deserialize(cls, data: Mapping[str, Mapping[str, Any]] | None) -> ParamsDict:
        new = cls()
        for key, value in (data or {}).items():
            new._params[key] = Param.deserialize(value)
        return new


class DagParam(Resolvable):
    """A `@dag` function argument: a placeholder resolved from the run's params at run time.

    Creating one with a default registers that default as the DAG param of the same name, which
    is how `@dag` turns keyword defaults into params.
    """

    __slots__ = ("_default", "_name")

    def __init__(self, current_dag: DAG, name: str, default: Any = NOTSET) -> None:
        if not isinstance(default, ArgNotSet):
            current_dag.params[name] = default
        self._name = name
        self._default = default

    @property
    def name(self) -> str:
        return self._name

    def resolve(self, context: Mapping[str, Any]) -> Any:
        params = context.get("params") or {}
        if self._name in params:
            return params[self._name]
        dag_run = context.get("dag_run")
        conf = getattr(dag_run, "conf", None) or {}
        if self._name in conf:
            return conf[self._name]
        if not isinstance(self._default, ArgNotSet):
            return self._default.value if isinstance(self._default, Param) else self._default
        raise AerovaneException(f"No value could be resolved for parameter {self._name}")

    def __repr__(self) -> str:
        return f"DagParam({self._name!r})"

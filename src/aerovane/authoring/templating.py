"""Jinja rendering of templated operator fields.

`build_jinja_env(dag)` gives the environment a DAG's tasks render with: StrictUndefined, the
DAG's macros and filters, templates loaded from the DAG's folder and `template_searchpath`, and
Jinja's native-types mode when `render_template_as_native_obj` is set. The string environment is
sandboxed like Airflow's (single-underscore attributes allowed, dunders not). jinja2 is imported
here, lazily, the first time something renders.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aerovane.authoring._resolvable import Resolvable
from aerovane.authoring.exceptions import AerovaneException

if TYPE_CHECKING:
    import jinja2

    from aerovane.authoring.dag import DAG

__all__ = ["FILTERS", "build_jinja_env", "render_template"]

_PASSTHROUGH = (int, float, bool, bytes, datetime, timedelta, type(None))


def _ds(value: datetime) -> str:
    return value.strftime("%Y-%m-%d")


def _ds_nodash(value: datetime) -> str:
    return value.strftime("%Y%m%d")


def _ts(value: datetime) -> str:
    return value.isoformat()


def _ts_nodash(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S")


def _ts_nodash_with_tz(value: datetime) -> str:
    return value.isoformat().replace("-", "").replace(":", "")


#: Airflow's built-in template filters.
FILTERS: dict[str, Any] = {
    "ds": _ds,
    "ds_nodash": _ds_nodash,
    "ts": _ts,
    "ts_nodash": _ts_nodash,
    "ts_nodash_with_tz": _ts_nodash_with_tz,
}


@functools.cache
def _environment_classes() -> tuple[type[jinja2.Environment], type[jinja2.Environment]]:
    """(sandboxed string environment, native environment) classes, built on first use."""
    import jinja2.nativetypes
    import jinja2.sandbox

    class _Mixin:
        def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
            # Airflow allows `_private` attributes in templates, but never dunders.
            return not jinja2.sandbox.is_internal_attribute(obj, attr) and not attr.startswith("__")

    class SandboxedEnvironment(_Mixin, jinja2.sandbox.SandboxedEnvironment):
        pass

    class NativeEnvironment(_Mixin, jinja2.nativetypes.NativeEnvironment):
        pass

    return SandboxedEnvironment, NativeEnvironment


def build_jinja_env(dag: DAG | None = None) -> jinja2.Environment:
    """The Jinja environment templates of `dag`'s tasks render in (a bare one without a DAG)."""
    import jinja2

    sandboxed, native = _environment_classes()
    options: dict[str, Any] = {
        "undefined": jinja2.StrictUndefined,
        "extensions": ["jinja2.ext.do"],
        "keep_trailing_newline": False,
    }
    env_class: type[jinja2.Environment] = sandboxed
    if dag is not None:
        searchpath = [dag.folder] if dag.fileloc else []
        searchpath.extend(dag.template_searchpath or [])
        if searchpath:
            options["loader"] = jinja2.FileSystemLoader(searchpath)
        if dag.template_undefined is not None:
            options["undefined"] = dag.template_undefined
        options.update(dag.jinja_environment_kwargs)
        if dag.render_template_as_native_obj:
            env_class = native
    env = env_class(**options)
    env.filters.update(FILTERS)
    if dag is not None:
        env.globals.update(dag.user_defined_macros)
        env.filters.update(dag.user_defined_filters)
    return env


def _load_template(env: jinja2.Environment, name: str) -> jinja2.Template:
    import jinja2

    if os.path.isabs(name) and os.path.isfile(name):
        # FileSystemLoader only takes names relative to its search path; Airflow rejects
        # absolute paths, but there is no ambiguity in accepting an existing file.
        with open(name, encoding="utf-8") as handle:
            return env.from_string(handle.read())
    try:
        return env.get_template(name)
    except jinja2.TemplateNotFound:
        loader = env.loader
        searched = getattr(loader, "searchpath", None) if loader is not None else None
        raise AerovaneException(
            f"Template file {name!r} not found (searched: {searched or 'no template folder'}); "
            "put it beside the DAG file or in the DAG's template_searchpath"
        ) from None


def render_template(
    value: Any,
    context: Mapping[str, Any],
    env: jinja2.Environment,
    *,
    template_ext: Sequence[str] = (),
    seen: set[int] | None = None,
) -> Any:
    """`value` with every string rendered, recursing into lists, tuples, sets and dict values.

    Run-time placeholders (XComArgs, DAG params) resolve against `context`; objects with their
    own `template_fields` are rendered in place. Anything else is returned unchanged.
    """
    if isinstance(value, str):
        if template_ext and value.endswith(tuple(template_ext)):
            template = _load_template(env, value)
        else:
            template = env.from_string(value)
        return template.render(context)
    if isinstance(value, _PASSTHROUGH):
        return value
    if isinstance(value, Resolvable):
        return value.resolve(context)
    if seen is None:
        seen = set()

    def render(item: Any) -> Any:
        return render_template(item, context, env, template_ext=template_ext, seen=seen)

    if isinstance(value, tuple):
        if hasattr(value, "_fields"):  # namedtuple
            return type(value)(*(render(item) for item in value))
        return tuple(render(item) for item in value)
    if isinstance(value, list):
        return [render(item) for item in value]
    if isinstance(value, dict):
        return {key: render(item) for key, item in value.items()}
    if isinstance(value, (set, frozenset)):
        return type(value)(render(item) for item in value)
    fields = getattr(type(value), "template_fields", None)
    if fields and id(value) not in seen:
        seen.add(id(value))
        for name in fields:
            setattr(value, name, render(getattr(value, name)))
    return value

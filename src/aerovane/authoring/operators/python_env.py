"""Python callables run by another interpreter: `PythonVirtualenvOperator` (a virtualenv built
with `venv` + pip, cached per requirements) and `ExternalPythonOperator` (an existing
interpreter).

As in Airflow, the callable's *source* is written to a script together with its arguments
(pickled, or `dill`/`cloudpickle`), run by the other interpreter, and its pickled result read
back; the callable must therefore be self-contained (imports inside the function). Only context
entries that survive the trip without Airflow or Aerovane installed there are offered to it.
"""

from __future__ import annotations

import ast
import datetime as dt
import fcntl
import hashlib
import importlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from aerovane.authoring.exceptions import AerovaneException, AerovaneSkipException
from aerovane.authoring.operators.branch import BranchMixIn
from aerovane.authoring.operators.python import PythonOperator

__all__ = [
    "BranchExternalPythonOperator",
    "BranchPythonVirtualenvOperator",
    "ExternalPythonOperator",
    "PythonVirtualenvOperator",
    "ensure_virtualenv",
    "is_venv_installed",
]

_SERIALIZERS = ("pickle", "dill", "cloudpickle")
#: Context entries handed to the callable (when its signature asks for them).
SERIALIZABLE_CONTEXT_KEYS = frozenset(
    {
        "ds",
        "ds_nodash",
        "expanded_ti_count",
        "run_id",
        "task_instance_key_str",
        "test_mode",
        "ts",
        "ts_nodash",
        "ts_nodash_with_tz",
        "params",
        "templates_dict",
        "data_interval_end",
        "data_interval_start",
        "execution_date",
        "logical_date",
        "map_index_template",
    }
)
_COMPLETE_MARKER = "aerovane-venv-complete.json"

_SCRIPT = """\
import sys
import {serializer}

{source}

with open(sys.argv[1], "rb") as file:
    arg_dict = {serializer}.load(file)
with open(sys.argv[3], "r") as file:
    virtualenv_string_args = [line.strip() for line in file]
try:
    res = {name}(*arg_dict["args"], **arg_dict["kwargs"])
except Exception as e:
    with open(sys.argv[4], "w") as file:
        file.write(f"{{type(e).__name__}}: {{e}}")
    raise
with open(sys.argv[2], "wb") as file:
    if res is not None:
        {serializer}.dump(res, file)
"""


def is_venv_installed() -> bool:
    """Airflow DAG files check this before using PythonVirtualenvOperator; virtualenvs are
    made with the standard library's `venv`, which is always there."""
    return True


def _plain_datetime(value: Any) -> Any:
    """A stdlib datetime (in UTC) for any datetime subclass, so the other side needs no
    pendulum to unpickle it."""
    if isinstance(value, dt.datetime) and type(value) is not dt.datetime:
        utc = value.astimezone(dt.UTC)
        return dt.datetime(*utc.timetuple()[:6], utc.microsecond, tzinfo=dt.UTC)
    return value


def callable_source(function: Callable[..., Any]) -> str:
    """The function's source without its decorators (`@task.virtualenv(...)` and the like)."""
    if getattr(function, "__name__", "") == "<lambda>":
        raise AerovaneException("a lambda cannot run in another interpreter; use a def function")
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError) as err:
        raise AerovaneException(f"cannot read the source of {function!r}: {err}") from None
    tree = ast.parse(source)
    node = tree.body[0]
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise AerovaneException(f"{function!r} is not a plain function definition")
    return "\n".join(source.splitlines()[node.lineno - 1 :]) + "\n"


class _BasePythonEnvOperator(PythonOperator):
    template_fields: ClassVar[tuple[str, ...]] = (*PythonOperator.template_fields, "env_vars")

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        serializer: str | None = None,
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        string_args: Iterable[str] | None = None,
        templates_dict: dict[str, Any] | None = None,
        templates_exts: list[str] | None = None,
        expect_airflow: bool = True,
        skip_on_exit_code: int | Collection[int] | None = None,
        env_vars: dict[str, str] | None = None,
        inherit_env: bool = True,
        use_dill: bool = False,
        **kwargs: Any,
    ) -> None:
        if not inspect.isfunction(python_callable) or python_callable.__name__ == "<lambda>":
            raise AerovaneException(
                f"{type(self).__name__} only supports functions for python_callable arg"
            )
        super().__init__(
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            templates_dict=templates_dict,
            templates_exts=templates_exts,
            **kwargs,
        )
        if use_dill:
            if serializer:
                raise AerovaneException(
                    "Both 'use_dill' and 'serializer' parameters are set. "
                    "Please set only one of them"
                )
            serializer = "dill"
        serializer = serializer or "pickle"
        if serializer not in _SERIALIZERS:
            raise AerovaneException(
                f"Unsupported serializer {serializer!r}. "
                f"Expected one of {', '.join(map(repr, _SERIALIZERS))}"
            )
        self.serializer = serializer
        self.string_args = list(string_args or [])
        self.expect_airflow = expect_airflow  # nothing of Airflow's is loaded on the other side
        if skip_on_exit_code is None:
            self.skip_on_exit_code: Collection[int] = ()
        elif isinstance(skip_on_exit_code, int):
            self.skip_on_exit_code = (skip_on_exit_code,)
        else:
            self.skip_on_exit_code = tuple(skip_on_exit_code)
        self.env_vars = env_vars
        self.inherit_env = inherit_env

    def execute(self, context: Mapping[str, Any]) -> Any:
        offered = {
            key: _plain_datetime(value)
            for key, value in context.items()
            if key in SERIALIZABLE_CONTEXT_KEYS
        }
        if isinstance(context, dict):
            context["templates_dict"] = self.templates_dict
        return super().execute(offered)

    def _interpreter(self) -> Path:
        raise NotImplementedError

    def execute_callable(self) -> Any:
        return self._run_in_subprocess(self._interpreter())

    def _pickler(self) -> Any:
        try:
            return importlib.import_module(self.serializer)
        except ImportError:
            raise AerovaneException(
                f"serializer {self.serializer!r} needs the {self.serializer} package installed "
                "where the task runs"
            ) from None

    def _run_in_subprocess(self, python: Path) -> Any:
        pickler = self._pickler()
        with tempfile.TemporaryDirectory(prefix="venv-call") as tmp:
            tmp_dir = Path(tmp)
            input_path = tmp_dir / "script.in"
            output_path = tmp_dir / "script.out"
            string_args_path = tmp_dir / "string_args.txt"
            script_path = tmp_dir / "script.py"
            termination_path = tmp_dir / "termination.log"
            kwargs = dict(self.op_kwargs)
            with input_path.open("wb") as file:
                pickler.dump({"args": list(self.op_args), "kwargs": kwargs}, file)
            string_args_path.write_text("\n".join(map(str, self.string_args)))
            script_path.write_text(
                _SCRIPT.format(
                    serializer=self.serializer,
                    source=callable_source(self.python_callable),
                    name=self.python_callable.__name__,
                )
            )
            env = dict(os.environ) if self.inherit_env else {}
            env.update(self.env_vars or {})
            command = [
                os.fspath(python),
                os.fspath(script_path),
                os.fspath(input_path),
                os.fspath(output_path),
                os.fspath(string_args_path),
                os.fspath(termination_path),
            ]
            code = _run_logged(command, env, self.log)
            if code in self.skip_on_exit_code:
                raise AerovaneSkipException(f"Process exited with code {code}. Skipping.")
            if code != 0:
                message = f"Process returned non-zero exit status {code}."
                if termination_path.exists() and termination_path.stat().st_size:
                    message += "\n" + termination_path.read_text()
                raise AerovaneException(message)
            if output_path.stat().st_size == 0:
                return None
            with output_path.open("rb") as file:
                return pickler.load(file)


def _run_logged(command: list[str], env: Mapping[str, str], log: Any) -> int:
    """Run `command`, logging each output line; the exit code."""
    log.info("Executing cmd: %s", " ".join(command))
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(env),
    )
    assert process.stdout is not None
    with process.stdout:
        for raw in iter(process.stdout.readline, b""):
            log.info("%s", raw.decode("utf-8", errors="backslashreplace").rstrip())
    return process.wait()


def find_interpreter(python_version: str | int | float | None) -> Path:
    """This interpreter, or `python<version>` from PATH; an unavailable version is an error."""
    if python_version is None:
        return Path(sys.executable)
    wanted = str(python_version)
    major, minor = sys.version_info[:2]
    if wanted in (str(major), f"{major}.{minor}"):
        return Path(sys.executable)
    found = shutil.which(f"python{wanted}")
    if found is None:
        raise AerovaneException(
            f"python_version={wanted!r}: no python{wanted} interpreter is installed here "
            f"(this one is {major}.{minor})"
        )
    return Path(found)


def ensure_virtualenv(
    *,
    cache_root: Path,
    python: Path,
    requirements: list[str],
    system_site_packages: bool,
    pip_install_options: list[str],
    index_urls: list[str] | None,
    log: Any,
) -> Path:
    """The python of a virtualenv with `requirements`, built once per distinct specification.

    The directory is named by a hash of everything that shapes it; a lock file keeps two task
    processes from building the same one at once, and a marker written last tells a complete
    environment from a half-built one (which is rebuilt).
    """
    spec = {
        "python": os.fspath(python),
        "requirements": sorted(requirements),
        "system_site_packages": system_site_packages,
        "pip_install_options": pip_install_options,
        "index_urls": index_urls,
    }
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    cache_root.mkdir(parents=True, exist_ok=True)
    venv = cache_root / f"venv-{digest}"
    with (cache_root / f"venv-{digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = venv / _COMPLETE_MARKER
        if marker.exists():
            log.info("Reusing cached virtualenv %s", venv)
            return venv / "bin" / "python"
        if venv.exists():
            log.warning("Removing the incomplete virtualenv %s", venv)
            shutil.rmtree(venv)
        log.info("Creating virtualenv %s", venv)
        command = [os.fspath(python), "-m", "venv", os.fspath(venv)]
        if system_site_packages:
            command.append("--system-site-packages")
        if _run_logged(command, os.environ, log) != 0:
            raise AerovaneException(f"creating the virtualenv {venv} failed (see the log)")
        if requirements:
            requirements_file = venv / "requirements.txt"
            requirements_file.write_text("\n".join(requirements) + "\n")
            pip = [os.fspath(venv / "bin" / "python"), "-m", "pip", "install"]
            if index_urls:
                pip += ["--index-url", index_urls[0]]
                for url in index_urls[1:]:
                    pip += ["--extra-index-url", url]
            pip += [*pip_install_options, "-r", os.fspath(requirements_file)]
            if _run_logged(pip, os.environ, log) != 0:
                raise AerovaneException(
                    f"installing {requirements} into {venv} failed (see the log)"
                )
        marker.write_text(json.dumps(spec))
        return venv / "bin" / "python"


class PythonVirtualenvOperator(_BasePythonEnvOperator):
    """Runs the function in a virtualenv with `requirements` (a list, or a requirements file
    path ending in .txt), built with this interpreter or `python_version`'s and cached under
    `venv_cache_path` (default: `$AEROVANE_HOME/venv_cache`)."""

    template_fields: ClassVar[tuple[str, ...]] = (
        *_BasePythonEnvOperator.template_fields,
        "requirements",
    )
    template_ext: ClassVar[tuple[str, ...]] = (".txt",)

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        requirements: Iterable[str] | str | None = None,
        python_version: str | None = None,
        system_site_packages: bool = True,
        pip_install_options: list[str] | None = None,
        index_urls: Collection[str] | str | None = None,
        venv_cache_path: os.PathLike[str] | str | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(requirements, str):
            self.requirements: list[str] | str = requirements
        else:
            self.requirements = list(requirements or [])
        self.python_version = python_version
        self.system_site_packages = system_site_packages
        self.pip_install_options = list(pip_install_options or [])
        if isinstance(index_urls, str):
            index_urls = [index_urls]
        self.index_urls = list(index_urls) if index_urls is not None else None
        self.venv_cache_path = venv_cache_path
        super().__init__(python_callable=python_callable, **kwargs)
        find_interpreter(python_version)  # fail at parse time on a version not installed

    def _requirement_list(self) -> list[str]:
        value = self.requirements  # a rendered requirements file is one string
        lines = value.splitlines() if isinstance(value, str) else [str(r) for r in value]
        found = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        if self.serializer != "pickle" and not any(r.startswith(self.serializer) for r in found):
            found.append(self.serializer)
        return sorted(set(found))

    def _interpreter(self) -> Path:
        if self.venv_cache_path is not None:
            cache_root = Path(self.venv_cache_path)
        else:
            from aerovane.config import get_settings

            cache_root = get_settings().home / "venv_cache"
        return ensure_virtualenv(
            cache_root=cache_root,
            python=find_interpreter(self.python_version),
            requirements=self._requirement_list(),
            system_site_packages=self.system_site_packages,
            pip_install_options=self.pip_install_options,
            index_urls=self.index_urls,
            log=self.log,
        )


class ExternalPythonOperator(_BasePythonEnvOperator):
    """Runs the function with the interpreter at `python` (e.g. a pre-built venv's)."""

    template_fields: ClassVar[tuple[str, ...]] = (
        *_BasePythonEnvOperator.template_fields,
        "python",
    )

    def __init__(self, *, python: str, python_callable: Callable[..., Any], **kwargs: Any) -> None:
        if not python:
            raise ValueError("Python Path must be defined in ExternalPythonOperator")
        self.python = python
        super().__init__(python_callable=python_callable, **kwargs)

    def _interpreter(self) -> Path:
        path = Path(self.python)
        if not path.exists():
            raise ValueError(f"Python Path '{path}' must exists")
        if not path.is_file():
            raise ValueError(f"Python Path '{path}' must be a file")
        if not path.is_absolute():
            raise ValueError(f"Python Path '{path}' must be an absolute path.")
        return path


class BranchPythonVirtualenvOperator(PythonVirtualenvOperator, BranchMixIn):
    """The function, run in a virtualenv, returns the task id(s) to follow."""

    def execute(self, context: Mapping[str, Any]) -> Any:
        return self.do_branch(context, super().execute(context))


class BranchExternalPythonOperator(ExternalPythonOperator, BranchMixIn):
    """The function, run by the `python` interpreter, returns the task id(s) to follow."""

    def execute(self, context: Mapping[str, Any]) -> Any:
        return self.do_branch(context, super().execute(context))

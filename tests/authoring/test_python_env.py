"""PythonVirtualenvOperator, ExternalPythonOperator and their TaskFlow decorators.

One virtualenv (with `six` from the machine's package index) is built per test session and
reused through the operators' own cache.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aerovane.authoring import (
    DAG,
    ExternalPythonOperator,
    PythonVirtualenvOperator,
    task,
)
from aerovane.authoring.exceptions import AerovaneException, AerovaneSkipException
from aerovane.authoring.operators.python_env import callable_source, ensure_virtualenv
from tests.authoring.helpers import run_task

REQUIREMENTS = ["six"]


@pytest.fixture(scope="session")
def venv_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("venv_cache")
    ensure_virtualenv(
        cache_root=root,
        python=Path(sys.executable),
        requirements=REQUIREMENTS,
        system_site_packages=False,
        pip_install_options=[],
        index_urls=None,
        log=logging.getLogger("test"),
    )
    yield root


def uses_six(a, b, ds=None, params=None):
    import sys

    import six

    return {
        "sum": a + b,
        "ds": ds,
        "params": params,
        "six": six.PY3,
        "prefix": sys.prefix,
    }


def test_virtualenv_runs_with_its_requirements_and_context(venv_cache: Path) -> None:
    with DAG("venv", schedule=None, params={"who": "me"}):
        op = PythonVirtualenvOperator(
            task_id="v",
            python_callable=uses_six,
            requirements=REQUIREMENTS,
            system_site_packages=False,
            venv_cache_path=venv_cache,
            op_args=[1],
            op_kwargs={"b": 41},
        )
    result = run_task(op)
    assert result["sum"] == 42
    assert result["ds"] == "2024-03-05"
    assert result["params"] == {"who": "me"}
    assert result["six"] is True
    assert result["prefix"].startswith(str(venv_cache))
    assert len([p for p in venv_cache.iterdir() if p.is_dir()]) == 1  # the cached one, reused


def test_virtualenv_decorator_with_pickled_objects(venv_cache: Path) -> None:
    import datetime as dt

    with DAG("venv_tf", schedule=None) as dag:

        @task.virtualenv(
            requirements=REQUIREMENTS, system_site_packages=False, venv_cache_path=venv_cache
        )
        def shift(when, logical_date=None):
            import datetime

            return (when + datetime.timedelta(days=1), logical_date.year)

        shift(dt.datetime(2024, 1, 1))
    [op] = dag.tasks
    assert op.operator_name == "@task.virtualenv"
    assert run_task(op) == (dt.datetime(2024, 1, 2), 2024)


def fails():
    raise KeyError("nope")


def exits_3():
    import sys

    sys.exit(3)


def test_errors_and_skip_exit_codes(venv_cache: Path) -> None:
    with DAG("ext", schedule=None):
        bad = ExternalPythonOperator(task_id="bad", python=sys.executable, python_callable=fails)
        skip = ExternalPythonOperator(
            task_id="skip", python=sys.executable, python_callable=exits_3, skip_on_exit_code=3
        )
    with pytest.raises(AerovaneException, match="KeyError: 'nope'"):
        run_task(bad)
    with pytest.raises(AerovaneSkipException, match="exited with code 3"):
        run_task(skip)


def test_external_python_decorator_and_string_args() -> None:
    with DAG("ext_tf", schedule=None) as dag:

        @task.external_python(python=sys.executable, string_args=["x", "y"])
        def version():
            import sys

            return [sys.executable, virtualenv_string_args]  # noqa: F821 - set by the script

        version()
    [op] = dag.tasks
    assert op.operator_name == "@task.external_python"
    assert run_task(op) == [sys.executable, ["x", "y"]]


def test_bad_arguments() -> None:
    with DAG("bad_env", schedule=None):
        with pytest.raises(AerovaneException, match="only supports functions"):
            PythonVirtualenvOperator(task_id="l", python_callable=lambda: 1)
        with pytest.raises(AerovaneException, match="Unsupported serializer 'json'"):
            PythonVirtualenvOperator(task_id="s", python_callable=fails, serializer="json")
        with pytest.raises(AerovaneException, match=r"no python2\.1 interpreter"):
            PythonVirtualenvOperator(task_id="v", python_callable=fails, python_version="2.1")
        op = ExternalPythonOperator(task_id="e", python="/no/such/python", python_callable=fails)
    with pytest.raises(ValueError, match="must exists"):
        run_task(op)


def test_source_drops_decorators() -> None:
    @pytest.mark.skip(reason="a decorator with arguments")
    def decorated(x):
        return x

    source = callable_source(decorated)
    assert source.startswith("def decorated(x):")


def test_airflow_paths() -> None:
    from aerovane.compat import airflow_shim

    airflow_shim.install()
    from airflow.operators.python import ExternalPythonOperator as AirflowExternal
    from airflow.operators.python import PythonVirtualenvOperator as AirflowVenv

    assert AirflowVenv is PythonVirtualenvOperator
    assert AirflowExternal is ExternalPythonOperator


def test_branching_in_another_interpreter(venv_cache: Path) -> None:
    from aerovane.authoring import EmptyOperator
    from aerovane.authoring.operators.python_env import BranchExternalPythonOperator
    from tests.authoring.helpers import FakeTI

    def choose():
        return "left"

    with DAG("env_branch", schedule=None) as dag:

        @task.branch_virtualenv(
            requirements=REQUIREMENTS, system_site_packages=False, venv_cache_path=venv_cache
        )
        def pick_in_venv():
            import six  # noqa: F401 - proves it runs in the virtualenv

            return ["right"]

        venv_op = pick_in_venv().operator
        external = BranchExternalPythonOperator(
            task_id="external", python=sys.executable, python_callable=choose
        )
        left, right = EmptyOperator(task_id="left"), EmptyOperator(task_id="right")
        venv_op >> [left, right]
        external >> [left, right]
    assert venv_op.operator_name == "@task.branch_virtualenv"
    ti = FakeTI()
    assert run_task(venv_op, ti) == ["right"]
    assert ti.skipped_ids == {"left"}
    ti = FakeTI()
    assert run_task(external, ti) == "left"
    assert ti.skipped_ids == {"right"}
    assert dag.task_dict["external"] is external


def test_is_venv_installed() -> None:
    from aerovane.compat import airflow_shim

    airflow_shim.install()
    from airflow.operators.python import (
        BranchExternalPythonOperator,
        BranchPythonVirtualenvOperator,
        is_venv_installed,
    )

    assert is_venv_installed() is True
    assert issubclass(BranchPythonVirtualenvOperator, PythonVirtualenvOperator)
    assert issubclass(BranchExternalPythonOperator, ExternalPythonOperator)


def apply(f, x):
    return f(x)


def test_dill_serializer_carries_what_pickle_cannot() -> None:
    # A lambda argument: pickle refuses it, dill (a dependency, as in Airflow) carries it over
    # (made outside any module, so that dill sends it by value rather than naming a module).
    double = eval("lambda x: x * 2", {})
    with DAG("ext_dill", schedule=None):
        op = ExternalPythonOperator(
            task_id="d",
            python=sys.executable,
            python_callable=apply,
            serializer="dill",
            op_kwargs={"f": double, "x": 21},
        )
        plain = ExternalPythonOperator(
            task_id="p",
            python=sys.executable,
            python_callable=apply,
            op_kwargs={"f": double, "x": 21},
        )
    assert run_task(op) == 42
    with pytest.raises(Exception, match="lambda"):
        run_task(plain)

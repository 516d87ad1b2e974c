"""Param / ParamsDict validation, run-conf resolution and serialization."""

from __future__ import annotations

import copy
import json

import pytest

from aerovane.authoring import DAG, EmptyOperator, Param
from aerovane.authoring.exceptions import AerovaneDagError, ParamValidationError
from aerovane.authoring.params import ParamsDict


def test_param_validates_good_values_and_rejects_bad_ones() -> None:
    param = Param(5, type="integer", minimum=0, description="how many")
    assert param.resolve() == 5
    assert param.resolve(7) == 7
    with pytest.raises(ParamValidationError, match="-1 is less than the minimum of 0"):
        param.resolve(-1)
    with pytest.raises(ParamValidationError, match="'x' is not of type 'integer'"):
        param.resolve("x")
    assert param.resolve("x", suppress_exception=True) is None
    assert param.value == 5  # resolving never stores the input


def test_param_without_default_is_required() -> None:
    param = Param(type="string")
    assert not param.has_value
    with pytest.raises(ParamValidationError, match="No value passed and Param has no default"):
        param.resolve()
    assert param.resolve("given") == "given"


def test_param_schema_keyword_and_formats() -> None:
    param = Param("2024-01-01", schema={"type": "string", "format": "date"})
    assert param.schema == {"type": "string", "format": "date"}
    with pytest.raises(ParamValidationError, match="is not a 'date'"):
        param.resolve("yesterday")
    with pytest.raises(ParamValidationError, match="Invalid param schema"):
        Param(1, type="no-such-type").resolve()


def test_params_dict_item_access_validates_and_wraps() -> None:
    params = ParamsDict({"n": Param(1, type="integer"), "plain": "text"})
    assert params["n"] == 1 and params["plain"] == "text"
    assert isinstance(params.get_param("plain"), Param)
    params["n"] = 2
    assert params["n"] == 2
    with pytest.raises(ParamValidationError, match="Invalid input for param n: 'two'"):
        params["n"] = "two"
    params["new"] = [1, 2]
    assert params.dump() == {"n": 2, "plain": "text", "new": [1, 2]}
    assert len(params) == 3 and "new" in params and list(params) == ["n", "plain", "new"]
    del params["new"]
    assert "new" not in params


def test_resolve_merges_conf_over_defaults() -> None:
    params = ParamsDict({"who": Param("world", type="string"), "n": Param(1, type="integer")})
    assert params.resolve({}) == {"who": "world", "n": 1}
    assert params.resolve({"n": 5, "extra": {"x": 1}}) == {
        "who": "world",
        "n": 5,
        "extra": {"x": 1},
    }
    with pytest.raises(ParamValidationError, match="Invalid input for param n: 'five' is not"):
        params.resolve({"n": "five"})


def test_resolve_reports_missing_required_params() -> None:
    params = ParamsDict(
        {"required": Param(type="integer"), "nullable": Param(None, type=["null", "string"])}
    )
    with pytest.raises(
        ParamValidationError,
        match="Invalid input for param required: No value passed and Param has no default value",
    ):
        params.resolve({})
    assert params.resolve({"required": 3}) == {"required": 3, "nullable": None}


def test_validate_and_copies() -> None:
    params = ParamsDict({"a": Param(1, type="integer")})
    assert params.validate() == {"a": 1}
    clone = copy.deepcopy(params)
    clone["a"] = 9
    assert params["a"] == 1 and clone["a"] == 9
    shallow = copy.copy(params)
    assert shallow == params and shallow is not params
    assert params == {"a": 1}


def test_serialization_round_trip() -> None:
    params = ParamsDict(
        {
            "n": Param(3, type="integer", description="count"),
            "req": Param(type="string"),
            "raw": {"k": "v"},
        }
    )
    data = params.serialize()
    assert data["n"] == {"value": 3, "schema": {"type": "integer"}, "description": "count"}
    assert data["req"] == {
        "value": None,
        "schema": {"type": "string"},
        "description": None,
        "has_default": False,
    }
    assert data["raw"]["value"] == {"k": "v"}
    restored = ParamsDict.deserialize(json.loads(json.dumps(data)))
    assert restored.serialize() == data
    assert not restored.get_param("req").has_value
    with pytest.raises(ParamValidationError):
        restored.resolve({"n": "x", "req": "y"})


def test_dag_params_and_validation_rules() -> None:
    dag = DAG("p", schedule=None, params={"a": Param(1, type="integer"), "b": "x"})
    assert dag.params["a"] == 1
    dag.validate()
    bad_default = DAG("bad_default", schedule=None, params={"a": Param("x", type="integer")})
    with pytest.raises(ParamValidationError, match="bad_default: Invalid default for param a"):
        bad_default.validate()


def test_required_params_need_a_manual_only_schedule() -> None:
    with DAG("sched_req", schedule="@daily", params={"r": Param(type="string")}) as dag:
        EmptyOperator(task_id="t")
    with pytest.raises(AerovaneDagError, match="DAG Schedule must be None"):
        dag.validate()
    DAG("manual_req", schedule=None, params={"r": Param(type="string")}).validate()
    DAG("null_ok", schedule="@daily", params={"r": Param(type=["null", "string"])}).validate()

"""Dataset events from outside a task: `extra` must be strict JSON before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from aerovane.db import models
from aerovane.db.engine import create_session
from aerovane.services.datasets import create_event, ensure_datasets
from aerovane.services.errors import BadRequest

URI = "s3://bucket/raw"


@pytest.mark.parametrize(
    "extra",
    [{"x": float("nan")}, {"x": "\udfff"}, {"x": [[[[[]]]]]}],
    ids=["NaN", "lone surrogate", "nesting"],
)
def test_create_event_refuses_extra_that_is_no_json(
    db: Path, extra: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aerovane.config import reload_settings

    monkeypatch.setenv("AEROVANE__API__MAXIMUM_JSON_NESTING_DEPTH", "4")
    reload_settings()
    with create_session() as session:
        ensure_datasets([URI], session=session)
    with pytest.raises(BadRequest, match="extra is not valid JSON"), create_session() as session:
        create_event(URI, extra, session=session)
    with create_session() as session:
        create_event(URI, {"x": [[1]]}, session=session)
    with create_session(readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(models.DatasetEvent)) == 1

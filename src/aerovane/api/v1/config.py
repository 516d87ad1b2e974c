"""`/config`: the effective configuration, or one option of it, as JSON or text.

Checked in Airflow's order: an `Accept` header offering neither `text/plain` nor
`application/json` is a 406 with an empty body (werkzeug's negotiation: no header at all is
also a 406, `*/*` picks text), then `[webserver] expose_config` (403 when False), then the
section or option (404). What is shown is `aerovane.services.config_view`'s business.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from aerovane.api.deps import requires_access
from aerovane.api.errors import ApiError
from aerovane.api.v1.datamodels.common import error_responses
from aerovane.api.v1.datamodels.config import ConfigResponse, config_to_json, config_to_text
from aerovane.api.v1.task_logs import best_match
from aerovane.auth.permissions import READ
from aerovane.config import get_settings
from aerovane.services import config_view
from aerovane.services.config_view import Exposure, Section
from aerovane.services.errors import NotFound

router = APIRouter(prefix="/config", tags=["Config"])

CONFIGURATIONS = "Configurations"
NOT_EXPOSED = (
    "Your Airflow administrator chose not to expose the configuration, most likely for security"
    " reasons."
)
_TEXT, _JSON = "text/plain", "application/json"
_RESPONSES = {
    200: {
        "model": ConfigResponse,
        "content": {_TEXT: {"schema": {"type": "string"}}},
    },
    406: {"description": "Neither JSON nor text is acceptable to the client."},
    **error_responses(401, 403, 404),
}


def _render(sections: list[Section], media_type: str) -> Response:
    body = config_to_text(sections) if media_type == _TEXT else config_to_json(sections)
    return Response(body, headers={"Content-Type": media_type})


@router.get(
    "",
    operation_id="get_config",
    dependencies=[Depends(requires_access(READ, CONFIGURATIONS))],
    response_model=None,
    responses=_RESPONSES,
)
async def get_config(request: Request, section: str | None = None) -> Response:
    media_type = best_match(request.headers.get("accept"), (_TEXT, _JSON))
    if media_type is None:
        return Response(status_code=406)
    settings = get_settings()
    if config_view.exposure(settings) is Exposure.NOTHING:
        raise ApiError(403, NOT_EXPOSED)
    try:
        sections = config_view.sections(settings, only=section)
    except NotFound as exc:
        raise ApiError(404, str(exc), title="section not found.") from None
    return _render(sections, media_type)


@router.get(
    "/section/{section}/option/{option}",
    operation_id="get_value",
    dependencies=[Depends(requires_access(READ, CONFIGURATIONS))],
    response_model=None,
    responses=_RESPONSES,
)
async def get_value(request: Request, section: str, option: str) -> Response:
    media_type = best_match(request.headers.get("accept"), (_TEXT, _JSON))
    if media_type is None:
        return Response(status_code=406)
    settings = get_settings()
    if config_view.exposure(settings) is Exposure.NOTHING:
        raise ApiError(403, NOT_EXPOSED)
    try:
        value = config_view.option_value(settings, section, option)
    except NotFound as exc:
        raise ApiError(404, str(exc), title="Config not found.") from None
    return _render([(section, [(option, value)])], media_type)

"""`/plugins`: the Airflow plugins loaded from `[core] plugins_folder`, paged."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from aerovane.api.deps import requires_access
from aerovane.api.pagination import PageParams
from aerovane.api.v1.datamodels.common import error_responses
from aerovane.api.v1.datamodels.plugins import PluginCollectionResponse
from aerovane.auth.permissions import READ
from aerovane.authoring.plugins import plugin_info

router = APIRouter(prefix="/plugins", tags=["Plugin"])


@router.get(
    "",
    operation_id="get_plugins",
    dependencies=[Depends(requires_access(READ, "Plugins"))],
    response_model=None,
    responses={200: {"model": PluginCollectionResponse}, **error_responses(400, 401, 403, 404)},
)
async def get_plugins(page: PageParams) -> JSONResponse:
    plugins = plugin_info()
    return JSONResponse(
        {
            "plugins": plugins[page.offset : page.offset + page.limit],
            "total_entries": len(plugins),
        }
    )

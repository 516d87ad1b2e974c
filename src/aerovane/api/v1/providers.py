"""`/providers`: Aerovane ships no provider packages, so the honest list is empty."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from aerovane.api.deps import requires_access
from aerovane.api.v1.datamodels.common import error_responses
from aerovane.api.v1.datamodels.providers import ProviderCollectionResponse
from aerovane.auth.permissions import READ

router = APIRouter(prefix="/providers", tags=["Provider"])


@router.get(
    "",
    operation_id="get_providers",
    dependencies=[Depends(requires_access(READ, "Providers"))],
    response_model=None,
    responses={200: {"model": ProviderCollectionResponse}, **error_responses(401, 403)},
)
async def get_providers() -> JSONResponse:
    return JSONResponse({"providers": [], "total_entries": 0})

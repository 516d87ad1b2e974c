"""Admin > Configuration (as `[webserver] expose_config` allows; secrets never shown) and
Admin > Access control: read-only views of who may reach and use the web server (auth
backends, the registration role, the proxy and its IP allow-list)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from aerovane.auth.backends.registry import resolve_backend_names
from aerovane.auth.permissions import MENU, READ
from aerovane.config import get_settings
from aerovane.services import config_view
from aerovane.www.access import requires_page_access
from aerovane.www.auth import UI_BACKENDS
from aerovane.www.errors import PageRoute
from aerovane.www.nav import add_link
from aerovane.www.templating import render

CONFIGURATIONS = "Configurations"

router = APIRouter(route_class=PageRoute, include_in_schema=False)
add_link("Admin", "Configurations", "/configuration", (READ, CONFIGURATIONS), order=60)
add_link("Admin", "Access control", "/admin/access/", (READ, CONFIGURATIONS), order=70)
add_link("Docs", "REST API Reference (Swagger UI)", "/api/v1/ui", (MENU, "Documentation"))


def _listed(value: object) -> str:
    """A parsed list option (networks) as its configuration text."""
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value)


@router.get("/configuration", dependencies=[Depends(requires_page_access(READ, CONFIGURATIONS))])
async def configuration(request: Request) -> Response:
    settings = get_settings()
    exposed = config_view.exposure(settings) is not config_view.Exposure.NOTHING
    sections = config_view.sections(settings) if exposed else []
    return render(request, "admin/configuration.html", {"exposed": exposed, "sections": sections})


@router.get("/admin/access/", dependencies=[Depends(requires_page_access(READ, CONFIGURATIONS))])
async def access_control(request: Request) -> Response:
    settings = get_settings()
    backends = resolve_backend_names(settings.auth_backend_names)
    return render(
        request,
        "admin/access.html",
        {
            "api_backends": backends,
            "ui_backends": UI_BACKENDS,
            "registration_role": settings.getstr("api", "composer_auth_user_registration_role"),
            "proxy_enabled": settings.getboolean("proxy", "enabled"),
            "allowed_ip_ranges": _listed(settings.get("proxy", "allowed_ip_ranges")),
            "trusted_proxies": _listed(settings.get("proxy", "trusted_proxies")),
            "allowed_members": settings.getstr("proxy", "allowed_members"),
            "identity_namespace": settings.getstr("proxy", "identity_namespace"),
        },
    )

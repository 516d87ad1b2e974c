"""Names of the API auth backends, including Airflow's dotted names as aliases.

Only names listed here are accepted, so a typo in `[api] auth_backends` stops start-up instead
of silently leaving the API open or closed.
"""

from __future__ import annotations

#: Canonical backend name → aliases that mean the same backend.
BACKENDS: dict[str, tuple[str, ...]] = {
    "aerovane.auth.backends.basic_auth": (
        "basic_auth",
        "airflow.api.auth.backend.basic_auth",
        "airflow.providers.fab.auth_manager.api.auth.backend.basic_auth",
    ),
    "aerovane.auth.backends.deny_all": ("deny_all", "airflow.api.auth.backend.deny_all"),
    "aerovane.auth.backends.default": ("default", "airflow.api.auth.backend.default"),
    "aerovane.auth.backends.iap": ("iap", "airflow.composer.api.backend.composer_auth"),
    "aerovane.auth.backends.session": (
        "session",
        "airflow.api.auth.backend.session",
        "airflow.providers.fab.auth_manager.api.auth.backend.session",
    ),
}

_ALIASES: dict[str, str] = {
    alias: canonical for canonical, aliases in BACKENDS.items() for alias in (canonical, *aliases)
}


def resolve_backend_names(names: list[str]) -> list[str]:
    """Map configured names to canonical ones; raise ValueError naming what is allowed."""
    if not names:
        raise ValueError("no backend configured; use e.g. aerovane.auth.backends.basic_auth")
    resolved: list[str] = []
    for name in names:
        canonical = _ALIASES.get(name)
        if canonical is None:
            allowed = ", ".join(BACKENDS)
            raise ValueError(f"unknown auth backend {name!r}; allowed: {allowed}")
        resolved.append(canonical)
    return resolved

"""The stable REST API, `/api/v1`: one router per resource, assembled here."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from aerovane.api.deps import reject_unknown_query_params
from aerovane.api.v1 import (
    config,
    connections,
    dag_runs,
    dag_sources,
    dag_stats,
    dag_warnings,
    dags,
    datasets,
    event_logs,
    import_errors,
    monitoring,
    permissions,
    plugins,
    pools,
    providers,
    roles,
    task_instances,
    task_logs,
    users,
    variables,
    xcom,
)

PREFIX = "/api/v1"

router = APIRouter(dependencies=[Depends(reject_unknown_query_params)])
router.include_router(monitoring.router)
router.include_router(dags.router)
router.include_router(dag_runs.router)
router.include_router(dag_runs.batch_router)
router.include_router(dag_sources.router)
router.include_router(dag_stats.router)
router.include_router(dag_warnings.router)
router.include_router(task_instances.router)
router.include_router(task_instances.dag_router)
router.include_router(xcom.router)
router.include_router(task_logs.router)
router.include_router(roles.router, deprecated=True)
router.include_router(permissions.router, deprecated=True)
router.include_router(users.router, deprecated=True)
router.include_router(connections.router)
router.include_router(variables.router)
router.include_router(pools.router)
router.include_router(config.router)
router.include_router(event_logs.router)
router.include_router(import_errors.router)
router.include_router(plugins.router)
router.include_router(providers.router)
router.include_router(datasets.router)

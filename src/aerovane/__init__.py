"""Aerovane: a self-hosted workflow orchestrator that speaks Apache Airflow 2's REST APIs."""

from __future__ import annotations

__version__ = "0.1.0"

#: The Airflow release whose REST API and DAG authoring surface Aerovane follows.
AIRFLOW_COMPAT_VERSION = "2.10.5"

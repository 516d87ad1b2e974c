"""Metrics for every component: the `Stats` facade (Airflow's shape; Prometheus and StatsD),
the catalogue of names, and the Prometheus exposition a component serves over HTTP.

Sits just above `config` and imports nothing else of Aerovane, so any layer may record.
"""

from __future__ import annotations

from aerovane.metrics.stats import Stats

__all__ = ["Stats"]

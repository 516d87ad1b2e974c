"""Sensors: tasks that wait for a condition (a file, a time, another DAG's task, a callable).

`BaseSensorOperator` owns the poke loop, `reschedule` mode, timeouts and soft failure; each
module here is one of Airflow's core sensors under its Airflow module name.
"""

from __future__ import annotations

from aerovane.authoring.sensors.base import BaseSensorOperator, PokeReturnValue, poke_mode_only
from aerovane.authoring.sensors.bash import BashSensor
from aerovane.authoring.sensors.date_time import DateTimeSensor, DateTimeSensorAsync
from aerovane.authoring.sensors.external_task import ExternalTaskMarker, ExternalTaskSensor
from aerovane.authoring.sensors.filesystem import FileSensor
from aerovane.authoring.sensors.python import PythonSensor
from aerovane.authoring.sensors.time_delta import TimeDeltaSensor, TimeDeltaSensorAsync
from aerovane.authoring.sensors.time_sensor import TimeSensor, TimeSensorAsync
from aerovane.authoring.sensors.weekday import DayOfWeekSensor, WeekDay

__all__ = [
    "BaseSensorOperator",
    "BashSensor",
    "DateTimeSensor",
    "DateTimeSensorAsync",
    "DayOfWeekSensor",
    "ExternalTaskMarker",
    "ExternalTaskSensor",
    "FileSensor",
    "PokeReturnValue",
    "PythonSensor",
    "TimeDeltaSensor",
    "TimeDeltaSensorAsync",
    "TimeSensor",
    "TimeSensorAsync",
    "WeekDay",
    "poke_mode_only",
]

"""`Stats`: the one way components record metrics, in Airflow's shape (incr, decr, gauge,
timing, timer).

Every call goes to prometheus-client (the metric the catalogue names, with labels from the
tags) and, with `[metrics] statsd_on`, to StatsD over UDP with Airflow's dotted names through
the `statsd` package, as Airflow does. `[metrics] metrics_allow_list` / `metrics_block_list`
(prefixes, or regular expressions with `metrics_use_pattern_match`) are applied as Airflow
applies them, to both outputs. Settings are re-read when the configuration snapshot changes.
Recording never raises: a metric must not fail the loop that emits it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from aerovane.config import Settings, get_settings
from aerovane.metrics.catalog import CATALOG, Kind, Metric

log = logging.getLogger("aerovane.metrics")

Tags = Mapping[str, object]

#: Airflow's rule for a StatsD name (`stat_name_default_handler`); others are not sent (a `:`
#: or `|` in a pool name would corrupt the line). Prometheus label values may be anything.
_STATSD_NAME = re.compile(r"[A-Za-z0-9_./-]{1,250}")

#: Histogram buckets (seconds) of timers: scheduler passes to DAG runs of hours.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400)


class NameFilter:
    """Airflow's allow/block list: comma-separated, case-insensitive prefixes of the dotted
    name, or regular expressions found anywhere in it; with both lists set the block list is
    ignored (as in Airflow 2.10)."""

    def __init__(self, allow: str, block: str, *, pattern: bool) -> None:
        raw = allow or block
        self.allowing = bool(allow)
        self.entries = tuple(e.strip().lower() for e in raw.split(",") if e.strip())
        self.patterns: tuple[re.Pattern[str], ...] | None = None
        if pattern:
            try:
                self.patterns = tuple(re.compile(e) for e in self.entries)
            except re.error as exc:
                log.error(
                    "metrics list entry is not a regular expression (%s): matching it as a prefix",
                    exc,
                )

    def test(self, name: str) -> bool:
        if not self.entries:
            return True
        name = name.strip().lower()
        if self.patterns is not None:
            hit = any(p.search(name) for p in self.patterns)
        else:
            hit = name.startswith(self.entries)
        return hit if self.allowing else not hit


@dataclass(frozen=True)
class _Backends:
    settings: Settings
    filter: NameFilter
    statsd: Any  # statsd.StatsClient | None


def _backends_for(settings: Settings) -> _Backends:
    name_filter = NameFilter(
        settings.getstr("metrics", "metrics_allow_list"),
        settings.getstr("metrics", "metrics_block_list"),
        pattern=settings.getboolean("metrics", "metrics_use_pattern_match"),
    )
    client = None
    if settings.getboolean("metrics", "statsd_on"):
        from statsd import StatsClient

        client = StatsClient(
            host=settings.getstr("metrics", "statsd_host"),
            port=settings.getint("metrics", "statsd_port"),
            prefix=settings.getstr("metrics", "statsd_prefix") or None,
        )
    return _Backends(settings, name_filter, client)


class _Prometheus:
    """The prometheus-client objects of the catalogue, made on first use."""

    def __init__(self) -> None:
        self._made: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, metric: Metric) -> Any:
        made = self._made.get(metric.prometheus)
        if made is None:
            with self._lock:
                made = self._made.get(metric.prometheus)
                if made is None:
                    made = self._made[metric.prometheus] = _make(metric)
        return made


def _make(metric: Metric) -> Any:
    doc = metric.help or f"Airflow's {metric.prometheus.removeprefix('airflow_')}."
    if metric.kind is Kind.COUNTER:
        return Counter(metric.prometheus, doc, metric.labels)
    if metric.kind is Kind.GAUGE:
        mode = metric.multiprocess_mode
        return Gauge(metric.prometheus, doc, metric.labels, multiprocess_mode=mode)
    return Histogram(metric.prometheus, doc, metric.labels, buckets=BUCKETS)


def _seconds(value: dt.timedelta | float) -> float:
    """Airflow's `timing` takes a timedelta or milliseconds."""
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value) / 1000.0


class _Timer:
    """`with Stats.timer(name):` records the block's duration; `duration` is seconds."""

    def __init__(self, stats: StatsFacade, stat: str, tags: Tags | None) -> None:
        self._stats, self._stat, self._tags = stats, stat, tags
        self._started: float | None = None
        self.duration: float | None = None

    def start(self) -> _Timer:
        self._started = time.perf_counter()
        return self

    def stop(self, send: bool = True) -> None:
        if self._started is None:
            return
        self.duration = time.perf_counter() - self._started
        if send:
            self._stats.timing(self._stat, dt.timedelta(seconds=self.duration), tags=self._tags)

    def __enter__(self) -> _Timer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class StatsFacade:
    def __init__(self) -> None:
        self._backends: _Backends | None = None
        self._prometheus = _Prometheus()
        self._warned: set[str] = set()

    def _current(self) -> _Backends:
        settings = get_settings()
        backends = self._backends
        if backends is None or backends.settings is not settings:
            if backends is not None and backends.statsd is not None:
                with contextlib.suppress(Exception):
                    backends.statsd.close()
            backends = self._backends = _backends_for(settings)
        return backends

    def _refused(self, name: str) -> None:
        """Say once per name (up to 1,000 names) that it cannot go to StatsD."""
        if name not in self._warned and len(self._warned) < 1000:
            self._warned.add(name)
            log.warning("not sent to StatsD (Airflow's names allow A-Z a-z 0-9 _ . - /): %r", name)

    def incr(self, stat: str, count: int = 1, rate: float = 1, *, tags: Tags | None = None) -> None:
        self._record(Kind.COUNTER, stat, count, rate, tags)

    def decr(self, stat: str, count: int = 1, rate: float = 1, *, tags: Tags | None = None) -> None:
        self._record(Kind.COUNTER, stat, -count, rate, tags)

    def gauge(
        self,
        stat: str,
        value: float,
        rate: float = 1,
        delta: bool = False,
        *,
        tags: Tags | None = None,
    ) -> None:
        self._record(Kind.GAUGE, stat, value, rate, tags, delta=delta)

    def timing(self, stat: str, dt: dt.timedelta | float, *, tags: Tags | None = None) -> None:
        self._record(Kind.TIMER, stat, _seconds(dt), 1, tags)

    def timer(self, stat: str, *, tags: Tags | None = None) -> _Timer:
        return _Timer(self, stat, tags)

    def _record(
        self,
        kind: Kind,
        stat: str,
        value: float,
        rate: float,
        tags: Tags | None,
        *,
        delta: bool = False,
    ) -> None:
        try:
            backends = self._current()
            metric = CATALOG.get(stat)
            labels = {k: str(v) for k, v in tags.items()} if tags else {}
            names = _statsd_names(stat, metric, labels)
            if not backends.filter.test(names[0]):
                return
            if metric is not None and metric.kind is kind:
                _observe(self._prometheus.get(metric), metric, kind, value, labels, delta)
            if backends.statsd is not None:
                for name in names:
                    if not _STATSD_NAME.fullmatch(name):
                        self._refused(name)
                    elif backends.filter.test(name):
                        _send(backends.statsd, kind, name, value, rate, delta)
        except Exception:  # a metric never fails its caller
            log.debug("could not record metric %s", stat, exc_info=True)


def _statsd_names(stat: str, metric: Metric | None, labels: dict[str, str]) -> list[str]:
    if metric is None or not metric.statsd:
        return [stat]
    return [template.format(**labels) for template in metric.statsd]


def _observe(
    target: Any, metric: Metric, kind: Kind, value: float, labels: dict[str, str], delta: bool
) -> None:
    if metric.labels:
        target = target.labels(**{name: labels.get(name, "") for name in metric.labels})
    if kind is Kind.COUNTER:
        if value > 0:  # a Prometheus counter only goes up; decr is for StatsD
            target.inc(value)
    elif kind is Kind.GAUGE:
        target.inc(value) if delta else target.set(value)
    else:
        target.observe(value)


def _send(client: Any, kind: Kind, name: str, value: float, rate: float, delta: bool) -> None:
    if kind is Kind.COUNTER:
        client.incr(name, int(value), rate)
    elif kind is Kind.GAUGE:
        client.gauge(name, value, rate, delta)
    else:
        client.timing(name, value * 1000.0, rate)


Stats = StatsFacade()

"""What recording a metric costs the loop that records it: microseconds per `Stats` call
(a labelled counter, a gauge, a timer), with Prometheus only and with StatsD on too (UDP to a
local socket that reads nothing), next to prometheus-client called directly."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import tempfile
import time


def _per_call(fn: object, calls: int) -> float:
    started = time.perf_counter()
    for i in range(calls):
        fn(i)  # type: ignore[operator]
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50_000)
    args = parser.parse_args()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    os.environ["AEROVANE_HOME"] = tempfile.mkdtemp(prefix="metrics-bench-")
    from aerovane.config import reload_settings
    from aerovane.metrics import Stats

    cases = {
        "ti.finish (3 labels, 100 tasks)": lambda i: Stats.incr(
            "ti.finish", tags={"dag_id": "d", "task_id": f"t{i % 100}", "state": "success"}
        ),
        "executor.open_slots (gauge)": lambda i: Stats.gauge("executor.open_slots", i),
        "dagrun.duration (timer)": lambda i: Stats.timing(
            "dagrun.duration", dt.timedelta(seconds=1), tags={"dag_id": "d", "state": "success"}
        ),
    }
    from prometheus_client import Counter

    bare = Counter("bench_bare", "prometheus-client alone", ("dag_id", "task_id", "state"))
    print(f"cores: {os.cpu_count()}, calls per figure: {args.calls}")
    us = _per_call(lambda i: bare.labels("d", f"t{i % 100}", "success").inc(), args.calls)
    print(f"{'baseline':18} {'Counter.labels().inc(), no facade':34} {us:6.2f} µs")
    for statsd in (False, True):
        os.environ["AEROVANE__METRICS__STATSD_ON"] = str(statsd)
        os.environ["AEROVANE__METRICS__STATSD_HOST"] = "127.0.0.1"
        os.environ["AEROVANE__METRICS__STATSD_PORT"] = str(sink.getsockname()[1])
        reload_settings()
        for name, fn in cases.items():
            fn(0)  # make the metric
            us = _per_call(fn, args.calls)
            print(f"{'prometheus+statsd' if statsd else 'prometheus':18} {name:34} {us:6.2f} µs")
    sink.close()


if __name__ == "__main__":
    main()

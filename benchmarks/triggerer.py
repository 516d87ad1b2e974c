"""How many triggers one triggerer's asyncio loop holds, and how late they fire.

Starts N `DateTimeTrigger`s, all due at the same moment, on the triggerer's runner (the asyncio
loop thread of `aerovane triggerer`, without the database), and prints: how long starting them
took, how late after the due moment the last event arrived, and the memory the waiting
triggers cost (RSS before and while they wait).
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import threading
import time
from pathlib import Path

from aerovane.services.triggers import TriggerWork
from aerovane.triggerer.runner import TriggerRunner


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--triggers", type=int, default=5000)
    parser.add_argument("--lead", type=float, default=3.0, help="seconds until they are due")
    args = parser.parse_args()

    fired = threading.Event()
    runner = TriggerRunner(on_outcome=fired.set, log_path=lambda *a: Path("/dev/null"))
    runner.start()
    before = _rss_mib()
    due = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=args.lead)
    work = [
        TriggerWork(
            id=i,
            classpath="aerovane.authoring.triggers.temporal.DateTimeTrigger",
            kwargs={"moment": due.isoformat()},
            task_key=None,
        )
        for i in range(args.triggers)
    ]
    started = time.monotonic()
    runner.update(work)
    while len(runner.running_ids) < args.triggers:
        time.sleep(0.01)
    start_s = time.monotonic() - started
    waiting = _rss_mib()
    events = 0
    while events < args.triggers:
        fired.wait(1)
        fired.clear()
        events += len(runner.drain().events)
    late = (dt.datetime.now(dt.UTC) - due).total_seconds()
    runner.stop()
    print(f"triggers: {args.triggers}")
    print(f"started all in: {start_s * 1000:.0f} ms")
    print(f"last event after the due moment: {late * 1000:.0f} ms")
    print(f"RSS before: {before:.1f} MiB, while waiting: {waiting:.1f} MiB")
    print(f"per waiting trigger: {(waiting - before) * 1024 / args.triggers:.1f} KiB")


if __name__ == "__main__":
    main()

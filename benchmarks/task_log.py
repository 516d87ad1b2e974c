"""What masking costs a task attempt.

Prints: per forked process, opening the masked log (pipe, pump thread, streams, logging) and
closing it (drain, stop) versus opening the log file directly as before; and masking 10,000
log lines (~690 KB) with 20 known secrets.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import summary


def _in_child(measure: object, count: int) -> list[float]:
    """Run `measure()` (returning seconds) in `count` forked children; their results."""
    read, write = os.pipe()
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            os.write(write, f"{measure()!r}\n".encode())  # type: ignore[operator]
            os._exit(0)
        os.waitpid(pid, 0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 1 << 16):
        chunks.append(chunk)
    os.close(read)
    return [float(line) for line in b"".join(chunks).decode().split()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--attempts", type=int, default=300)
    args = parser.parse_args()
    os.environ.setdefault("AEROVANE_HOME", tempfile.mkdtemp(prefix="aerovane-bench-"))
    from aerovane.authoring import mask_secret
    from aerovane.authoring.secrets_masker import get_masker
    from aerovane.runtime.task_log import MaskedLog

    folder = Path(tempfile.mkdtemp(prefix="aerovane-bench-logs-"))

    def masked() -> float:
        start = time.perf_counter()
        log = MaskedLog(folder / f"masked-{os.getpid()}.log", "%(message)s", "INFO")
        print("a line")
        log.close()
        return time.perf_counter() - start

    def direct() -> float:
        start = time.perf_counter()
        fd = os.open(folder / f"direct-{os.getpid()}.log", os.O_WRONLY | os.O_CREAT, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
        print("a line")
        sys.stdout.flush()
        return time.perf_counter() - start

    print(f"masked log, open+close:  {summary(_in_child(masked, args.attempts))}")
    print(f"direct log file, open:   {summary(_in_child(direct, args.attempts))}")
    for i in range(20):
        mask_secret(f"secret-value-{i:04d}")
    text = "an ordinary log line with a few words and secret-value-0007 in it\n" * 10_000
    times = []
    for _ in range(20):
        start = time.perf_counter()
        get_masker().redact_text(text)
        times.append(time.perf_counter() - start)
    print(f"mask 10,000 lines:       {summary(times)}")
    print(f"(load average {os.getloadavg()[0]:.1f}; median of medians is what to compare)")


if __name__ == "__main__":
    main()

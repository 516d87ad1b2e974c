"""The DAG processor loop: notices new, changed and deleted files within
`[scheduler] dag_dir_list_interval` seconds, re-parses every file at least every
`min_file_process_interval`, runs at most `parsing_processes` imports at once, and kills an
import that exceeds `[core] dagbag_import_timeout`. A file named by `request_reparse` (the API's
`PUT /parseDagFile`) is parsed at the next scan, first, even if it did not change. DAG-level
callbacks the scheduler queued are run in child processes at every pass."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import queue
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aerovane.config import get_settings
from aerovane.dag_processing.writer import deactivate_missing_files, store_parse_result
from aerovane.db.engine import create_session
from aerovane.db.types import utcnow
from aerovane.executors.zygote import Message, ProcessFactory
from aerovane.metrics import Stats
from aerovane.services.callbacks import claim_callback_requests
from aerovane.services.loop_service import LoopService
from aerovane.services.sla import record_sla_misses

EXAMPLES = Path(__file__).resolve().parent.parent / "example_dags"


def might_contain_dag(path: Path) -> bool:
    """Airflow's safe-mode heuristic: only files mentioning 'dag' and the framework are parsed."""
    try:
        content = path.read_bytes().lower()
    except OSError:
        return False
    return b"dag" in content and (b"aerovane" in content or b"airflow" in content)


def list_dag_files(folder: Path, include_examples: bool) -> dict[str, tuple[float, int]]:
    """Python files that may define DAGs → (mtime, size)."""
    found: dict[str, tuple[float, int]] = {}
    roots = [folder] + ([EXAMPLES] if include_examples else [])
    for root in roots:
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith((".", "__"))]
            for name in filenames:
                if not name.endswith(".py") or name.startswith("."):
                    continue
                path = Path(dirpath) / name
                try:
                    st = path.stat()
                except OSError:
                    continue
                if might_contain_dag(path):
                    found[str(path.resolve())] = (st.st_mtime, st.st_size)
    return found


def _reparse_requests_path() -> Path:
    return get_settings().home / "run" / "reparse-requests"


def request_reparse(fileloc: str) -> None:
    """Ask the DAG processor(s) of this home to parse `fileloc` at their next scan (within
    `[scheduler] dag_dir_list_interval`) whether or not it changed."""
    path = _reparse_requests_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with path.open("a", encoding="utf-8") as requests:
        fcntl.flock(requests, fcntl.LOCK_EX)
        requests.write(json.dumps(fileloc) + "\n")


def take_reparse_requests() -> list[str]:
    """The files asked for since the last call, oldest first, each once; clears the list."""
    path = _reparse_requests_path()
    try:
        requests = path.open("r+", encoding="utf-8")
    except FileNotFoundError:
        return []
    with requests:
        fcntl.flock(requests, fcntl.LOCK_EX)
        lines = requests.read().splitlines()
        requests.seek(0)
        requests.truncate()
    paths: list[str] = []
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, str):
            paths.append(value)
    return list(dict.fromkeys(paths))


@dataclass
class _InFlight:
    request_id: str
    deadline: float
    result_path: Path


class DagProcessor(LoopService):
    name = "dag_processor"

    def __init__(self, factory: ProcessFactory, *, on_change: object = None) -> None:
        settings = get_settings()
        super().__init__(settings.getfloat("scheduler", "dag_dir_list_interval"))
        self.factory = factory
        self.on_change = on_change
        self._known: dict[str, tuple[float, int]] = {}
        self._parsed_at: dict[str, float] = {}
        self._pending: list[str] = []
        self._reparse_requested: list[str] = []
        self._inflight: dict[str, _InFlight] = {}
        self._done: queue.Queue[tuple[str, int, str]] = queue.Queue()
        self._tmp = Path(tempfile.mkdtemp(prefix="aerovane-parse-"))
        self._last_scan = 0.0
        self._last_sla_check = 0.0
        #: dag_id → (file, task id → sla, whether a miss needs a callback or mail).
        self._sla_dags: dict[str, tuple[str, dict[str, dt.timedelta], bool]] = {}
        #: Set after every file found by the first scan has been stored once.
        self.first_pass_done = False
        #: For Airflow's gauges: DAGs per file, files whose import failed, when parsing began.
        self._dags_in: dict[str, int] = {}
        self._failed_files: set[str] = set()
        self._busy_since: float | None = None

    def wake(self) -> None:
        self._done.put(("", 0, ""))

    def sleep(self, seconds: float) -> None:
        try:
            item = self._done.get(timeout=seconds)
            self._done.put(item)
        except queue.Empty:
            pass

    def run_once(self) -> float:
        settings = get_settings()
        now = time.monotonic()
        if now - self._last_scan >= self.interval or not self._last_scan:
            self._scan(settings.dags_folder, settings.getboolean("core", "load_examples"))
            self._last_scan = now
        self._collect(settings.getfloat("core", "dagbag_import_timeout"))
        self._start(settings.getint("scheduler", "parsing_processes"), settings)
        self._check_slas(now)
        self._run_callbacks()
        busy = bool(self._pending or self._inflight)
        if busy and self._busy_since is None:
            self._busy_since = now
        elif not busy and self._busy_since is not None:
            Stats.gauge("dag_processing.total_parse_time", time.monotonic() - self._busy_since)
            Stats.gauge("dagbag_size", sum(self._dags_in.values()))
            Stats.gauge("dag_processing.import_errors", len(self._failed_files))
            self._busy_since = None
        if not self._pending and not self._inflight and not self.first_pass_done:
            self.first_pass_done = True
        return 0.05 if self._inflight or self._pending else self.interval

    def _check_slas(self, now: float) -> None:
        """Record SLA misses of the DAGs whose tasks have an `sla`, once per scan interval."""
        if not self._sla_dags or now - self._last_sla_check < self.interval:
            return
        self._last_sla_check = now
        with create_session() as session:
            for dag_id, (fileloc, slas, notify) in self._sla_dags.items():
                record_sla_misses(
                    dag_id=dag_id,
                    fileloc=fileloc,
                    slas=slas,
                    notify=notify,
                    now=utcnow(),
                    session=session,
                )

    def _remember_slas(self, path: str, dags: list[dict[str, Any]]) -> None:
        for dag_id in [d for d, (fileloc, _, _) in self._sla_dags.items() if fileloc == path]:
            del self._sla_dags[dag_id]
        for data in dags:
            slas = {
                t["task_id"]: dt.timedelta(seconds=t["sla"])
                for t in data.get("tasks", ())
                if t.get("sla") is not None
            }
            if slas:
                notify = bool(data.get("has_sla_miss_callback")) or any(
                    t.get("email") for t in data.get("tasks", ())
                )
                self._sla_dags[data["dag_id"]] = (path, slas, notify)

    def _run_callbacks(self) -> None:
        """Start a child for each DAG-level callback the scheduler queued (see
        `dag_processing.callbacks`); they run alongside parsing, untimed as in Airflow."""
        with create_session() as session:
            requests = claim_callback_requests(limit=16, session=session)
        for request in requests:
            self.factory.spawn("dag_callback", request, lambda _msg: None)

    def _scan(self, folder: Path, examples: bool) -> None:
        files = list_dag_files(folder, examples)
        min_interval = get_settings().getfloat("scheduler", "min_file_process_interval")
        now = time.monotonic()
        for path, stamp in files.items():
            changed = self._known.get(path) != stamp
            stale = min_interval > 0 and now - self._parsed_at.get(path, 0.0) >= min_interval
            if (changed or stale) and path not in self._pending and path not in self._inflight:
                self._pending.append(path)
        # Requested files go first; one being parsed right now is parsed again afterwards.
        requested = list(dict.fromkeys(self._reparse_requested + take_reparse_requests()))
        self._reparse_requested = [p for p in requested if p in files and p in self._inflight]
        first = [p for p in requested if p in files and p not in self._inflight]
        if first:
            self._pending = first + [p for p in self._pending if p not in first]
        if set(self._known) != set(files) or not self._known:
            with create_session() as session:
                deactivate_missing_files(set(files), session=session)
        self._known = files
        for gone in set(self._dags_in) - set(files):
            del self._dags_in[gone]
            self._failed_files.discard(gone)

    def _start(self, max_parallel: int, settings: object) -> None:
        while self._pending and len(self._inflight) < max_parallel:
            path = self._pending.pop(0)
            result_path = self._tmp / f"{abs(hash(path))}-{time.monotonic_ns()}.json"

            def on_message(msg: Message, path: str = path) -> None:
                if msg["event"] == "exited":
                    self._done.put((path, int(msg["code"]), msg["id"]))

            request_id = self.factory.spawn(
                "parse",
                {
                    "path": path,
                    "result_path": str(result_path),
                    "dags_folder": str(get_settings().dags_folder),
                },
                on_message,
            )
            timeout = get_settings().getfloat("core", "dagbag_import_timeout")
            self._inflight[path] = _InFlight(request_id, time.monotonic() + timeout, result_path)

    def _collect(self, timeout: float) -> None:
        while True:
            try:
                path, code, request_id = self._done.get_nowait()
            except queue.Empty:
                break
            flight = self._inflight.get(path)
            if flight is None or flight.request_id != request_id:
                continue  # a wake-up, or the exit of an attempt already given up on
            del self._inflight[path]
            self._parsed_at[path] = time.monotonic()
            try:
                result = json.loads(flight.result_path.read_text(encoding="utf-8"))
                flight.result_path.unlink(missing_ok=True)
            except (OSError, ValueError):
                result = {
                    "dags": [],
                    "error": f"the parsing process for {path} exited with "
                    f"code {code} before reporting a result",
                }
            self._store(path, result["dags"], result["error"])
        now = time.monotonic()
        for path, flight in list(self._inflight.items()):
            if now > flight.deadline:
                self.factory.kill(flight.request_id, signal.SIGKILL)
                del self._inflight[path]
                self._parsed_at[path] = now
                self._store(path, [], f"DagBag import timeout for {path} after {timeout}s.")

    def _store(self, path: str, dags: list[dict[str, object]], error: str | None) -> None:
        self._remember_slas(path, dags)  # type: ignore[arg-type]
        self._dags_in[path] = len(dags)
        if error:
            self._failed_files.add(path)
        else:
            self._failed_files.discard(path)
        with create_session() as session:
            store_parse_result(path, dags, error, session=session)  # type: ignore[arg-type]
        if error:
            self.log.warning("import error in %s", path)
        if callable(self.on_change):
            self.on_change()

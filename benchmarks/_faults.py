"""The fault rig shared by `benchmarks/fault_suite.py` and the fault-suite test (issue 12): a
private PostgreSQL and a private Redis on free loopback ports (restarted by the suite, so never
the shared servers), every component as a real process (2 schedulers, 2 Celery workers, a
triggerer, an API server, the proxy in front of it), a DAG whose attempts leave side effects
(one file per run, task and try, a `start` and an `end` line each, some attempts deferring to the
triggerer), a client that triggers runs through the proxy while components die, a seeded
schedule of faults, and the audit of the side effects.

The caller's process must have the home and the private database configured as the processes'
environment (it prepares the database and reads it through the services). Nothing here touches
a process it did not start.
"""

from __future__ import annotations

import contextlib
import glob
import os
import random
import shutil
import signal
import subprocess
import tempfile
import textwrap
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks._crash import FINAL, freeze_tree, kill_frozen, kill_tree, start_tree
from benchmarks._trigger_storm import free_port

DAG_ID = "faults"
COMPONENTS = ("scheduler", "worker", "triggerer", "api-server", "proxy")
SERVERS = ("postgresql", "redis")


# -- private servers -------------------------------------------------------------------------------


def server_binaries() -> tuple[Path, Path, Path] | None:
    """(initdb, pg_ctl, redis-server), or None where one is missing."""
    initdbs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    redis = shutil.which("redis-server")
    if not initdbs or redis is None:
        return None
    initdb = Path(initdbs[-1])
    return initdb, initdb.with_name("pg_ctl"), Path(redis)


class PrivatePostgres:
    """A PostgreSQL cluster of our own on 127.0.0.1:`port`, its socket in its folder.

    PostgreSQL refuses to run as root: as root, its commands run as the `postgres` user, in a
    folder of its own under the system's temporary folder (the caller's may not be reachable
    by another user); otherwise in `<root>/pg`. `remove()` deletes it."""

    def __init__(self, root: Path, initdb: Path, pg_ctl: Path) -> None:
        self.pg_ctl = pg_ctl
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            self.root = Path(tempfile.mkdtemp(prefix="aerovane-pg-"))
            shutil.chown(self.root, "postgres", "postgres")
        else:
            self.root = root / "pg"
            self.root.mkdir()
        self.data = self.root / "data"
        subprocess.run(
            [*self._as, str(initdb), "-D", str(self.data), "-U", "postgres", "--auth=trust"],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-k {self.root} -h 127.0.0.1 -p {self.port} -c fsync=off -c max_connections=300"
        self._ctl("start", "-w", "-t", "120", "-o", options, "-l", str(self.root / "pg.log"))

    def stop(self, mode: str = "fast") -> None:
        self._ctl("stop", "-w", "-t", "120", "-m", mode)

    def restart(self) -> None:
        """Stop at once, as a crash does (`immediate`: no checkpoint, clients cut off)."""
        self.stop("immediate")
        self.start()

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*self._as, str(self.pg_ctl), "-D", str(self.data), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=180,
        )


class PrivateRedis:
    """A Redis of our own, append-only (a restart keeps queued messages, as a broker should)."""

    def __init__(self, root: Path, binary: Path) -> None:
        self.root, self.binary = root, binary
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = [str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "yes", "--dir", str(self.root)]
        with (self.root / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), _connect(self.port):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            time.sleep(0.05)
        raise RuntimeError("redis-server did not listen in 120 s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def restart(self) -> None:
        """SIGKILL and start again on the same port and append-only file."""
        self.kill()
        self.start()


@contextlib.contextmanager
def private_servers(root: Path) -> Iterator[tuple[PrivatePostgres, PrivateRedis]]:
    """A private PostgreSQL and Redis in `root`, stopped on the way out (this process's
    connections to them closed first)."""
    binaries = server_binaries()
    if binaries is None:
        raise RuntimeError("needs PostgreSQL's initdb and pg_ctl, and redis-server")
    initdb, pg_ctl, redis_server = binaries
    postgres = PrivatePostgres(root, initdb, pg_ctl)
    redis = PrivateRedis(root, redis_server)
    postgres.start()
    try:
        redis.start()
        try:
            yield postgres, redis
        finally:
            redis.kill()
    finally:
        from aerovane.db.engine import dispose_engines

        dispose_engines()
        postgres.stop("immediate")
        postgres.remove()


def _connect(port: int) -> contextlib.AbstractContextManager[object]:
    import socket

    return socket.create_connection(("127.0.0.1", port), timeout=1)


def cluster_settings(postgres: PrivatePostgres, redis: PrivateRedis) -> dict[str, str]:
    """Settings every component shares: the private servers, Celery, quick failure detection."""
    return {
        "AEROVANE__DATABASE__SQL_ALCHEMY_CONN": postgres.url,
        "AEROVANE__CORE__EXECUTOR": "CeleryExecutor",
        "AEROVANE__CELERY__BROKER_URL": redis.url,
        "AEROVANE__WEBSERVER__SECRET_KEY": "fault-suite-secret",
        "AEROVANE__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "1",
        "AEROVANE__SCHEDULER__TASK_HEARTBEAT_SEC": "1",
        "AEROVANE__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
        "AEROVANE__CELERY__STALLED_TASK_TIMEOUT": "5",
    }


# -- the DAG ---------------------------------------------------------------------------------------


def fault_dag(
    out: Path, *, fan: int = 2, seconds: float = 1.0, defer_seconds: float = 1.0, retries: int = 4
) -> str:
    """`first >> [fan tasks, pause] >> last`. Each attempt appends `start <pid> <time>` to
    `<out>/<run>__<task>__<try>` when it starts and `end <pid> <time>` when its work is done;
    `pause` writes `start`, defers to the triggerer for `defer_seconds`, and writes `end` when
    it resumes (same try)."""
    return textwrap.dedent(
        f"""
        import datetime, os, time
        from aerovane.authoring import DAG, BaseOperator, PythonOperator
        from aerovane.authoring.triggers.temporal import TimeDeltaTrigger

        OUT = {str(out)!r}

        def mark(ti, what):
            name = f"{{ti.run_id}}__{{ti.task_id}}__{{ti.try_number}}"
            with open(os.path.join(OUT, name), "a") as fh:
                fh.write(f"{{what}} {{os.getpid()}} {{time.time()}}\\n")

        def work(ti):
            mark(ti, "start")
            time.sleep({seconds!r})
            mark(ti, "end")

        class Pause(BaseOperator):
            def execute(self, context):
                mark(context["ti"], "start")
                self.defer(
                    trigger=TimeDeltaTrigger(datetime.timedelta(seconds={defer_seconds!r})),
                    method_name="resume",
                )

            def resume(self, context, event=None):
                mark(context["ti"], "end")

        with DAG(
            {DAG_ID!r},
            schedule=None,
            start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
            is_paused_upon_creation=False,
            max_active_runs=64,
            max_active_tasks=64,
            default_args={{"retries": {retries}, "retry_delay": datetime.timedelta(0)}},
        ):
            first = PythonOperator(task_id="first", python_callable=work)
            last = PythonOperator(task_id="last", python_callable=work)
            first >> Pause(task_id="pause") >> last
            for i in range({fan}):
                first >> PythonOperator(task_id=f"fan{{i}}", python_callable=work) >> last
        """
    )


# -- the components --------------------------------------------------------------------------------


@dataclass
class Cluster:
    """Every component as a process tree of its own, started and SIGKILLed by name."""

    home: Path
    env: dict[str, str]
    api_port: int = field(default_factory=free_port)
    proxy_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    #: Pids of every process a kill took (task processes included).
    killed_pids: set[int] = field(default_factory=set)

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    def commands(self) -> dict[str, tuple[list[str], dict[str, str]]]:
        worker = ["celery", "worker", "-c", "4"]
        no_log_server = {"AEROVANE__LOGGING__WORKER_LOG_SERVER_PORT": "0"}
        api = ["--host", "127.0.0.1", "--port", str(self.api_port), "--workers", "1"]
        upstream = f"http://127.0.0.1:{self.api_port}"
        proxy = ["--host", "127.0.0.1", "--port", str(self.proxy_port), "--upstream", upstream]
        return {
            "scheduler-1": (["scheduler"], {}),
            "scheduler-2": (["scheduler", "--no-dag-processor"], {}),
            "worker-1": (worker, dict(no_log_server, AEROVANE_HOME=self._home("worker-1"))),
            "worker-2": (worker, dict(no_log_server, AEROVANE_HOME=self._home("worker-2"))),
            "triggerer-1": (["triggerer"], {}),
            "api-server-1": (["api-server", *api], {}),
            "proxy-1": (["proxy", *proxy], {}),
        }

    def _home(self, name: str) -> str:
        """A worker's home of its own (as on another host); same database and DAG folder."""
        return str(self.home.parent / name)

    def start(self, name: str) -> None:
        command, extra = self.commands()[name]
        self.procs[name] = start_tree(command, {**self.env, **extra}, self.home / f"{name}.log")

    def start_all(self) -> None:
        for name in self.commands():
            self.start(name)

    def kill(self, name: str) -> None:
        """SIGKILL the component's whole tree (its task processes too) and start it again."""
        frozen = freeze_tree(self.procs[name])
        self.killed_pids |= frozen
        kill_frozen(self.procs[name], frozen)
        self.start(name)

    def stop_all(self, timeout: float = 30) -> None:
        """SIGTERM every component at once; SIGKILL the trees of those still up after
        `timeout` seconds."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            if proc.poll() is None:
                kill_tree(proc)

    def revive(self) -> list[str]:
        """Start again what exited on its own (as a supervisor would); return their names."""
        gone = [name for name, proc in self.procs.items() if proc.poll() is not None]
        for name in gone:
            self.start(name)
        return gone


# -- the client ------------------------------------------------------------------------------------


def client_token() -> str:
    """An ID token of a new service account, from the token service, for the proxy."""
    from aerovane.db.engine import create_session
    from aerovane.identity import Principal, oauth_client_id
    from aerovane.identity.service_accounts import create_service_account
    from aerovane.identity.tokens import mint_id_token

    with create_session() as session:
        account = create_service_account("fault-client", session=session)
        principal = Principal("serviceAccount", account.email, account.unique_id)
        return mint_id_token(principal, oauth_client_id(), session=session)


@dataclass
class Triggers:
    """What the client sent and was answered, by run id."""

    run_ids: list[str] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)
    #: Run ids never answered 200 or 409 within the budget.
    unanswered: list[str] = field(default_factory=list)


def trigger_through_proxy(
    url: str, token: str, run_ids: list[str], *, spread: float, budget: float, into: Triggers
) -> None:
    """POST each run id to the proxy, spaced over `spread` seconds; on a connection error or any
    answer but 200 or 409 (the first attempt may have been stored before its answer was lost)
    send the same run id again until `budget` seconds have passed for it."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    gap = spread / max(1, len(run_ids))
    with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
        for run_id in run_ids:
            into.run_ids.append(run_id)
            deadline = time.monotonic() + budget
            while True:
                try:
                    response = client.post(
                        f"/api/v1/dags/{DAG_ID}/dagRuns", json={"dag_run_id": run_id}
                    )
                    status = str(response.status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                into.answers[status] += 1
                if status in ("200", "409"):
                    break
                if time.monotonic() > deadline:
                    into.unanswered.append(run_id)
                    break
                time.sleep(0.2)
            time.sleep(gap)


def wait_proxy(url: str, token: str, timeout: float) -> None:
    """Until the proxy lets the client read the DAG through the API server."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/api/v1/dags/{DAG_ID}", headers=headers, timeout=5).is_success:
                return
        time.sleep(0.2)
    raise AssertionError(f"the proxy at {url} did not serve the DAG in {timeout}s")


# -- the faults ------------------------------------------------------------------------------------


@dataclass
class Fault:
    at: float
    target: str
    #: Wall-clock (time.time()) window the fault took, for the audit.
    started: float = 0.0
    ended: float = 0.0


def fault_schedule(rng: random.Random, duration: float, kills_per_component: int) -> list[Fault]:
    """Each component type SIGKILLed `kills_per_component` times (one of its processes, at
    random), PostgreSQL and Redis restarted once each; at uniformly random moments."""
    targets = [c for c in COMPONENTS for _ in range(kills_per_component)] + list(SERVERS)
    return sorted((Fault(rng.uniform(0, duration), t) for t in targets), key=lambda f: f.at)


def pick_process(cluster: Cluster, component: str, rng: random.Random) -> str:
    return rng.choice(sorted(n for n in cluster.procs if n.rsplit("-", 1)[0] == component))


# -- the audit -------------------------------------------------------------------------------------


@dataclass
class Attempt:
    starts: list[tuple[int, float]] = field(default_factory=list)
    ends: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class Audit:
    runs_sent: int
    runs_stored: int
    #: Run ids stored more than once, or sent and never stored, or stored and never sent.
    runs_duplicated: int
    runs_lost: int
    runs_unknown: int
    run_states: Counter[str]
    executions: int
    #: Attempts (run/task try) whose work started, or ended, more than once.
    duplicated: list[str]
    #: Attempts run with a try number beyond what the metadata recorded.
    beyond_final_try: list[str]
    #: Task instances recorded `success` whose final try never finished its work.
    lost: int
    #: Tries below a task instance's final try that never started, and whose process (from the
    #: try history) was not SIGKILLed before it could.
    missing_tries: list[str]
    #: Retries whose previous try finished its work untouched by any fault.
    undue_retries: list[str]
    retries: int
    #: Attempts with a process among those SIGKILLed.
    killed_attempts: int
    unfinished_tis: int

    @property
    def clean(self) -> bool:
        return not (
            self.runs_duplicated
            or self.runs_lost
            or self.runs_unknown
            or self.duplicated
            or self.beyond_final_try
            or self.lost
            or self.undue_retries
            or self.missing_tries
            or self.unfinished_tis
            or set(self.run_states) - set(FINAL)
        )


def read_attempts(out: Path) -> dict[tuple[str, str, int], Attempt]:
    attempts: dict[tuple[str, str, int], Attempt] = defaultdict(Attempt)
    for path in out.iterdir():
        run_id, task_id, try_number = path.name.rsplit("__", 2)
        attempt = attempts[(run_id, task_id, int(try_number))]
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) != 3:
                continue  # killed while writing its line
            kind, pid, at = parts
            (attempt.starts if kind == "start" else attempt.ends).append((int(pid), float(at)))
    return attempts


def audit(
    out: Path, sent: list[str], killed_pids: set[int], restarts: list[Fault], margin: float = 1.0
) -> Audit:
    """Check the side effects against the metadata. A try after the first is due only if its
    previous try was interrupted: it never finished its work, one of its processes was
    SIGKILLed, or it ran while the database was down (within `margin` seconds). A try may be
    missing (consumed, never started) only if its process was SIGKILLed before starting."""
    from sqlalchemy import select

    from aerovane.db import models
    from aerovane.db.engine import create_session

    ti, run = models.TaskInstance, models.DagRun
    with create_session(readonly=True) as session:
        stored = Counter(session.scalars(select(run.run_id).where(run.dag_id == DAG_ID)))
        states = Counter(
            str(s) for s in session.scalars(select(run.state).where(run.dag_id == DAG_ID))
        )
        rows = session.execute(
            select(ti.run_id, ti.task_id, ti.try_number, ti.state).where(ti.dag_id == DAG_ID)
        ).all()
        tih = models.TaskInstanceHistory
        history_pid = {
            (r.run_id, r.task_id, r.try_number): r.pid
            for r in session.execute(
                select(tih.run_id, tih.task_id, tih.try_number, tih.pid).where(tih.dag_id == DAG_ID)
            )
        }
    attempts = read_attempts(out)
    final_try = {(r.run_id, r.task_id): r.try_number for r in rows}
    db_down = [(f.started - margin, f.ended + margin) for f in restarts if f.target == "postgresql"]

    def interrupted(attempt: Attempt | None) -> bool:
        if attempt is None or not attempt.ends:
            return True
        pids = {pid for pid, _ in attempt.starts + attempt.ends}
        begin = min(at for _, at in attempt.starts + attempt.ends)
        end = max(at for _, at in attempt.starts + attempt.ends)
        return bool(pids & killed_pids) or any(a <= end + margin and begin <= b for a, b in db_down)

    undue, missing = [], []
    for (run_id, task_id), last in final_try.items():
        for t in range(1, last + 1):
            attempt = attempts.get((run_id, task_id, t))
            if (
                attempt is None
                and t < last
                and history_pid.get((run_id, task_id, t)) not in killed_pids
            ):
                missing.append(f"{run_id}/{task_id} try {t}")
            if t > 1 and not interrupted(attempts.get((run_id, task_id, t - 1))):
                undue.append(f"{run_id}/{task_id} try {t}")
    sent_set = set(sent)
    return Audit(
        runs_sent=len(sent_set),
        runs_stored=sum(stored.values()),
        runs_duplicated=sum(n - 1 for n in stored.values()),
        runs_lost=len(sent_set - set(stored)),
        runs_unknown=len(set(stored) - sent_set),
        run_states=states,
        executions=sum(len(a.starts) for a in attempts.values()),
        duplicated=[
            f"{r}/{k} try {t}"
            for (r, k, t), a in attempts.items()
            if len(a.starts) > 1 or len(a.ends) > 1
        ],
        beyond_final_try=[
            f"{r}/{k} try {t} (recorded {final_try.get((r, k), 0)})"
            for (r, k, t) in attempts
            if t > final_try.get((r, k), 0)
        ],
        lost=sum(
            1
            for r in rows
            if r.state == "success"
            and not attempts.get((r.run_id, r.task_id, r.try_number), Attempt()).ends
        ),
        missing_tries=missing,
        undue_retries=undue,
        retries=sum(1 for r in rows if r.try_number > 1),
        killed_attempts=sum(
            1 for a in attempts.values() if {pid for pid, _ in a.starts + a.ends} & killed_pids
        ),
        unfinished_tis=sum(1 for r in rows if str(r.state) not in ("success", "failed", "skipped")),
    )


# -- the suite -------------------------------------------------------------------------------------


@dataclass
class SuiteResult:
    seed: int
    kills: Counter[str]
    restarts: Counter[str]
    #: Components that exited on their own (restarted as a supervisor would), by name.
    exits: Counter[str]
    triggers: Triggers
    audit: Audit
    #: Seconds from the last fault to every run final (None: not within the budget).
    to_all_final: float | None


def summary(result: SuiteResult) -> str:
    a = result.audit
    kills = ", ".join(f"{c} {n}" for c, n in sorted(result.kills.items()))
    restarts = ", ".join(f"{s} {n}" for s, n in sorted(result.restarts.items()))
    took = result.to_all_final
    final = "not within the budget" if took is None else f"{took:.1f} s"
    clean = a.clean and took is not None and not result.triggers.unanswered
    return "\n".join(
        [
            f"seed {result.seed}",
            f"kills survived: {sum(result.kills.values())} ({kills})",
            f"restarts: {restarts}",
            f"components that exited on their own (restarted): {dict(result.exits) or 'none'}",
            f"triggers: {a.runs_sent} run ids, answers {dict(result.triggers.answers)}, "
            f"unanswered {len(result.triggers.unanswered)}",
            f"runs stored {a.runs_stored}: duplicated {a.runs_duplicated}, lost {a.runs_lost}, "
            f"unknown {a.runs_unknown}; states {dict(a.run_states)}",
            f"executions {a.executions}: duplicated {len(a.duplicated)} {a.duplicated[:5]}, "
            f"beyond the final try {len(a.beyond_final_try)} {a.beyond_final_try[:5]}, "
            f"lost {a.lost}; attempts SIGKILLed {a.killed_attempts}; retries {a.retries} "
            f"(undue {len(a.undue_retries)} {a.undue_retries[:5]}), tries consumed unrun "
            f"{len(a.missing_tries)} {a.missing_tries[:5]}; task instances not final "
            f"{a.unfinished_tis}",
            f"last fault -> every run final: {final}",
            "verdict: " + ("clean" if clean else "FAULTS"),
        ]
    )


def run_suite(
    *,
    home: Path,
    env: dict[str, str],
    postgres: PrivatePostgres,
    redis: PrivateRedis,
    seed: int,
    runs: int,
    duration: float,
    kills_per_component: int = 1,
    final_budget: float = 180.0,
    log: Callable[[str], object] = print,
) -> SuiteResult:
    """Write the DAG (side effects in `<home>/../side-effects`), start the cluster in `home`
    with `env`, trigger `runs` runs through the proxy over `duration` seconds while the seeded
    faults strike, then wait up to `final_budget` s for every run to be final and audit."""
    from aerovane.config import get_settings
    from aerovane.db.engine import dispose_engines
    from benchmarks._crash import wait_dag

    out = home.parent / "side-effects"
    out.mkdir(exist_ok=True)
    (get_settings().dags_folder / "faults.py").write_text(fault_dag(out))
    cluster = Cluster(home=home, env=env)
    rng = random.Random(seed)
    token = client_token()
    cluster.start_all()
    kills: Counter[str] = Counter()
    restarts: Counter[str] = Counter()
    exits: Counter[str] = Counter()
    triggers = Triggers()
    faults = fault_schedule(rng, duration, kills_per_component)
    try:
        wait_dag(DAG_ID, timeout=120)
        wait_proxy(cluster.proxy_url, token, timeout=120)
        run_ids = [f"fault_{seed}_{i:04d}" for i in range(runs)]
        client = threading.Thread(
            target=trigger_through_proxy,
            args=(cluster.proxy_url, token, run_ids),
            kwargs={"spread": duration * 0.8, "budget": 120.0, "into": triggers},
            daemon=True,
        )
        started = time.monotonic()
        client.start()
        for fault in faults:
            while time.monotonic() - started < fault.at:
                exits.update(cluster.revive())
                time.sleep(0.05)
            fault.started = time.time()
            if fault.target == "postgresql":
                postgres.restart()
                restarts[fault.target] += 1
            elif fault.target == "redis":
                redis.restart()
                restarts[fault.target] += 1
            else:
                name = pick_process(cluster, fault.target, rng)
                cluster.kill(name)
                kills[fault.target] += 1
            fault.ended = time.time()
            log(f"  {time.monotonic() - started:6.2f} s  {fault.target}")
        last_fault = time.monotonic()
        dispose_engines()  # this process's pooled connections died with the database
        client.join(timeout=180)
        to_final = _wait_all_final(cluster, runs, final_budget, exits)
        took = None if to_final is None else to_final - last_fault
        result = audit(out, triggers.run_ids, cluster.killed_pids, faults)
    finally:
        cluster.stop_all()
    return SuiteResult(seed, kills, restarts, exits, triggers, result, took)


def _wait_all_final(
    cluster: Cluster, runs: int, budget: float, exits: Counter[str]
) -> float | None:
    from sqlalchemy import func, select
    from sqlalchemy.exc import OperationalError

    from aerovane.db import models
    from aerovane.db.engine import create_session

    run = models.DagRun
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        exits.update(cluster.revive())
        with contextlib.suppress(OperationalError), create_session(readonly=True) as session:
            final = session.scalar(
                select(func.count()).where(run.dag_id == DAG_ID, run.state.in_(FINAL))
            )
            if final is not None and final >= runs:
                return time.monotonic()
        time.sleep(0.2)
    return None

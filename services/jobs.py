"""The job store: an embedded SQLite database of every training job (``settings.job_store_path``).

It is the one source of job history for the CLI and the dashboard, so two tabs, a refresh and
a CLI all agree. Each write is one transaction; WAL and a busy timeout let several workers and
readers share the file. The schema is migrated by version (table ``schema_version``).

A worker that dies cannot mark its own job Failed, so whoever reads the store does it
(``reap_dead_workers``): a job whose worker pid is gone, or whose heartbeat is stale, becomes
Failed with the reason, never InProgress forever.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.settings import Settings

__all__ = [
    "ACTIVE_STATUSES",
    "HEARTBEAT_TIMEOUT_SECONDS",
    "SCHEMA_VERSION",
    "STATUSES",
    "TERMINAL_STATUSES",
    "Job",
    "JobNotFoundError",
    "JobStore",
    "JobStoreError",
    "Transition",
    "pid_alive",
    "reconcile_with_aws",
    "sync",
]

STATUSES = ("Pending", "InProgress", "Completed", "Failed", "Stopping", "Stopped")
ACTIVE_STATUSES = frozenset({"Pending", "InProgress", "Stopping"})
TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Stopped"})
# A worker beats every few seconds; this long without one means it is gone (or on another host and hung).
HEARTBEAT_TIMEOUT_SECONDS = 90.0
# A Pending job whose worker never recorded a pid within this time never started.
START_TIMEOUT_SECONDS = 60.0

# Each entry upgrades the schema by one version; never edit a released one, append a new one.
MIGRATIONS: tuple[str, ...] = (
    # v1: the first release.
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        target TEXT NOT NULL,
        job_name TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL,
        instance_type TEXT,
        image_uri TEXT,
        channels TEXT NOT NULL DEFAULT '{}',
        artifact_uri TEXT,
        hyperparameters TEXT NOT NULL DEFAULT '{}',
        metrics TEXT NOT NULL DEFAULT '{}',
        failure_reason TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    # v2: transitions, the worker, idempotent launches, costs and headline metric columns.
    """
    CREATE TABLE transitions (
        job_id TEXT NOT NULL REFERENCES jobs(id),
        status TEXT NOT NULL,
        secondary_status TEXT,
        message TEXT,
        at REAL NOT NULL
    );
    CREATE INDEX transitions_job ON transitions(job_id, at);
    ALTER TABLE jobs ADD COLUMN request_key TEXT;
    CREATE UNIQUE INDEX jobs_request_key ON jobs(request_key) WHERE request_key IS NOT NULL;
    ALTER TABLE jobs ADD COLUMN secondary_status TEXT;
    ALTER TABLE jobs ADD COLUMN instance_reason TEXT;
    ALTER TABLE jobs ADD COLUMN use_spot INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN dataset_version TEXT;
    ALTER TABLE jobs ADD COLUMN request TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE jobs ADD COLUMN validation_accuracy REAL;
    ALTER TABLE jobs ADD COLUMN validation_auc REAL;
    ALTER TABLE jobs ADD COLUMN cv_accuracy REAL;
    ALTER TABLE jobs ADD COLUMN cv_auc REAL;
    ALTER TABLE jobs ADD COLUMN estimated_cost REAL;
    ALTER TABLE jobs ADD COLUMN actual_cost REAL;
    ALTER TABLE jobs ADD COLUMN spot_savings REAL;
    ALTER TABLE jobs ADD COLUMN training_seconds REAL;
    ALTER TABLE jobs ADD COLUMN billable_seconds REAL;
    ALTER TABLE jobs ADD COLUMN local_path TEXT;
    ALTER TABLE jobs ADD COLUMN log_file TEXT;
    ALTER TABLE jobs ADD COLUMN worker_pid INTEGER;
    ALTER TABLE jobs ADD COLUMN heartbeat_at REAL;
    INSERT INTO transitions (job_id, status, at) SELECT id, status, updated_at FROM jobs;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

_JSON_COLUMNS = ("channels", "hyperparameters", "metrics", "request")
_UPDATABLE = frozenset(
    {
        "instance_type",
        "instance_reason",
        "image_uri",
        "channels",
        "artifact_uri",
        "hyperparameters",
        "metrics",
        "failure_reason",
        "dataset_version",
        "request",
        "validation_accuracy",
        "validation_auc",
        "cv_accuracy",
        "cv_auc",
        "estimated_cost",
        "actual_cost",
        "spot_savings",
        "training_seconds",
        "billable_seconds",
        "local_path",
        "log_file",
        "worker_pid",
        "heartbeat_at",
        "secondary_status",
    }
)


class JobStoreError(RuntimeError):
    """The job store file cannot be used (not a database, not writable, a newer schema)."""


class JobNotFoundError(KeyError):
    def __str__(self) -> str:
        return f"no job {self.args[0]!r} in the job store"


@dataclass(frozen=True)
class Transition:
    status: str
    secondary_status: str | None
    message: str | None
    at: float


@dataclass(frozen=True)
class Job:
    """One row of the store, with its status timeline."""

    id: str
    target: str
    job_name: str
    status: str
    created_at: float
    updated_at: float
    request_key: str | None = None
    secondary_status: str | None = None
    instance_type: str | None = None
    instance_reason: str | None = None
    use_spot: bool = False
    image_uri: str | None = None
    dataset_version: str | None = None
    channels: dict[str, str] = field(default_factory=dict)
    artifact_uri: str | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    request: dict[str, Any] = field(default_factory=dict)
    validation_accuracy: float | None = None
    validation_auc: float | None = None
    cv_accuracy: float | None = None
    cv_auc: float | None = None
    failure_reason: str | None = None
    estimated_cost: float | None = None
    actual_cost: float | None = None
    spot_savings: float | None = None
    training_seconds: float | None = None
    billable_seconds: float | None = None
    local_path: str | None = None
    log_file: str | None = None
    worker_pid: int | None = None
    heartbeat_at: float | None = None
    transitions: tuple[Transition, ...] = ()

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        """From the first InProgress to the terminal status (or now, while running)."""
        started = next((t.at for t in self.transitions if t.status == "InProgress"), None)
        if started is None:
            return None
        ended = next((t.at for t in self.transitions if t.status in TERMINAL_STATUSES), None)
        return (ended if ended is not None else time.time()) - started


def pid_alive(pid: int) -> bool:
    """True when ``pid`` runs on this host and is not a zombie (an unreaped child is dead to us)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): kill(0) is the best evidence
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


class JobStore:
    """The SQLite job store. Cheap to construct; each call opens its own short connection."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._migrated = False

    @contextmanager
    def _connect(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction; a write takes the lock up front (BEGIN IMMEDIATE), so a
        read-then-write (an idempotent create, a status change) cannot interleave with another."""
        if not self._migrated:
            self.migrate()
        conn = self._open()
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def _open(self) -> sqlite3.Connection:
        """A connection; a path that cannot hold the store (a file as its folder, no rights, not a
        SQLite file) is a JobStoreError naming it, not a traceback."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN/COMMIT ourselves.
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise JobStoreError(f"the job store {self.path} cannot be opened: {exc}") from None
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            conn.close()
            raise JobStoreError(f"the job store {self.path} cannot be opened: {exc}") from None
        return conn

    def schema_version(self) -> int:
        conn = self._open()
        try:
            return _current_version(conn)
        finally:
            conn.close()

    def migrate(self) -> int:
        """Bring the file up to SCHEMA_VERSION; safe when several processes race to do it."""
        conn = self._open()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                version = _current_version(conn)
                if version > SCHEMA_VERSION:
                    raise JobStoreError(
                        f"job store {self.path} has schema v{version}, "
                        f"newer than this code (v{SCHEMA_VERSION})"
                    )
                for number in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in _statements(MIGRATIONS[number - 1]):
                        conn.execute(statement)
                    conn.execute("DELETE FROM schema_version")
                    conn.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()
        self._migrated = True
        return SCHEMA_VERSION

    # -- writes ---------------------------------------------------------------------------

    def create(
        self,
        *,
        target: str,
        job_name: str,
        request_key: str | None = None,
        **values: Any,
    ) -> tuple[Job, bool]:
        """Record a new Pending job; with a request key already seen, return that job instead.

        Returns ``(job, created)``; ``created`` is False for a repeated request (a refresh, a second tab).
        """
        unknown = set(values) - _UPDATABLE - {"use_spot"}
        if unknown:
            raise TypeError(f"unknown job fields: {sorted(unknown)}")
        now = time.time()
        job_id = uuid.uuid4().hex[:12]
        with self._connect() as conn:
            if request_key is not None:
                row = conn.execute("SELECT id FROM jobs WHERE request_key = ?", (request_key,)).fetchone()
                if row is not None:
                    existing = row["id"]
                    return self._get(conn, existing), False
            columns = {
                "id": job_id,
                "target": target,
                "job_name": job_name,
                "status": "Pending",
                "request_key": request_key,
                "created_at": now,
                "updated_at": now,
                **{k: _encode(k, v) for k, v in values.items()},
            }
            names = ", ".join(columns)
            marks = ", ".join("?" for _ in columns)
            conn.execute(f"INSERT INTO jobs ({names}) VALUES ({marks})", tuple(columns.values()))
            conn.execute(
                "INSERT INTO transitions (job_id, status, at) VALUES (?, 'Pending', ?)", (job_id, now)
            )
            return self._get(conn, job_id), True

    def record_external(
        self,
        *,
        target: str,
        job_name: str,
        status: str,
        created_at: float,
        transitions: Sequence[Transition] = (),
        **values: Any,
    ) -> Job:
        """Record a job that ran outside this store (``titanic-sm jobs import``), with its own
        creation time and timeline; a name already in the store is refused."""
        if status not in STATUSES:
            raise ValueError(f"unknown job status {status!r}; expected one of {', '.join(STATUSES)}")
        unknown = set(values) - _UPDATABLE - {"use_spot"}
        if unknown:
            raise TypeError(f"unknown job fields: {sorted(unknown)}")
        job_id = uuid.uuid4().hex[:12]
        timeline = list(transitions) or [Transition(status, values.get("secondary_status"), None, created_at)]
        with self._connect() as conn:
            if conn.execute("SELECT 1 FROM jobs WHERE job_name = ?", (job_name,)).fetchone():
                raise JobStoreError(f"job {job_name!r} is already in the job store")
            columns = {
                "id": job_id,
                "target": target,
                "job_name": job_name,
                "status": status,
                "created_at": created_at,
                "updated_at": max(t.at for t in timeline),
                **{k: _encode(k, v) for k, v in values.items()},
            }
            names = ", ".join(columns)
            marks = ", ".join("?" for _ in columns)
            conn.execute(f"INSERT INTO jobs ({names}) VALUES ({marks})", tuple(columns.values()))
            conn.executemany(
                "INSERT INTO transitions (job_id, status, secondary_status, message, at) "
                "VALUES (?, ?, ?, ?, ?)",
                [(job_id, t.status, t.secondary_status, t.message, t.at) for t in timeline],
            )
            return self._get(conn, job_id)

    def update(self, job_id: str, **values: Any) -> Job:
        """Set fields other than the status (use ``set_status`` for that)."""
        unknown = set(values) - _UPDATABLE
        if unknown:
            raise TypeError(f"unknown job fields: {sorted(unknown)}")
        with self._connect() as conn:
            self._require(conn, job_id)
            if values:
                assignments = ", ".join(f"{k} = ?" for k in values)
                params = (*(_encode(k, v) for k, v in values.items()), time.time(), job_id)
                conn.execute(f"UPDATE jobs SET {assignments}, updated_at = ? WHERE id = ?", params)
            return self._get(conn, job_id)

    def set_status(
        self,
        job_id: str,
        status: str,
        *,
        secondary_status: str | None = None,
        message: str | None = None,
        failure_reason: str | None = None,
        **values: Any,
    ) -> Job:
        """Move a job to ``status`` and record the transition.

        A terminal status is final: a late write from a worker that lost a race (e.g. Completed
        after the user stopped the job) is ignored, and the stored job is returned unchanged.
        """
        if status not in STATUSES:
            raise ValueError(f"unknown job status {status!r}; expected one of {', '.join(STATUSES)}")
        unknown = set(values) - _UPDATABLE
        if unknown:
            raise TypeError(f"unknown job fields: {sorted(unknown)}")
        now = time.time()
        with self._connect() as conn:
            current = self._require(conn, job_id)
            if current["status"] in TERMINAL_STATUSES:
                return self._get(conn, job_id)
            changed = current["status"] != status or current["secondary_status"] != secondary_status
            extra = {k: _encode(k, v) for k, v in values.items()}
            if failure_reason is not None:
                extra["failure_reason"] = failure_reason
            assignments = "".join(f", {k} = ?" for k in extra)
            conn.execute(
                f"UPDATE jobs SET status = ?, secondary_status = ?, updated_at = ?{assignments} WHERE id = ?",
                (status, secondary_status, now, *extra.values(), job_id),
            )
            if changed:
                conn.execute(
                    "INSERT INTO transitions (job_id, status, secondary_status, message, at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (job_id, status, secondary_status, message, now),
                )
            return self._get(conn, job_id)

    def heartbeat(self, job_id: str, pid: int | None = None) -> None:
        with self._connect() as conn:
            if pid is None:
                conn.execute("UPDATE jobs SET heartbeat_at = ? WHERE id = ?", (time.time(), job_id))
            else:
                conn.execute(
                    "UPDATE jobs SET heartbeat_at = ?, worker_pid = ? WHERE id = ?",
                    (time.time(), pid, job_id),
                )

    def reap_dead_workers(
        self,
        is_alive: Callable[[int], bool] = pid_alive,
        now: float | None = None,
    ) -> list[str]:
        """Mark active jobs whose worker is gone as Failed, with the reason; return their ids."""
        now = time.time() if now is None else now
        reaped: list[str] = []
        with self._connect(write=False) as conn:
            rows = conn.execute(
                "SELECT id, status, worker_pid, heartbeat_at, created_at FROM jobs WHERE status IN (?, ?, ?)",
                tuple(sorted(ACTIVE_STATUSES)),
            ).fetchall()
        for row in rows:
            pid, beat = row["worker_pid"], row["heartbeat_at"]
            reason: str | None = None
            if pid is None:
                if now - row["created_at"] > START_TIMEOUT_SECONDS:
                    reason = f"worker never started within {START_TIMEOUT_SECONDS:.0f} s"
            elif not is_alive(pid):
                reason = f"worker pid {pid} exited without finishing"
            elif beat is not None and now - beat > HEARTBEAT_TIMEOUT_SECONDS:
                reason = f"worker pid {pid} stopped responding (no heartbeat for {now - beat:.0f} s)"
            if reason is None:
                continue
            final = "Stopped" if row["status"] == "Stopping" else "Failed"
            job = self.set_status(row["id"], final, message=reason, failure_reason=reason)
            if job.status == final:
                reaped.append(row["id"])
        return reaped

    # -- reads ----------------------------------------------------------------------------

    def get(self, job_id: str, *, reap: bool = True) -> Job:
        """A job by id or by job name."""
        if reap:
            self.reap_dead_workers()
        with self._connect(write=False) as conn:
            row = conn.execute(
                "SELECT id FROM jobs WHERE id = ? OR job_name = ?", (job_id, job_id)
            ).fetchone()
            if row is None:
                raise JobNotFoundError(job_id)
            return self._get(conn, row["id"])

    def list(
        self,
        *,
        statuses: Sequence[str] | None = None,
        targets: Sequence[str] | None = None,
        limit: int | None = None,
        reap: bool = True,
    ) -> list[Job]:
        """Jobs newest first, optionally filtered by status and target."""
        if reap:
            self.reap_dead_workers()
        clauses: list[str] = []
        params: list[Any] = []
        if statuses:
            clauses.append(f"status IN ({', '.join('?' for _ in statuses)})")
            params.extend(statuses)
        if targets:
            clauses.append(f"target IN ({', '.join('?' for _ in targets)})")
            params.extend(targets)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        tail = " LIMIT ?" if limit else ""
        if limit:
            params.append(limit)
        with self._connect(write=False) as conn:
            rows = conn.execute(
                f"SELECT * FROM jobs {where} ORDER BY created_at DESC{tail}", params
            ).fetchall()
            history = _transitions(conn, [r["id"] for r in rows])
        return [_row_to_job(r, history.get(r["id"], ())) for r in rows]

    def _require(self, conn: sqlite3.Connection, job_id: str) -> sqlite3.Row:
        row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFoundError(job_id)
        return row

    def _get(self, conn: sqlite3.Connection, job_id: str) -> Job:
        row = self._require(conn, job_id)
        return _row_to_job(row, _transitions(conn, [job_id]).get(job_id, ()))


def _current_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _encode(name: str, value: Any) -> Any:
    if name in _JSON_COLUMNS:
        return json.dumps(value if value is not None else {}, sort_keys=True, default=str)
    if name == "use_spot":
        return int(bool(value))
    return value


def _transitions(conn: sqlite3.Connection, job_ids: list[str]) -> dict[str, tuple[Transition, ...]]:
    if not job_ids:
        return {}
    marks = ", ".join("?" for _ in job_ids)
    rows = conn.execute(
        f"SELECT job_id, status, secondary_status, message, at FROM transitions "
        f"WHERE job_id IN ({marks}) ORDER BY at, rowid",
        job_ids,
    ).fetchall()
    result: dict[str, list[Transition]] = {}
    for r in rows:
        result.setdefault(r["job_id"], []).append(
            Transition(r["status"], r["secondary_status"], r["message"], r["at"])
        )
    return {k: tuple(v) for k, v in result.items()}


def _row_to_job(row: sqlite3.Row, transitions: tuple[Transition, ...]) -> Job:
    values = dict(row)
    for name in _JSON_COLUMNS:
        values[name] = json.loads(values.get(name) or "{}")
    values["use_spot"] = bool(values.get("use_spot"))
    return Job(**values, transitions=transitions)


def _worker_alive(job: Job, is_alive: Callable[[int], bool], now: float) -> bool:
    """The job's worker runs and beats (the reaper's test, the other way round)."""
    if job.worker_pid is None or not is_alive(job.worker_pid):
        return False
    return job.heartbeat_at is None or now - job.heartbeat_at <= HEARTBEAT_TIMEOUT_SECONDS


def reconcile_with_aws(
    store: JobStore,
    sagemaker: Any,
    jobs: Sequence[Job] | None = None,
    is_alive: Callable[[int], bool] = pid_alive,
) -> list[str]:
    """On the aws target, bring active stored jobs up to date from SageMaker; return the changed ids.

    ``list_training_jobs`` finds which stored jobs SageMaker knows; ``describe_training_job``
    then gives the secondary status, failure reason and billable time of each active one.

    SageMaker is asked before dead workers are reaped, so a job that finished while its worker
    was gone gets SageMaker's outcome. A job whose worker is alive gets SageMaker's progress but
    not its end: the worker records that itself, with the metrics, cost and download, and a
    terminal status written first would make the store drop the worker's final write.
    """
    listed = jobs if jobs is not None else store.list(targets=["aws"], reap=False)
    candidates = [j for j in listed if j.is_active]
    if not candidates:
        return []
    now = time.time()
    known: dict[str, str] = {}
    # Only jobs created since the oldest active one can be ours: an account's whole history is not.
    since = dt.datetime.fromtimestamp(min(j.created_at for j in candidates) - 3600, tz=dt.UTC)
    for page in sagemaker.get_paginator("list_training_jobs").paginate(CreationTimeAfter=since):
        for summary in page.get("TrainingJobSummaries", []):
            known[summary["TrainingJobName"]] = summary["TrainingJobStatus"]
    changed: list[str] = []
    for job in candidates:
        if job.job_name not in known:
            continue
        described = sagemaker.describe_training_job(TrainingJobName=job.job_name)
        status = described["TrainingJobStatus"]
        if status in TERMINAL_STATUSES and _worker_alive(job, is_alive, now):
            continue
        extra: dict[str, Any] = {}
        artifact = described.get("ModelArtifacts", {}).get("S3ModelArtifacts")
        if artifact:
            extra["artifact_uri"] = artifact
        training = described.get("TrainingTimeInSeconds")
        billable = described.get("BillableTimeInSeconds")
        if training:
            extra["training_seconds"] = float(training)
        if billable is not None:
            extra["billable_seconds"] = float(billable)
            if training:
                extra["spot_savings"] = 1.0 - float(billable) / float(training)
        updated = store.set_status(
            job.id,
            status,
            secondary_status=described.get("SecondaryStatus"),
            failure_reason=described.get("FailureReason"),
            **extra,
        )
        if (updated.status, updated.secondary_status) != (job.status, job.secondary_status):
            changed.append(job.id)
    return changed


def sync(settings: Settings, store: JobStore | None = None) -> list[str]:
    """Bring the store up to date with the target: on aws, reconcile with SageMaker; on local,
    reap dead workers. Returns the ids of jobs that changed. Call it before showing history."""
    store = store or JobStore(settings.job_store_path)
    changed: list[str] = []
    if not settings.is_local:
        from services import aws

        changed += reconcile_with_aws(store, aws.client(settings, "sagemaker"))
    changed += [job_id for job_id in store.reap_dead_workers() if job_id not in changed]
    return changed


def as_summary(job: Job) -> Mapping[str, Any]:
    """A flat row for tables (CLI ``jobs list``, the dashboard's history)."""
    duration = job.duration_seconds
    return {
        "id": job.id,
        "name": job.job_name,
        "target": job.target,
        "status": job.status,
        "secondary": job.secondary_status or "",
        "instance": job.instance_type or "",
        "duration_s": round(duration, 1) if duration is not None else None,
        "accuracy": job.validation_accuracy,
        "auc": job.validation_auc,
        "cost": job.actual_cost if job.actual_cost is not None else job.estimated_cost,
    }

"""The job store: an embedded SQLite database of every training job (``settings.job_store_path``).

It is the one source of job history for the CLI and the dashboard, so two tabs, a refresh and
a CLI all agree. Each write is one transaction; WAL and a busy timeout let several workers and
readers share the file. The schema is migrated by version (table ``schema_version``).

Reads never write. A worker that dies cannot mark its own job Failed, so the one refresh does
it (``refresh``, which the CLI calls once per command; ``sync`` ends with it): a job that never
reached SageMaker and whose worker pid is gone becomes Failed with the reason, never InProgress
forever. A live worker with late heartbeats (paused) is left alone: its job is unknown for now,
not Failed. A job whose CreateTrainingJob was sent but not yet seen is ``sync``'s to settle: it
asks the training API by name (``services.jobs.sync``). The pages call ``sync`` (the Jobs page)
or, from a poll, ``current_jobs`` / ``watched_job``, which read the store and sync only when a
worker is gone.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.errors import UserError
from services.processes import pid_alive

if TYPE_CHECKING:
    pass

__all__ = [
    "ACTIVE_STATUSES",
    "HEARTBEAT_TIMEOUT_SECONDS",
    "PHASES",
    "SCHEMA_VERSION",
    "STATUSES",
    "TERMINAL_STATUSES",
    "Job",
    "JobNotFoundError",
    "JobPage",
    "JobStore",
    "JobStoreError",
    "Transition",
    "refresh",
]

STATUSES = ("Pending", "InProgress", "Completed", "Failed", "Stopping", "Stopped")
ACTIVE_STATUSES = frozenset({"Pending", "InProgress", "Stopping"})
TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Stopped"})
# SageMaker's secondary statuses before a job's end: where the time of a launch goes.
PHASES = ("Starting", "Downloading", "Training", "Uploading")
DEFAULT_PAGE_SIZE = 50
# The characters LIKE treats specially, escaped so a search for "50%" means the text.
_LIKE_ESCAPE = "\\"
# Searched by the history's text filter.
_TEXT_COLUMNS = ("job_name", "id", "instance_type", "dataset_version", "image_uri", "failure_reason")
# A worker beats every few seconds (worker.HEARTBEAT_SECONDS); this long without one means it is
# gone, paused or hung: sync then adopts its job unless the worker still holds the job's follower
# lock (a paused one does). Never a reason to record a job Failed.
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
    # v3: the sha256 of the job's model.joblib, recorded when the artifact was verified from the
    # job's own output path: the trust `titanic-sm predict` needs before it unpickles a model.
    """
    ALTER TABLE jobs ADD COLUMN model_sha256 TEXT;
    CREATE INDEX jobs_model_sha256 ON jobs(model_sha256) WHERE model_sha256 IS NOT NULL;
    """,
    # v4: the history at scale: newest-first pages and status filters (and the reaper) by index.
    """
    CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
    CREATE INDEX IF NOT EXISTS jobs_status_created ON jobs(status, created_at);
    """,
    # v5: what SageMaker (or the local control plane) reports of the job, as DescribeTrainingJob has it.
    """
    ALTER TABLE jobs ADD COLUMN training_job TEXT NOT NULL DEFAULT '{}';
    """,
    # v6: when the worker was about to send CreateTrainingJob. A worker that dies between that call
    # and recording ``training_job`` leaves a job only the training API can tell about: the reaper
    # leaves it to ``sync``, which asks the API by name.
    """
    ALTER TABLE jobs ADD COLUMN create_requested_at REAL;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

_JSON_COLUMNS = ("channels", "hyperparameters", "metrics", "request", "training_job")
_UPDATABLE = frozenset(
    {
        "instance_type",
        "instance_reason",
        "image_uri",
        "channels",
        "artifact_uri",
        "hyperparameters",
        "metrics",
        "model_sha256",
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
        "training_job",
        "create_requested_at",
    }
)


class JobStoreError(UserError, RuntimeError):
    """The job store file cannot be used (not a database, not writable, a newer schema)."""


class JobNotFoundError(UserError, KeyError):
    def __init__(self, job_id: str) -> None:
        super().__init__(job_id, code="job.not_found", values={"job": repr(job_id)})

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
    model_sha256: str | None = None  # of model.joblib, recorded when the job's artifact was verified
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
    # DescribeTrainingJob's fields as last seen (secondary transitions, final metrics, billable time).
    training_job: dict[str, Any] = field(default_factory=dict)
    # Set just before CreateTrainingJob is sent: from then on only the training API knows whether
    # the job exists until ``training_job`` is recorded.
    create_requested_at: float | None = None
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


@dataclass(frozen=True)
class JobPage:
    """One page of the history: ``jobs`` newest first, ``total`` the jobs matching the filters."""

    jobs: list[Job]
    total: int
    offset: int
    limit: int

    @property
    def page_count(self) -> int:
        return max(1, -(-self.total // self.limit))

    @property
    def page_number(self) -> int:
        """1-based."""
        return self.offset // self.limit + 1


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
            raise JobStoreError(
                f"the job store {self.path} cannot be opened: {exc}",
                code="job_store.cannot_open",
                values={"path": str(self.path), "cause": str(exc)},
            ) from None
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            conn.close()
            raise JobStoreError(
                f"the job store {self.path} cannot be opened: {exc}",
                code="job_store.cannot_open",
                values={"path": str(self.path), "cause": str(exc)},
            ) from None
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
                        f"newer than this code (v{SCHEMA_VERSION})",
                        code="job_store.newer_schema",
                        values={"path": str(self.path), "version": version, "supported": SCHEMA_VERSION},
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
                raise JobStoreError(
                    f"job {job_name!r} is already in the job store",
                    code="job_store.duplicate",
                    values={"job": repr(job_name)},
                )
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
        at: float | None = None,
        **values: Any,
    ) -> Job:
        """Move a job to ``status`` and record the transition (``at``: when it happened, if not now).

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
                    (job_id, status, secondary_status, message, now if at is None else at),
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
        """Mark active jobs whose worker is gone as Failed, with the reason; return their ids.

        Only jobs that never reached SageMaker: once a training job exists, its outcome is the
        training API's to tell (``sync`` adopts it), never a missed heartbeat's. A job whose
        CreateTrainingJob was requested (``create_requested_at``) but not yet seen may exist there
        or not; the reaper cannot know, so it leaves it to ``sync``, which asks the API by name."""
        now = time.time() if now is None else now
        reaped: list[str] = []
        with self._connect(write=False) as conn:
            rows = conn.execute(
                "SELECT id, status, worker_pid, created_at FROM jobs "
                "WHERE status IN (?, ?, ?) AND training_job = '{}' AND create_requested_at IS NULL",
                tuple(sorted(ACTIVE_STATUSES)),
            ).fetchall()
        for row in rows:
            pid = row["worker_pid"]
            reason: str | None = None
            if pid is None:
                if now - row["created_at"] > START_TIMEOUT_SECONDS:
                    reason = f"worker never started within {START_TIMEOUT_SECONDS:.0f} s"
            elif not is_alive(pid):
                reason = f"worker pid {pid} exited without finishing"
            # A live worker whose beats are late is paused (SIGSTOP, a frozen VM, a sleeping laptop)
            # or busy: unknown for now, never Failed; it records its own end when it goes on, and
            # `jobs stop` still ends it. Late beats only tell sync not to count on it.
            if reason is None:
                continue
            final = "Stopped" if row["status"] == "Stopping" else "Failed"
            job = self.set_status(row["id"], final, message=reason, failure_reason=reason)
            if job.status == final:
                reaped.append(row["id"])
        return reaped

    # -- reads ----------------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        """A job by id or by job name."""
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
    ) -> list[Job]:
        """Jobs newest first, optionally filtered by status and target."""
        where, params = _filters(statuses, targets, None)
        tail = " LIMIT ?" if limit else ""
        if limit:
            params.append(limit)
        with self._connect(write=False) as conn:
            rows = conn.execute(
                f"SELECT * FROM jobs {where} ORDER BY created_at DESC{tail}", params
            ).fetchall()
            history = _transitions(conn, [r["id"] for r in rows])
        return [_row_to_job(r, history.get(r["id"], ())) for r in rows]

    def find_by_model_sha256(self, sha256: str) -> Job | None:
        """The job whose verified artifact holds a model.joblib with this sha256, if any (the oldest).

        A missing store file has no such job, and is not created by asking."""
        if not self.path.is_file():
            return None
        with self._connect(write=False) as conn:
            row = conn.execute(
                "SELECT id FROM jobs WHERE model_sha256 = ? ORDER BY created_at LIMIT 1", (sha256.lower(),)
            ).fetchone()
            return self._get(conn, row["id"]) if row is not None else None

    def page(
        self,
        *,
        statuses: Sequence[str] | None = None,
        targets: Sequence[str] | None = None,
        text: str | None = None,
        offset: int = 0,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> JobPage:
        """One page of jobs, newest first, filtered and counted in SQL (the history is never loaded whole).

        ``text`` matches, case-insensitively, anywhere in the job name, id, instance type,
        dataset version, image URI or failure reason. An ``offset`` past the end gives the last page.
        """
        if limit < 1:
            raise ValueError(f"page size must be at least 1, not {limit}")
        if offset < 0:
            raise ValueError(f"page offset cannot be negative, not {offset}")
        where, params = _filters(statuses, targets, text)
        with self._connect(write=False) as conn:
            total = int(conn.execute(f"SELECT COUNT(*) FROM jobs {where}", params).fetchone()[0])
            if offset >= total and total:
                offset = (total - 1) // limit * limit
            # The page's rowids first (the created_at index covers them), then only those rows:
            # sorting whole rows, metrics documents and all, costs ~10x more at 10,000 jobs.
            rowids = [
                r[0]
                for r in conn.execute(
                    f"SELECT rowid FROM jobs {where} ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
                    (*params, limit, offset),
                )
            ]
            marks = ", ".join("?" for _ in rowids) or "NULL"
            rows = conn.execute(
                f"SELECT * FROM jobs WHERE rowid IN ({marks}) ORDER BY created_at DESC, rowid DESC", rowids
            ).fetchall()
            history = _transitions(conn, [r["id"] for r in rows])
        jobs = [_row_to_job(r, history.get(r["id"], ())) for r in rows]
        return JobPage(jobs=jobs, total=total, offset=offset, limit=limit)

    def latest_completed(
        self,
        instance_type: str,
        *,
        dataset_version: str | None = None,
        target: str | None = None,
        timed: bool = False,
    ) -> Job | None:
        """The newest Completed job on ``instance_type`` (and data version, target; with ``timed``,
        only one with training seconds), found in SQL: the cost estimate and the proof need one job."""
        clauses = ["status = 'Completed'", "instance_type = ?"]
        params: list[Any] = [instance_type]
        if dataset_version is not None:
            clauses.append("dataset_version = ?")
            params.append(dataset_version)
        if target is not None:
            clauses.append("target = ?")
            params.append(target)
        if timed:
            clauses.append("training_seconds > 0")
        with self._connect(write=False) as conn:
            where = " AND ".join(clauses)
            row = conn.execute(
                f"SELECT id FROM jobs WHERE {where} ORDER BY created_at DESC, rowid DESC LIMIT 1", params
            ).fetchone()
            return self._get(conn, row["id"]) if row is not None else None

    def get_many(self, job_ids: Sequence[str]) -> builtins.list[Job]:
        """The jobs with these ids or names, in the order given; unknown ones are a JobNotFoundError."""
        if not job_ids:
            return []
        marks = ", ".join("?" for _ in job_ids)
        with self._connect(write=False) as conn:
            rows = conn.execute(
                f"SELECT * FROM jobs WHERE id IN ({marks}) OR job_name IN ({marks})", (*job_ids, *job_ids)
            ).fetchall()
            history = _transitions(conn, [r["id"] for r in rows])
        found = {key: r for r in rows for key in (r["id"], r["job_name"])}
        missing = [j for j in job_ids if j not in found]
        if missing:
            raise JobNotFoundError(missing[0])
        return [_row_to_job(found[j], history.get(found[j]["id"], ())) for j in job_ids]

    def phase_seconds(
        self, job_ids: Sequence[str] | None = None, *, limit: int = 200, now: float | None = None
    ) -> dict[str, dict[str, float]]:
        """Seconds each job spent in each of PHASES, from its recorded transitions, in one query.

        A phase lasts from its transition to the job's next one (to ``now`` while it is the
        latest); a phase entered twice (a spot restart) adds up. Without ``job_ids``, the newest
        ``limit`` jobs. Jobs that recorded no phase map to ``{}``.
        """
        now = time.time() if now is None else now
        params: tuple[Any, ...]
        if job_ids is not None:
            marks = ", ".join("?" for _ in job_ids) or "NULL"
            picked, params = f"SELECT id FROM jobs WHERE id IN ({marks})", tuple(job_ids)
        else:
            picked, params = "SELECT id FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)
        phase_marks = ", ".join("?" for _ in PHASES)
        query = f"""
            WITH picked AS ({picked}),
            spans AS (
                SELECT job_id, secondary_status, at,
                       LEAD(at) OVER (PARTITION BY job_id ORDER BY at, rowid) AS next_at
                FROM transitions WHERE job_id IN (SELECT id FROM picked)
            )
            SELECT picked.id AS job_id, spans.secondary_status AS phase,
                   SUM(COALESCE(spans.next_at, ?) - spans.at) AS seconds
            FROM picked LEFT JOIN spans
                ON spans.job_id = picked.id AND spans.secondary_status IN ({phase_marks})
            GROUP BY picked.id, spans.secondary_status
        """
        with self._connect(write=False) as conn:
            rows = conn.execute(query, (*params, now, *PHASES)).fetchall()
        result: dict[str, dict[str, float]] = {}
        for row in rows:
            phases = result.setdefault(row["job_id"], {})
            if row["phase"] is not None:
                phases[row["phase"]] = max(0.0, float(row["seconds"]))
        return result

    def _require(self, conn: sqlite3.Connection, job_id: str) -> sqlite3.Row:
        row: sqlite3.Row | None = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFoundError(job_id)
        return row

    def _get(self, conn: sqlite3.Connection, job_id: str) -> Job:
        row = self._require(conn, job_id)
        return _row_to_job(row, _transitions(conn, [job_id]).get(job_id, ()))


def _filters(
    statuses: Sequence[str] | None, targets: Sequence[str] | None, text: str | None
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if statuses:
        clauses.append(f"status IN ({', '.join('?' for _ in statuses)})")
        params.extend(statuses)
    if targets:
        clauses.append(f"target IN ({', '.join('?' for _ in targets)})")
        params.extend(targets)
    needle = (text or "").strip()
    if needle:
        escaped = needle.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2).replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        clauses.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '{_LIKE_ESCAPE}'" for c in _TEXT_COLUMNS) + ")")
        params.extend(pattern for _ in _TEXT_COLUMNS)
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params


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


def refresh(store: JobStore) -> list[str]:
    """The store's one refresh, before a page poll or a CLI command reads it: jobs whose worker
    died become Failed (Stopped if they were stopping). Returns their ids. Reads never do this."""
    return store.reap_dead_workers()


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

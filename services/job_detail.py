"""What the Jobs page shows about one job and about several: the values it ran with, where its
time went, its CPU and memory, and what differs between jobs.

Everything here returns data (numbers, codes, names), never sentences: the page words it in the
reader's language. Reads come from the job store (``services.jobs``), the container's
hyperparameter schema (``container.hyperparameters``) and CloudWatch.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from container import hyperparameters as schema
from services.jobs import PHASES, TERMINAL_STATUSES, Job, JobStore

if TYPE_CHECKING:
    from services.settings import Settings

__all__ = [
    "CLOUDWATCH_NAMESPACE",
    "COMPARED_METRICS",
    "Comparison",
    "DiffRow",
    "EffectiveHyperparameter",
    "JobPhases",
    "ParallelCoordinates",
    "ResourceSeries",
    "compare_jobs",
    "effective_hyperparameters",
    "host_dimension",
    "image_digest",
    "parallel_coordinates",
    "phase_history",
    "phase_medians",
    "resource_series",
    "startup_phases",
]

CLOUDWATCH_NAMESPACE = "/aws/sagemaker/TrainingJobs"
CPU_METRIC = "CPUUtilization"
MEMORY_METRIC = "MemoryUtilization"
COMPARED_METRICS = ("validation_accuracy", "validation_auc", "cv_accuracy", "cv_auc")
# The colour of the parallel-coordinates chart.
TARGET_METRIC = "validation_accuracy"


# -- hyperparameters --------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectiveHyperparameter:
    """One value the job ran with; ``set`` is True when the launch gave it, False for the default."""

    name: str
    value: Any
    default: Any
    set: bool
    source: str  # "metrics.json" (what the container reported) or "schema" (defaults filled here)
    help: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def effective_hyperparameters(job: Job) -> list[EffectiveHyperparameter]:
    """Every hyperparameter of the schema with the value the job ran with, in the schema's order.

    The container reports its effective values in metrics.json; before it has (a running or
    failed job) they are the launch's values over the schema's defaults. A key the launch gave
    that the schema no longer knows is listed last, as set, with no default.
    """
    reported = job.metrics.get("hyperparameters") if isinstance(job.metrics, Mapping) else None
    given = {k: v for k, v in job.hyperparameters.items() if not k.startswith(schema.PLATFORM_KEY_PREFIXES)}
    rows: list[EffectiveHyperparameter] = []
    for spec in schema.SCHEMA:
        if isinstance(reported, Mapping) and spec.name in reported:
            value, source = reported[spec.name], "metrics.json"
        elif spec.name in given:
            try:
                value = spec.parse(given[spec.name])
            except schema.HyperparameterError:
                value = given[spec.name]  # recorded as sent; the job itself refused it
            source = "schema"
        else:
            value, source = spec.default, "schema"
        rows.append(
            EffectiveHyperparameter(spec.name, value, spec.default, spec.name in given, source, spec.help)
        )
    known = {spec.name for spec in schema.SCHEMA}
    for name in sorted(set(given) - known):
        rows.append(EffectiveHyperparameter(name, given[name], None, True, "launch request", ""))
    return rows


# -- startup phases ---------------------------------------------------------------------------


@dataclass(frozen=True)
class JobPhases:
    """Seconds a job spent in each of PHASES (absent phases are 0)."""

    job_id: str
    job_name: str
    status: str
    created_at: float
    seconds: dict[str, float]

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total": self.total}


def startup_phases(job: Job, now: float | None = None) -> JobPhases:
    """Seconds in Starting, Downloading, Training and Uploading, from the job's secondary transitions.

    A phase lasts until the next transition; the latest one, while the job runs, until ``now``.
    """
    now = time.time() if now is None else now
    seconds = dict.fromkeys(PHASES, 0.0)
    marks = list(job.transitions)
    for index, mark in enumerate(marks):
        if mark.secondary_status not in seconds:
            continue
        end = marks[index + 1].at if index + 1 < len(marks) else now
        seconds[mark.secondary_status] += max(0.0, end - mark.at)
    return JobPhases(job.id, job.job_name, job.status, job.created_at, seconds)


def phase_history(
    store: JobStore,
    jobs: Sequence[Job] | None = None,
    *,
    limit: int = 200,
    now: float | None = None,
) -> list[JobPhases]:
    """Startup phases across the history, for stacked bars: of ``jobs`` (e.g. the page shown), or of
    the newest ``limit`` jobs. Summed in SQL, so the history is never loaded whole."""
    now = time.time() if now is None else now
    if jobs is None:
        jobs = store.page(limit=limit).jobs
    seconds = store.phase_seconds([j.id for j in jobs], now=now)
    return [
        JobPhases(
            j.id,
            j.job_name,
            j.status,
            j.created_at,
            {phase: seconds.get(j.id, {}).get(phase, 0.0) for phase in PHASES},
        )
        for j in jobs
    ]


def phase_medians(history: Sequence[JobPhases]) -> dict[str, float | None]:
    """The median seconds of each phase over the jobs that went through it: the line a slow
    launch stands out against (None for a phase no job recorded)."""
    medians: dict[str, float | None] = {}
    for phase in PHASES:
        values = sorted(p.seconds[phase] for p in history if p.seconds.get(phase))
        medians[phase] = statistics.median(values) if values else None
    return medians


# -- CPU and memory from CloudWatch -----------------------------------------------------------


@dataclass(frozen=True)
class ResourceSeries:
    """CPU and memory utilisation (percent) over time, and the peak memory against the instance's."""

    job_name: str
    host: str
    period_seconds: int
    cpu: list[tuple[str, float]]  # (ISO-8601 UTC time, percent), oldest first
    memory: list[tuple[str, float]]
    instance_type: str | None
    instance_memory_gib: float | None
    peak_memory_percent: float | None
    peak_memory_gib: float | None
    source: str
    # codes: "no_datapoints", "no_instance_memory", "local_stack_down" (local: not read, not started)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def host_dimension(job_name: str) -> str:
    """SageMaker's ``Host`` dimension for a single-instance job's instance metrics."""
    return f"{job_name}/algo-1"


def _window(job: Job, now: float) -> tuple[dt.datetime, dt.datetime]:
    ended = next((t.at for t in job.transitions if t.status in TERMINAL_STATUSES), None)
    start = dt.datetime.fromtimestamp(job.created_at - 60, dt.UTC)
    end = dt.datetime.fromtimestamp((ended if ended is not None else now) + 60, dt.UTC)
    return start, end


def _period(start: dt.datetime, end: dt.datetime, minimum: int = 1) -> int:
    """At most ~500 points, never below ``minimum``: 1 s for short local jobs, else a valid multiple.

    SageMaker's instance metrics are one-minute (standard resolution), so on AWS the minimum is
    60 s; the local control plane publishes every few seconds.
    """
    span = (end - start).total_seconds()
    for period in (1, 5, 10, 30, 60):
        if period >= minimum and span / period <= 500:
            return period
    return 60 * max(1, math.ceil(span / 500 / 60))


def _stack_is_down(settings: Settings) -> bool:
    """On local, whether a client would have to start the stack first (aws: never)."""
    if not settings.is_local:
        return False
    from services import local_stack

    try:
        return not all(service.healthy for service in local_stack.status(settings))
    except local_stack.LocalStackError:
        return True


def resource_series(
    settings: Settings,
    job: Job,
    *,
    cloudwatch: Any | None = None,
    period_seconds: int | None = None,
    now: float | None = None,
) -> ResourceSeries:
    """The job's CPUUtilization and MemoryUtilization (namespace /aws/sagemaker/TrainingJobs,
    dimension Host=<job>/algo-1) through GetMetricData, and its peak memory in GiB against the
    instance's memory (MemoryUtilization is a percent of it)."""
    from services import instances

    now = time.time() if now is None else now
    start, end = _window(job, now)
    period = period_seconds or _period(start, end, minimum=1 if settings.is_local else 60)
    host = host_dimension(job.job_name)
    spec = instances.load_specs().get(job.instance_type or "")
    memory_gib = spec.memory_gib if spec is not None else None
    source = f"CloudWatch GetMetricData, {CLOUDWATCH_NAMESPACE}, Host={host}"
    if cloudwatch is None:
        if _stack_is_down(settings):
            # Reading a chart must not start moto and the registry; the page says the stack is down.
            return ResourceSeries(
                job_name=job.job_name,
                host=host,
                period_seconds=period,
                cpu=[],
                memory=[],
                instance_type=job.instance_type,
                instance_memory_gib=memory_gib,
                peak_memory_percent=None,
                peak_memory_gib=None,
                source=source,
                notes=["local_stack_down"],
            )
        from services import aws

        cloudwatch = aws.client(settings, "cloudwatch")

    def query(query_id: str, metric: str, stat: str) -> dict[str, Any]:
        return {
            "Id": query_id,
            "MetricStat": {
                "Metric": {
                    "Namespace": CLOUDWATCH_NAMESPACE,
                    "MetricName": metric,
                    "Dimensions": [{"Name": "Host", "Value": host}],
                },
                "Period": period,
                "Stat": stat,
            },
            "ReturnData": True,
        }

    queries = [query("cpu", CPU_METRIC, "Average"), query("memory", MEMORY_METRIC, "Average")]
    queries.append(query("memory_peak", MEMORY_METRIC, "Maximum"))
    found: dict[str, list[tuple[dt.datetime, float]]] = {q["Id"]: [] for q in queries}
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
        if token:
            kwargs["NextToken"] = token
        answer = cloudwatch.get_metric_data(**kwargs)
        for result in answer.get("MetricDataResults", []):
            found[result["Id"]].extend(
                zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
            )
        token = answer.get("NextToken")
        if not token:
            break

    def series(key: str) -> list[tuple[str, float]]:
        return [
            (stamp.astimezone(dt.UTC).isoformat(timespec="seconds"), float(value))
            for stamp, value in sorted(found[key])
        ]

    peaks = [value for _, value in found["memory_peak"]] or [value for _, value in found["memory"]]
    peak = max(peaks) if peaks else None
    notes = []
    if not found["cpu"] and not found["memory"]:
        notes.append("no_datapoints")
    if memory_gib is None:
        notes.append("no_instance_memory")
    return ResourceSeries(
        job_name=job.job_name,
        host=host,
        period_seconds=period,
        cpu=series("cpu"),
        memory=series("memory"),
        instance_type=job.instance_type,
        instance_memory_gib=memory_gib,
        peak_memory_percent=peak,
        peak_memory_gib=round(peak / 100 * memory_gib, 3) if peak is not None and memory_gib else None,
        source=source,
        notes=notes,
    )


# -- comparing jobs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffRow:
    """One field that differs between the compared jobs: ``values`` in the order of ``job_names``."""

    group: str  # "hyperparameter", "dataset", "image", "instance", "spot", "metric", "cost"
    name: str
    values: list[Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    job_names: list[str]
    rows: list[DiffRow]  # only what differs
    same: list[str]  # the names of the fields that are equal across all jobs

    def to_dict(self) -> dict[str, Any]:
        return {"job_names": self.job_names, "rows": [r.to_dict() for r in self.rows], "same": self.same}


@dataclass(frozen=True)
class ParallelCoordinates:
    """Numeric hyperparameters (one dimension each) against validation accuracy, one line per job.

    Dimensions that are the same for every job are left out: they explain nothing. Booleans are
    0/1; ``color`` is validation accuracy (None for a job without one).
    """

    job_names: list[str]
    dimensions: list[dict[str, Any]]  # {"name": str, "values": [number, ...], "default": number}
    color_name: str
    color: list[float | None]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def image_digest(image_uri: str | None) -> str | None:
    """``sha256:...`` of a digest-pinned image URI (None when it is not pinned)."""
    if not image_uri or "@" not in image_uri:
        return None
    return image_uri.rsplit("@", 1)[1]


def _cost(job: Job) -> float | None:
    return job.actual_cost if job.actual_cost is not None else job.estimated_cost


def _fields(job: Job) -> list[tuple[str, str, Any]]:
    hp = [("hyperparameter", h.name, h.value) for h in effective_hyperparameters(job)]
    return [
        *hp,
        ("dataset", "dataset_version", job.dataset_version),
        ("image", "image_digest", image_digest(job.image_uri)),
        ("instance", "instance_type", job.instance_type),
        ("instance", "target", job.target),
        ("spot", "use_spot", job.use_spot),
        *[("metric", name, getattr(job, name)) for name in COMPARED_METRICS],
        ("cost", "cost_usd", _cost(job)),
    ]


def _same(values: Iterable[Any]) -> bool:
    items = list(values)
    first = items[0]
    for other in items[1:]:
        if isinstance(first, float) and isinstance(other, float):
            if not math.isclose(first, other, rel_tol=1e-9, abs_tol=1e-12):
                return False
        elif other != first:
            return False
    return True


def compare_jobs(jobs: Sequence[Job]) -> Comparison:
    """Any number of jobs side by side, keeping only what differs: hyperparameters (effective),
    dataset version, image digest, instance, spot, headline metrics and cost."""
    if len(jobs) < 2:
        raise ValueError(f"comparing needs at least two jobs, not {len(jobs)}")
    table = [_fields(job) for job in jobs]
    rows: list[DiffRow] = []
    same: list[str] = []
    seen: list[tuple[str, str]] = []
    values: dict[tuple[str, str], list[Any]] = {}
    for position, fields in enumerate(table):
        for group, name, value in fields:
            key = (group, name)
            if key not in values:
                seen.append(key)
                values[key] = [None] * len(jobs)
            values[key][position] = value
    for key in seen:
        if _same(values[key]):
            same.append(key[1])
        else:
            rows.append(DiffRow(key[0], key[1], values[key]))
    return Comparison([job.job_name for job in jobs], rows, same)


def parallel_coordinates(jobs: Sequence[Job]) -> ParallelCoordinates:
    """The data for a parallel-coordinates chart of the jobs' numeric hyperparameters and accuracy."""
    effective = [{h.name: h for h in effective_hyperparameters(job)} for job in jobs]
    dimensions: list[dict[str, Any]] = []
    for spec in schema.SCHEMA:
        if spec.type not in (int, float, bool):
            continue
        column: list[float] = []
        for values in effective:
            value = values[spec.name].value
            try:
                column.append(float(value))
            except (TypeError, ValueError):
                column = []
                break
        if column and (len(jobs) < 2 or not _same(column)):
            dimensions.append({"name": spec.name, "values": column, "default": float(spec.default)})
    return ParallelCoordinates(
        job_names=[job.job_name for job in jobs],
        dimensions=dimensions,
        color_name=TARGET_METRIC,
        color=[getattr(job, TARGET_METRIC) for job in jobs],
    )

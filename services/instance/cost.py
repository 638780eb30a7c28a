"""What a training job costs: an estimate before launch, the actual figure after, and spot savings.

SageMaker bills training per second: billable seconds x the hourly price / 3600 x instance count.
Before launch the seconds come from the last comparable completed job, else from the capacity
probe. A local job is priced as the same job would be on the chosen instance.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from services.errors import UserError
from services.messages import Notice, notice

if TYPE_CHECKING:
    from services.jobs.store import Job
    from services.settings import Settings

__all__ = [
    "BudgetExceededError",
    "CostActual",
    "CostCeiling",
    "CostError",
    "CostEstimate",
    "LaunchCost",
    "actual",
    "check_budget",
    "cost_basis",
    "estimate",
    "estimate_job",
    "estimate_or_none",
    "job_actual",
    "last_comparable_seconds",
    "launch_cost",
    "local_equivalent",
    "maximum",
    "spot_savings",
]

SECONDS_PER_HOUR = 3600.0


class CostError(UserError, ValueError):
    """A cost input is missing or impossible; the message names it."""


class BudgetExceededError(CostError):
    """The most a launch can cost is above ``max_job_cost_usd``; the message gives both numbers."""

    def __init__(self, ceiling: CostCeiling, budget_usd: float) -> None:
        super().__init__(
            f"the job's maximum cost ${ceiling.usd:.2f} ({ceiling.basis} {ceiling.seconds:.0f} s x "
            f"${ceiling.usd_per_hour:g}/h x {ceiling.instance_count} {ceiling.instance_type}) is over "
            f"the budget of ${budget_usd:.2f} (max_job_cost_usd); raise TITANIC_SM_MAX_JOB_COST_USD "
            f"or shorten {ceiling.basis} to launch it",
            code="cost.over_budget",
            values={
                "maximum": ceiling.usd,
                "budget": budget_usd,
                "basis": ceiling.basis,
                "seconds": ceiling.seconds,
                "usd_per_hour": ceiling.usd_per_hour,
                "count": ceiling.instance_count,
                "instance_type": ceiling.instance_type,
            },
            hint="raise TITANIC_SM_MAX_JOB_COST_USD (max_job_cost_usd) or shorten the run",
        )
        self.ceiling = ceiling
        self.budget_usd = budget_usd


@dataclass(frozen=True)
class CostEstimate:
    instance_type: str
    instance_count: int
    usd_per_hour: float
    price_source: str
    expected_seconds: float
    seconds_source: str
    usd: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CostCeiling:
    """The most a job can cost: it is billed at most max_run (spot: max_wait) seconds per instance."""

    instance_type: str
    instance_count: int
    usd_per_hour: float
    price_source: str
    seconds: float
    basis: str  # "max_run" or "max_wait"
    usd: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LaunchCost:
    """What the Train page shows before launch: expected and maximum cost, and the budget.

    A figure that cannot be known is None, and its ``*_unknown`` field says why in one line.
    """

    instance_type: str
    spot: bool
    expected: CostEstimate | None
    expected_unknown: str
    maximum: CostCeiling | None
    maximum_unknown: str
    budget_usd: float | None
    over_budget: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CostActual:
    usd: float
    billable_seconds: float
    usd_per_hour: float
    instance_count: int
    spot_savings: float | None  # fraction of training time not billed; None for on-demand
    basis: str  # "billable" (AWS) or "local wall time priced as the instance"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(price_per_hour: float, count: int) -> None:
    if price_per_hour < 0:
        raise CostError(
            f"price per hour cannot be negative: {price_per_hour}",
            code="cost.negative_price",
            values={"value": price_per_hour},
        )
    if count < 1:
        raise CostError(
            f"instance count must be at least 1, not {count}", code="cost.bad_count", values={"value": count}
        )


def _usd(seconds: float, price_per_hour: float, count: int) -> float:
    return round(seconds / SECONDS_PER_HOUR * price_per_hour * count, 6)


def last_comparable_seconds(
    jobs: Iterable[Any], instance_type: str, dataset_version: str | None = None
) -> float | None:
    """Training seconds of the most recent completed job on ``instance_type`` (and data version, if given).

    Works on ``services.jobs.store.Job`` records or anything with the same attributes.
    """
    comparable = [
        job
        for job in jobs
        if getattr(job, "status", None) == "Completed"
        and getattr(job, "instance_type", None) == instance_type
        and getattr(job, "training_seconds", None)
        and (dataset_version is None or getattr(job, "dataset_version", None) == dataset_version)
    ]
    if not comparable:
        return None
    latest = max(comparable, key=lambda job: getattr(job, "created_at", 0) or 0)
    return float(latest.training_seconds)


def estimate(
    instance_type: str,
    usd_per_hour: float,
    price_source: str,
    instance_count: int = 1,
    *,
    previous_job_seconds: float | None = None,
    probe_seconds: float | None = None,
) -> CostEstimate:
    """Expected cost before launch: seconds from the last comparable job, else the probe, x price x count."""
    _check(usd_per_hour, instance_count)
    if previous_job_seconds is not None and previous_job_seconds > 0:
        seconds, source = previous_job_seconds, "last comparable completed job"
    elif probe_seconds is not None and probe_seconds > 0:
        seconds, source = probe_seconds, "capacity probe (whole container run)"
    else:
        raise CostError(
            "no duration to estimate from: no comparable completed job and no capacity probe",
            code="cost.no_duration",
        )
    return CostEstimate(
        instance_type=instance_type,
        instance_count=instance_count,
        usd_per_hour=usd_per_hour,
        price_source=price_source,
        expected_seconds=float(seconds),
        seconds_source=source,
        usd=_usd(seconds, usd_per_hour, instance_count),
    )


def spot_savings(billable_seconds: float | None, training_seconds: float | None) -> float | None:
    """1 - billable / training; None when either is unknown or training time is zero."""
    if billable_seconds is None or not training_seconds:
        return None
    if billable_seconds < 0 or training_seconds < 0:
        raise CostError("billable and training seconds cannot be negative", code="cost.negative_seconds")
    return round(1.0 - billable_seconds / training_seconds, 6)


def actual(
    billable_seconds: float,
    usd_per_hour: float,
    instance_count: int = 1,
    *,
    training_seconds: float | None = None,
    spot: bool = False,
) -> CostActual:
    """The cost of a finished AWS job from its BillableTimeInSeconds (and spot savings when spot)."""
    _check(usd_per_hour, instance_count)
    if billable_seconds < 0:
        raise CostError(
            f"billable seconds cannot be negative: {billable_seconds}",
            code="cost.negative_billable",
            values={"value": billable_seconds},
        )
    return CostActual(
        usd=_usd(billable_seconds, usd_per_hour, instance_count),
        billable_seconds=float(billable_seconds),
        usd_per_hour=usd_per_hour,
        instance_count=instance_count,
        spot_savings=spot_savings(billable_seconds, training_seconds) if spot else None,
        basis="billable",
    )


def local_equivalent(wall_seconds: float, usd_per_hour: float, instance_count: int = 1) -> CostActual:
    """What a local job would have cost on the chosen instance, billed for its wall time."""
    _check(usd_per_hour, instance_count)
    if wall_seconds < 0:
        raise CostError(
            f"wall seconds cannot be negative: {wall_seconds}",
            code="cost.negative_wall",
            values={"value": wall_seconds},
        )
    return CostActual(
        usd=_usd(wall_seconds, usd_per_hour, instance_count),
        billable_seconds=float(wall_seconds),
        usd_per_hour=usd_per_hour,
        instance_count=instance_count,
        spot_savings=None,
        basis="local wall time priced as the instance",
    )


def estimate_job(
    settings: Settings,
    instance_type: str | None = None,
    *,
    spot: bool | None = None,
    dataset_version: str | None = None,
    offline: bool = False,
) -> CostEstimate:
    """The pre-launch estimate for ``settings``: its instance, count and spot flag unless given.

    Seconds come from the newest completed job on that type (and data version) in the job store,
    else from the probe run on that type's limits, else from the measuring probe.
    """
    from services.instance import capacity, instances
    from services.jobs.store import JobStore

    instance_type = instance_type or settings.instance_type
    spot = settings.use_spot if spot is None else spot
    quote = instances.price_quote(settings, instance_type, spot, offline)
    if quote is None:
        raise CostError(
            f"no {'spot ' if spot else ''}training price for {instance_type} in {settings.region}",
            code="cost.no_spot_price" if spot else "cost.no_price",
            values={"instance_type": instance_type, "region": settings.region},
        )
    previous = None
    if settings.job_store_path.is_file():
        latest = JobStore(settings.job_store_path).latest_completed(
            instance_type, dataset_version=dataset_version, timed=True
        )
        previous = last_comparable_seconds([latest] if latest else [], instance_type, dataset_version)
    # A proof run that did not complete (e.g. out of memory on a small type) has no duration to
    # offer; the measuring probe still has one.
    probe = next(
        (
            run
            for run in (capacity.load_proof(settings, instance_type), capacity.load_latest(settings))
            if run is not None and run.completed
        ),
        None,
    )
    return estimate(
        instance_type,
        quote.usd_per_hour,
        f"{quote.source}, {quote.fetched}",
        settings.instance_count,
        previous_job_seconds=previous,
        probe_seconds=probe.docker_seconds if probe is not None else None,
    )


def maximum(
    instance_type: str,
    usd_per_hour: float,
    price_source: str,
    instance_count: int = 1,
    *,
    max_run_seconds: int,
    max_wait_seconds: int | None = None,
    spot: bool = False,
) -> CostCeiling:
    """``max_run x price x count``; with spot ``max_wait x price x count`` (the job's whole allowance).

    Managed spot bills at most the on-demand rate; a stop at max_wait ends billing, so max_wait bounds
    what a spot job can be billed, interruptions included.
    """
    _check(usd_per_hour, instance_count)
    if spot:
        if max_wait_seconds is None:
            raise CostError(
                "spot training needs max_wait (seconds) to bound its cost", code="cost.spot_needs_max_wait"
            )
        seconds, basis = max_wait_seconds, "max_wait"
    else:
        seconds, basis = max_run_seconds, "max_run"
    if seconds < 1:
        raise CostError(
            f"{basis} must be at least 1 s, not {seconds}",
            code="cost.too_short",
            values={"basis": basis, "value": seconds},
        )
    return CostCeiling(
        instance_type=instance_type,
        instance_count=instance_count,
        usd_per_hour=usd_per_hour,
        price_source=price_source,
        seconds=float(seconds),
        basis=basis,
        usd=_usd(seconds, usd_per_hour, instance_count),
    )


def _ceiling(
    settings: Settings,
    instance_type: str,
    spot: bool,
    max_run_seconds: int,
    max_wait_seconds: int | None,
    offline: bool,
) -> CostCeiling:
    from services.instance import instances

    quote = instances.price_quote(settings, instance_type, spot, offline)
    if quote is None:
        raise CostError(
            f"no {'spot ' if spot else ''}training price for {instance_type} in {settings.region}",
            code="cost.no_spot_price" if spot else "cost.no_price",
            values={"instance_type": instance_type, "region": settings.region},
        )
    return maximum(
        instance_type,
        quote.usd_per_hour,
        f"{quote.source}, {quote.fetched}",
        settings.instance_count,
        max_run_seconds=max_run_seconds,
        max_wait_seconds=max_wait_seconds,
        spot=spot,
    )


def check_budget(
    settings: Settings,
    instance_type: str,
    *,
    spot: bool,
    max_run_seconds: int,
    max_wait_seconds: int | None = None,
    offline: bool = False,
) -> CostCeiling | None:
    """Refuse a launch whose maximum cost is over ``settings.max_job_cost_usd``.

    Returns the ceiling (None when no budget is set, or when no price is known: the instance
    checks already make a type without a price need an override reason). Raises
    BudgetExceededError, one line with both numbers.
    """
    budget = settings.max_job_cost_usd
    if budget is None:
        return None
    try:
        ceiling = _ceiling(settings, instance_type, spot, max_run_seconds, max_wait_seconds, offline)
    except CostError:
        return None
    if ceiling.usd > budget:
        raise BudgetExceededError(ceiling, budget)
    return ceiling


def launch_cost(
    settings: Settings,
    instance_type: str | None = None,
    *,
    spot: bool | None = None,
    max_run_seconds: int | None = None,
    max_wait_seconds: int | None = None,
    dataset_version: str | None = None,
    offline: bool = False,
) -> LaunchCost:
    """Expected and maximum cost of a launch, against the budget; never raises for a missing figure.

    Unset arguments come from ``settings`` (instance type, spot, max_run, max_wait).
    """
    instance_type = instance_type or settings.instance_type
    spot = settings.use_spot if spot is None else spot
    max_run = max_run_seconds if max_run_seconds is not None else settings.max_run_seconds
    max_wait = max_wait_seconds if max_wait_seconds is not None else settings.max_wait_seconds
    expected: CostEstimate | None = None
    expected_unknown = ""
    try:
        expected = estimate_job(
            settings, instance_type, spot=spot, dataset_version=dataset_version, offline=offline
        )
    except CostError as exc:
        expected_unknown = str(exc)
    ceiling: CostCeiling | None = None
    maximum_unknown = ""
    try:
        ceiling = _ceiling(settings, instance_type, spot, max_run, max_wait, offline)
    except CostError as exc:
        maximum_unknown = str(exc)
    budget = settings.max_job_cost_usd
    return LaunchCost(
        instance_type=instance_type,
        spot=spot,
        expected=expected,
        expected_unknown=expected_unknown,
        maximum=ceiling,
        maximum_unknown=maximum_unknown,
        budget_usd=budget,
        over_budget=ceiling is not None and budget is not None and ceiling.usd > budget,
    )


def estimate_or_none(
    settings: Settings, instance_type: str, spot: bool, dataset_version: str | None = None
) -> CostEstimate | None:
    """``estimate_job``'s figure for a job about to be recorded, or None when it is unknown (no
    price, no duration yet): the launch goes on, its estimate reads "unknown"."""
    try:
        return estimate_job(settings, instance_type, spot=spot, dataset_version=dataset_version)
    except Exception:  # any failure to estimate leaves the estimate unknown, never the launch refused
        return None


def job_actual(settings: Settings, job: Job, fit_seconds: float) -> dict[str, float | None]:
    """A finished job's ``actual_cost`` and ``spot_savings``: billable seconds x price (SageMaker's,
    or the local control plane's), else the fit's wall time priced as the instance. The price is
    the instance service's: live on aws (the snapshot when the API is denied or unreachable), the
    snapshot on local; spot without a spot product is the on-demand rate. Empty without a price."""
    from services.instance import instances

    quote = instances.price_quote(settings, job.instance_type or settings.instance_type, job.use_spot)
    if quote is None:
        return {}
    if job.billable_seconds is not None:
        figure = actual(
            job.billable_seconds,
            quote.usd_per_hour,
            settings.instance_count,
            training_seconds=job.training_seconds,
            spot=job.use_spot,
        )
    else:
        figure = local_equivalent(fit_seconds, quote.usd_per_hour, settings.instance_count)
    return {"actual_cost": figure.usd, "spot_savings": figure.spot_savings}


def cost_basis(job: Job) -> Notice:
    """How the job's actual cost was reached (for run.json and the run summary): English as the
    string, worded in another language by the catalogue."""
    if job.billable_seconds is not None:
        return notice("cost.basis.billable" if job.target == "aws" else "cost.basis.billable_local")
    return notice("cost.basis.wall_time")

"""Which training instance is the smallest that works, with the evidence: fit, quota, region, price.

Candidates are every type in the installed botocore's ``TrainingInstanceType`` enum. For each, the
hardware (shipped spec table, or Price List attributes when live), the hourly price
(``services.instance.pricing``) and the account quota (``services.instance.quotas``) are joined against the
requirement measured by the capacity probe (``services.instance.capacity``). The cheapest type that fits
and has quota ≥ 1 is chosen, separately for on-demand and for spot; every other type carries
the reasons it was excluded. Every figure names its source and the date it was fetched.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import botocore.session
from botocore.exceptions import BotoCoreError, ClientError

from services.errors import UserError
from services.instance import capacity, pricing, quotas
from services.instance.capacity import (
    ProbeResult,
    Requirement,
    assumed_requirement,
    load_latest,
    requirement_from_probe,
)
from services.messages import Notice
from services.settings import Settings

__all__ = [
    "EXCLUSION_CODES",
    "FUNNEL_STEPS",
    "Candidate",
    "CapacityCheck",
    "ChartPoint",
    "Decision",
    "DecisionView",
    "Evidence",
    "ExclusionRow",
    "FunnelStep",
    "InstanceChoice",
    "InstanceChoiceError",
    "RationaleItem",
    "RationalePart",
    "Spec",
    "capacity_check",
    "chart_points",
    "check_choice",
    "decide",
    "decision_view",
    "exclusion_code",
    "exclusion_rows",
    "funnel",
    "gather",
    "load_specs",
    "price_quote",
    "rationale_items",
    "rationale_text",
    "to_markdown",
    "training_instance_types",
    "write_price_snapshot",
]

SPECS_FILE = "instance_specs.json"
REGION_PATTERN = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
NO_SPECS = "no specs"
DOES_NOT_FIT = "does not fit"
NOT_OFFERED = "not offered in the region"
NO_PRICE = "no price"
QUOTA_ZERO = "quota 0"
# A code per exclusion reason, for filters and for the message catalogue (the text stays English).
EXCLUSION_CODES = {
    NO_SPECS: "no_specs",
    NOT_OFFERED: "not_offered",
    NO_PRICE: "no_price",
    DOES_NOT_FIT: "does_not_fit",
    QUOTA_ZERO: "quota_zero",
}
# The eligible types the rule did not pick: dearer than the chosen one (or tied and larger).
NOT_CHEAPEST = "not_cheapest"


class InstanceChoiceError(UserError, ValueError):
    """An instance choice is invalid, or fails the checks without an override reason."""


@dataclass(frozen=True)
class Spec:
    vcpu: int
    memory_gib: float
    gpus: int
    source: str
    fetched: str


@dataclass
class Candidate:
    """One instance type judged for one purchase option; ``exclusions`` empty means eligible."""

    instance_type: str
    vcpu: int | None = None
    memory_gib: float | None = None
    gpus: int | None = None
    specs_source: str = ""
    specs_fetched: str = ""
    usd_per_hour: float | None = None
    price_source: str = ""
    price_fetched: str = ""
    quota: float | None = None
    quota_applied: float | None = None
    quota_default: float | None = None
    quota_code: str = ""
    quota_source: str = ""
    quota_fetched: str = ""
    exclusions: list[str] = field(default_factory=list)

    @property
    def eligible(self) -> bool:
        return not self.exclusions

    @property
    def exclusion_codes(self) -> tuple[str, ...]:
        """One code per exclusion, in the order they were found (see EXCLUSION_CODES)."""
        return tuple(exclusion_code(e) for e in self.exclusions)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "eligible": self.eligible, "exclusion_codes": list(self.exclusion_codes)}


@dataclass(frozen=True)
class RationalePart:
    """One sentence of the long rationale as data: ``instance.long.<code>`` words it (ko, en)."""

    code: str
    values: dict[str, Any]


@dataclass
class Decision:
    purchase: str  # "on-demand" or "spot"
    chosen: str | None
    rationale: str  # the long rationale in English (CLI, JSON, the submission document)
    candidates: list[Candidate]
    # The same rationale as data, sentence by sentence, for the page's language (rationale_text).
    rationale_parts: list[RationalePart] = field(default_factory=list)

    def candidate(self, instance_type: str) -> Candidate | None:
        return next((c for c in self.candidates if c.instance_type == instance_type), None)

    @property
    def eligible(self) -> list[Candidate]:
        return [c for c in self.candidates if c.eligible]

    def exclusion_counts(self) -> dict[str, int]:
        """How many candidates each reason code excludes (a type with two reasons counts twice)."""
        counts: dict[str, int] = {}
        for row in self.candidates:
            for code in set(row.exclusion_codes):
                counts[code] = counts.get(code, 0) + 1
        return dict(sorted(counts.items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "purchase": self.purchase,
            "chosen": self.chosen,
            "rationale": self.rationale,
            "candidates": [c.to_dict() for c in self.candidates],
        }


@dataclass
class Evidence:
    region: str
    generated_at: str
    requirement: Requirement
    price_source: str
    quota_source: str
    candidates_source: str
    on_demand: Decision
    spot: Decision
    warnings: list[str] = field(default_factory=list)
    # Per chosen type: the probe run under its limits (local) or a completed job on it (aws).
    proofs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def decision(self, spot: bool) -> Decision:
        return self.spot if spot else self.on_demand

    def to_dict(self, spot: bool | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "region": self.region,
            "generated_at": self.generated_at,
            "requirement": self.requirement.to_dict(),
            "sources": {
                "candidates": self.candidates_source,
                "prices": self.price_source,
                "quotas": self.quota_source,
            },
            "warnings": self.warnings,
            "proofs": self.proofs,
        }
        if spot is None or not spot:
            data["on_demand"] = self.on_demand.to_dict()
        if spot is None or spot:
            data["spot"] = self.spot.to_dict()
        return data


def exclusion_code(exclusion: str) -> str:
    """The code of one exclusion text (``"quota 0: ..."`` -> ``"quota_zero"``)."""
    prefix = exclusion.split(":", 1)[0]
    try:
        return EXCLUSION_CODES[prefix]
    except KeyError:
        raise ValueError(f"unknown exclusion reason {prefix!r}") from None


def training_instance_types() -> list[str]:
    """Every type SageMaker accepts for training, from the installed botocore's service model."""
    return list(_training_instance_enum())


@functools.cache
def _training_instance_enum() -> tuple[str, ...]:
    # Read once: the sagemaker service model is large, and every launch checks its type here.
    model = botocore.session.get_session().get_service_model("sagemaker")
    return tuple(model.shape_for("TrainingInstanceType").enum)


def botocore_source() -> str:
    return f"botocore {botocore.__version__} sagemaker service model, TrainingInstanceType enum"


def load_specs() -> dict[str, Spec]:
    """The shipped spec table (vCPU, memory GiB, GPUs), each entry naming the table's source and date."""
    doc = json.loads((resources.files("services.instance") / "data" / SPECS_FILE).read_text())
    source = f"spec table ({doc['source']})"
    return {
        name: Spec(int(v["vcpu"]), float(v["memory_gib"]), int(v["gpus"]), source, doc["fetched"])
        for name, v in doc["types"].items()
    }


def _judge(
    instance_type: str,
    spot: bool,
    requirement: Requirement,
    specs: dict[str, Spec],
    book: pricing.PriceBook,
    table: quotas.QuotaTable,
) -> Candidate:
    row = Candidate(instance_type=instance_type)
    live_specs = book.specs.get(instance_type) if book.live else None
    if live_specs is not None:
        row.vcpu, row.memory_gib, row.gpus = live_specs.vcpu, live_specs.memory_gib, live_specs.gpus
        row.specs_source = f"{book.source} product attributes, {book.fetched}"
        row.specs_fetched = book.fetched
    elif instance_type in specs:
        spec = specs[instance_type]
        row.vcpu, row.memory_gib, row.gpus = spec.vcpu, spec.memory_gib, spec.gpus
        row.specs_source = f"{spec.source}, {spec.fetched}"
        row.specs_fetched = spec.fetched
    else:
        row.exclusions.append(
            Notice(f"{NO_SPECS}: vCPU and memory unknown (not in the spec table)", "exclusion.no_specs")
        )

    fits = (
        row.vcpu is None
        or row.memory_gib is None
        or (row.vcpu >= requirement.min_vcpu and row.memory_gib >= requirement.min_memory_gib)
    )
    if not fits:
        row.exclusions.append(
            Notice(
                f"{DOES_NOT_FIT}: {row.vcpu} vCPU / {row.memory_gib:g} GiB < required "
                f"{requirement.min_vcpu} vCPU / {requirement.min_memory_gib:g} GiB",
                "exclusion.does_not_fit",
                {
                    "vcpu": row.vcpu,
                    "memory_gib": row.memory_gib,
                    "min_vcpu": requirement.min_vcpu,
                    "min_memory_gib": requirement.min_memory_gib,
                },
            )
        )

    quote = book.quote(instance_type, spot)
    if quote is not None:
        row.usd_per_hour = quote.usd_per_hour
        row.price_source = quote.source
        row.price_fetched = quote.fetched
    elif book.live:
        row.exclusions.append(
            Notice(
                f"{NOT_OFFERED}: no Price List training product for {book.region}",
                "exclusion.not_offered",
                {"region": book.region},
            )
        )
    else:
        row.exclusions.append(
            Notice(
                f"{NO_PRICE}: not in the price snapshot for {book.region}",
                "exclusion.no_price",
                {"region": book.region},
            )
        )

    quota = table.get(instance_type, spot)
    if quota is not None:
        row.quota, row.quota_applied, row.quota_default = quota.value, quota.applied, quota.default
        row.quota_code, row.quota_source, row.quota_fetched = quota.code, quota.source, quota.fetched
        if quota.value is not None and quota.value < 1:
            code = quota.code or "?"
            if quota.default is None and spot:
                notice = Notice(
                    f"{QUOTA_ZERO}: spot training quota {code} is {quota.value:g}",
                    "exclusion.quota_zero_spot",
                    {"code": code, "value": quota.value},
                )
            elif quota.default is None:
                notice = Notice(
                    f"{QUOTA_ZERO}: training quota {code} is {quota.value:g}",
                    "exclusion.quota_zero",
                    {"code": code, "value": quota.value},
                )
            elif spot:
                notice = Notice(
                    f"{QUOTA_ZERO}: spot training quota {code} is {quota.value:g}"
                    f" (AWS default {quota.default:g})",
                    "exclusion.quota_zero_spot_default",
                    {"code": code, "value": quota.value, "default": quota.default},
                )
            else:
                notice = Notice(
                    f"{QUOTA_ZERO}: training quota {code} is {quota.value:g} (AWS default {quota.default:g})",
                    "exclusion.quota_zero_default",
                    {"code": code, "value": quota.value, "default": quota.default},
                )
            row.exclusions.append(notice)
    else:
        row.quota_source = (
            "quota unknown" if not table.known else f"quota unknown (not listed in {table.source})"
        )
    return row


def _sort_key(row: Candidate) -> tuple[float, int, float, str]:
    price = row.usd_per_hour if row.usd_per_hour is not None else float("inf")
    return (price, row.vcpu or 0, row.memory_gib or 0.0, row.instance_type)


def decide(candidates: Iterable[Candidate], requirement: Requirement, spot: bool) -> Decision:
    """The cheapest eligible candidate (ties: fewer vCPU, less memory, name), with a plain-words rationale."""
    rows = sorted(candidates, key=lambda r: (not r.eligible, *_sort_key(r)))
    purchase = "spot" if spot else "on-demand"
    eligible = [r for r in rows if r.eligible]
    need = f"{requirement.min_vcpu} vCPU and {requirement.min_memory_gib:g} GiB ({requirement.basis})"
    need_values = {
        "purchase": purchase,
        "min_vcpu": requirement.min_vcpu,
        "min_memory_gib": requirement.min_memory_gib,
        "basis": requirement.basis,
    }
    if not eligible:
        rationale = (
            f"No {purchase} training instance passes every check for {need}. "
            "See each type's exclusions; an instance can still be chosen with an override reason."
        )
        return Decision(
            purchase=purchase,
            chosen=None,
            rationale=rationale,
            candidates=rows,
            rationale_parts=[RationalePart("none", need_values)],
        )
    best = eligible[0]
    quota_words = (
        f"its {purchase} quota is {best.quota:g} ({best.quota_source}, {best.quota_fetched})"
        if best.quota is not None
        else f"its {purchase} quota is unknown, so it is unverified ({best.quota_source})"
    )
    parts = [
        f"{best.instance_type} is the smallest {purchase} training instance that fits: it has "
        f"{best.vcpu} vCPU and {best.memory_gib:g} GiB against the {need}; "
        f"it costs ${best.usd_per_hour:g}/h ({best.price_source}, {best.price_fetched}), the cheapest of "
        f"{len(eligible)} eligible types; {quota_words}."
    ]
    chosen_values = {
        **need_values,
        "instance_type": best.instance_type,
        "vcpu": best.vcpu,
        "memory_gib": best.memory_gib,
        "usd_per_hour": best.usd_per_hour,
        "price_source": best.price_source,
        "price_fetched": best.price_fetched,
        "eligible": len(eligible),
    }
    structured = [
        RationalePart("chosen", chosen_values),
        RationalePart(
            "quota",
            {
                "purchase": purchase,
                "quota": best.quota,
                "source": best.quota_source,
                "fetched": best.quota_fetched,
            },
        )
        if best.quota is not None
        else RationalePart("quota_unknown", {"purchase": purchase, "source": best.quota_source}),
    ]
    cheaper = [
        r for r in rows if not r.eligible and r.usd_per_hour is not None and _sort_key(r) < _sort_key(best)
    ]
    for row in cheaper:
        parts.append(
            f"{row.instance_type} (${row.usd_per_hour:g}/h) was excluded: {'; '.join(row.exclusions)}."
        )
        structured.append(
            RationalePart(
                "cheaper_excluded",
                {
                    "instance_type": row.instance_type,
                    "usd_per_hour": row.usd_per_hour,
                    "reasons": "; ".join(row.exclusions),
                    "codes": list(row.exclusion_codes),
                },
            )
        )
    excluded = [r for r in rows if not r.eligible]
    counts: dict[str, int] = {}
    for row in excluded:
        for reason in {e.split(":", 1)[0] for e in row.exclusions}:
            counts[reason] = counts.get(reason, 0) + 1
    if counts:
        summary = ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items()))
        parts.append(f"Of {len(rows)} candidates, {len(excluded)} were excluded ({summary}).")
        structured.append(
            RationalePart(
                "summary",
                {
                    "candidates": len(rows),
                    "excluded": len(excluded),
                    "summary": summary,
                    "counts": [(EXCLUSION_CODES[reason], n) for reason, n in sorted(counts.items())],
                },
            )
        )
    return Decision(
        purchase=purchase,
        chosen=best.instance_type,
        rationale=" ".join(parts),
        candidates=rows,
        rationale_parts=structured,
    )


def rationale_text(decision: Decision, lang: str) -> str:
    """The long rationale in ``lang`` from the catalogue (``instance.long.*``); in English it is
    ``decision.rationale`` word for word. Purchase options and exclusion reasons are worded by the
    catalogue too (``instance.purchase_*``, ``instance.reason_*``); sources, dates, instance types
    and figures stay as they are."""
    from services.messages import language_of, text, worded

    # English keeps each exclusion's full detail (as the CLI prints it); another language names
    # each reason by the catalogue's label, the details being English.
    localise = language_of(lang) != "en"

    def words(part: RationalePart) -> str:
        values = dict(part.values)
        if "purchase" in values:
            values["purchase"] = text(f"instance.purchase_{values['purchase'].replace('-', '_')}", lang)
        if "basis" in values:  # the requirement's basis: a Notice from the capacity probe
            values["basis"] = worded(values["basis"], lang)
        if part.code == "cheaper_excluded" and localise:
            values["reasons"] = "; ".join(text(f"instance.reason_{c}", lang) for c in values["codes"])
        if part.code == "summary" and localise:
            values["summary"] = ", ".join(
                text("instance.reason_count", lang, reason=text(f"instance.reason_{c}", lang), count=n)
                for c, n in values["counts"]
            )
        return text(f"instance.long.{part.code}", lang, **values)

    if not decision.rationale_parts:  # a Decision built by hand: only its English text is known
        return decision.rationale
    return " ".join(words(part) for part in decision.rationale_parts)


# -- the decision as data, for pictures: funnel, chart, five-line rationale, exclusions ---------

FUNNEL_STEPS = ("enum", "specs", "priced", "fits", "quota", "chosen")
# English words for the CLI's one-line funnel (the dashboard words the keys from its catalogue).
_FUNNEL_WORDS = {
    "enum": "training types",
    "specs": "with specs",
    "priced": "priced in the region",
    "fits": "fit the need",
    "quota": "with quota",
    "chosen": "chosen",
}
# Which exclusion codes each funnel step removes; a type leaves at the first step it fails.
_STEP_CODES: dict[str, tuple[str, ...]] = {
    "specs": (EXCLUSION_CODES[NO_SPECS],),
    "priced": (EXCLUSION_CODES[NOT_OFFERED], EXCLUSION_CODES[NO_PRICE]),
    "fits": (EXCLUSION_CODES[DOES_NOT_FIT],),
    "quota": (EXCLUSION_CODES[QUOTA_ZERO],),
}


@dataclass(frozen=True)
class FunnelStep:
    """One step of the funnel: ``count`` types are left after it; ``removed`` left here, for ``reasons``."""

    key: str  # one of FUNNEL_STEPS
    count: int
    removed: tuple[str, ...]
    reasons: dict[str, int]  # reason code -> how many of ``removed`` it names
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "removed": list(self.removed)}


@dataclass(frozen=True)
class ChartPoint:
    """A type with known specs and a price: where it sits on price against memory or vCPU."""

    instance_type: str
    usd_per_hour: float
    vcpu: int
    memory_gib: float
    gpus: int
    eligible: bool
    chosen: bool
    codes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "codes": list(self.codes)}


@dataclass(frozen=True)
class RationaleItem:
    """One line of the rationale: ``key`` is need, fit, quota, price or proof.

    ``values`` carries the figures for the page's own sentence (in its language); ``text`` is
    the English line (CLI, fallbacks). ``ok`` is False when the point is unverified or missing.
    """

    key: str
    ok: bool
    values: dict[str, Any]
    source: str
    date: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ExclusionRow:
    instance_type: str
    codes: tuple[str, ...]
    reasons: tuple[str, ...]
    vcpu: int | None
    memory_gib: float | None
    usd_per_hour: float | None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "codes": list(self.codes), "reasons": list(self.reasons)}


@dataclass(frozen=True)
class DecisionView:
    """Everything the Instance page draws for one purchase option, computed from the Evidence."""

    region: str
    purchase: str
    chosen: str | None
    requirement: Requirement
    funnel: list[FunnelStep]
    chart: list[ChartPoint]
    rationale: list[RationaleItem]
    exclusions: list[ExclusionRow]
    reason_counts: dict[str, int]  # code -> candidates it excludes (Decision.exclusion_counts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "purchase": self.purchase,
            "chosen": self.chosen,
            "requirement": self.requirement.to_dict(),
            "funnel": [s.to_dict() for s in self.funnel],
            "chart": [p.to_dict() for p in self.chart],
            "rationale": [r.to_dict() for r in self.rationale],
            "exclusions": [e.to_dict() for e in self.exclusions],
            "reason_counts": self.reason_counts,
        }


def funnel(evidence: Evidence, spot: bool = False) -> list[FunnelStep]:
    """All candidates -> known specs -> offered and priced -> fits the need -> has quota -> chosen.

    Each type leaves at the first step whose reason its own exclusions name, so the counts are
    the decision's: the quota step leaves exactly the eligible types, and the last step the chosen.
    """
    decision = evidence.decision(spot)
    need = evidence.requirement
    sources = {
        "enum": evidence.candidates_source,
        "specs": "; ".join(sorted({c.specs_source for c in decision.candidates if c.specs_source}))
        or "no specs known",
        "priced": evidence.price_source,
        "fits": f"{need.min_vcpu} vCPU, {need.min_memory_gib:g} GiB "
        f"({need.source}, {need.measured_at or 'n/a'})",
        "quota": evidence.quota_source,
        "chosen": "the cheapest eligible type (ties: fewer vCPU, less memory, name)",
    }
    left = list(decision.candidates)
    steps = [FunnelStep("enum", len(left), (), {}, sources["enum"])]
    for key, codes in _STEP_CODES.items():
        removed = [c for c in left if any(code in codes for code in c.exclusion_codes)]
        reasons: dict[str, int] = {}
        for row in removed:
            for code in codes:
                if code in row.exclusion_codes:
                    reasons[code] = reasons.get(code, 0) + 1
        gone = {c.instance_type for c in removed}
        left = [c for c in left if c.instance_type not in gone]
        steps.append(
            FunnelStep(key, len(left), tuple(c.instance_type for c in removed), reasons, sources[key])
        )
    dearer = tuple(c.instance_type for c in left if c.instance_type != decision.chosen)
    steps.append(
        FunnelStep(
            "chosen",
            len(left) - len(dearer),
            dearer,
            {NOT_CHEAPEST: len(dearer)} if dearer else {},
            sources["chosen"],
        )
    )
    return steps


def chart_points(evidence: Evidence, spot: bool = False) -> list[ChartPoint]:
    """Every type with known specs and a price (eligible or not), cheapest first."""
    decision = evidence.decision(spot)
    points = [
        ChartPoint(
            instance_type=c.instance_type,
            usd_per_hour=c.usd_per_hour,
            vcpu=c.vcpu,
            memory_gib=c.memory_gib,
            gpus=c.gpus or 0,
            eligible=c.eligible,
            chosen=c.instance_type == decision.chosen,
            codes=c.exclusion_codes,
        )
        for c in decision.candidates
        if c.usd_per_hour is not None and c.vcpu is not None and c.memory_gib is not None
    ]
    return sorted(points, key=lambda p: (p.usd_per_hour, p.vcpu, p.memory_gib, p.instance_type))


def _date(text: str) -> str:
    return text[:10] if text else ""


def rationale_items(evidence: Evidence, spot: bool = False) -> list[RationaleItem]:
    """The rationale as five items, need, fit, quota, price and proof, each naming its source and date."""
    decision = evidence.decision(spot)
    need = evidence.requirement
    best = decision.candidate(decision.chosen) if decision.chosen else None
    measured = need.source != "assumption"
    items = [
        RationaleItem(
            "need",
            measured,
            {"min_vcpu": need.min_vcpu, "min_memory_gib": need.min_memory_gib, "basis": need.basis},
            need.source,
            _date(need.measured_at),
            f"Need: {need.min_vcpu} vCPU, {need.min_memory_gib:g} GiB ({need.basis})",
        )
    ]
    if best is None:
        for key in ("fit", "quota", "price", "proof"):
            items.append(
                RationaleItem(
                    key,
                    False,
                    {"purchase": decision.purchase},
                    "",
                    "",
                    f"{key.capitalize()}: no {decision.purchase} type passes every check",
                )
            )
        return items
    items.append(
        RationaleItem(
            "fit",
            True,
            {
                "instance_type": best.instance_type,
                "vcpu": best.vcpu,
                "memory_gib": best.memory_gib,
                "min_vcpu": need.min_vcpu,
                "min_memory_gib": need.min_memory_gib,
            },
            best.specs_source,
            _date(best.specs_fetched),
            f"Fit: {best.instance_type} has {best.vcpu} vCPU, {best.memory_gib:g} GiB "
            f"(need {need.min_vcpu} vCPU, {need.min_memory_gib:g} GiB)",
        )
    )
    quota_known = best.quota is not None
    items.append(
        RationaleItem(
            "quota",
            quota_known,
            {
                "purchase": decision.purchase,
                "quota": best.quota,
                "quota_code": best.quota_code,
                "applied": best.quota_applied,
                "default": best.quota_default,
            },
            best.quota_source,
            _date(best.quota_fetched),
            f"Quota: {decision.purchase} quota {best.quota:g}"
            + (f" ({best.quota_code})" if best.quota_code else "")
            if quota_known
            else f"Quota: {decision.purchase} quota unknown, unverified",
        )
    )
    eligible = decision.eligible
    items.append(
        RationaleItem(
            "price",
            True,
            {
                "instance_type": best.instance_type,
                "usd_per_hour": best.usd_per_hour,
                "eligible_count": len(eligible),
                "next_cheapest": eligible[1].instance_type if len(eligible) > 1 else None,
                "next_usd_per_hour": eligible[1].usd_per_hour if len(eligible) > 1 else None,
            },
            best.price_source,
            _date(best.price_fetched),
            f"Price: ${best.usd_per_hour:g}/h, the cheapest of {len(eligible)} eligible types",
        )
    )
    proof = evidence.proofs.get(best.instance_type)
    items.append(
        RationaleItem(
            "proof",
            bool(proof and proof.get("completed")),
            {
                "instance_type": best.instance_type,
                "kind": proof.get("kind") if proof else None,
                "completed": bool(proof and proof.get("completed")),
                "summary": proof.get("summary") if proof else None,
            },
            str(proof.get("kind", "")) if proof else "",
            _date(str(proof.get("measured_at", ""))) if proof else "",
            f"Proof: {proof['summary']}" if proof else "Proof: none yet (`titanic-sm probe` runs one)",
        )
    )
    return items


def exclusion_rows(
    evidence: Evidence, spot: bool = False, codes: Iterable[str] | None = None
) -> list[ExclusionRow]:
    """The excluded types with their reason codes; with ``codes``, only those excluded for one of them."""
    wanted = set(codes) if codes is not None else None
    rows = [
        ExclusionRow(
            c.instance_type, c.exclusion_codes, tuple(c.exclusions), c.vcpu, c.memory_gib, c.usd_per_hour
        )
        for c in evidence.decision(spot).candidates
        if not c.eligible
    ]
    if wanted is None:
        return rows
    return [r for r in rows if wanted.intersection(r.codes)]


def decision_view(evidence: Evidence, spot: bool = False) -> DecisionView:
    """The funnel, the chart points, the five-item rationale and the exclusions for one purchase option."""
    decision = evidence.decision(spot)
    return DecisionView(
        region=evidence.region,
        purchase=decision.purchase,
        chosen=decision.chosen,
        requirement=evidence.requirement,
        funnel=funnel(evidence, spot),
        chart=chart_points(evidence, spot),
        rationale=rationale_items(evidence, spot),
        exclusions=exclusion_rows(evidence, spot),
        reason_counts=decision.exclusion_counts(),
    )


def price_quote(
    settings: Settings, instance_type: str, spot: bool = False, offline: bool = False
) -> pricing.PriceQuote | None:
    """One type's hourly training price in ``settings.region`` (snapshot on local or offline)."""
    return _price_book(settings, offline).quote(instance_type, spot)


def write_price_snapshot(settings: Settings, path: Path) -> int:
    """Fetch ``settings.region``'s training prices live and write them as a snapshot file.

    Returns the number of products written. Raises InstanceChoiceError (one line) on the local
    target (moto has no Price List) or when the API cannot be read.
    """
    if settings.is_local:
        raise InstanceChoiceError(
            "--write-snapshot needs the aws target: the local stack has no Price List API",
            code="instance.snapshot_needs_aws",
        )
    from services import aws

    api_region = settings.region if settings.region in pricing.PRICING_API_REGIONS else "us-east-1"
    try:
        client = aws.client(settings, "pricing", region_name=api_region)
        doc = pricing.snapshot_document(client, [settings.region])
    except (BotoCoreError, ClientError) as exc:
        raise InstanceChoiceError(
            f"cannot read the Price List API: {exc}",
            code="instance.price_list_unreadable",
            values={"cause": str(exc)},
        ) from None
    count = sum(len(response["PriceList"]) for response in doc["responses"])
    if count == 0:
        raise InstanceChoiceError(
            f"the Price List API returned no SageMaker training products for {settings.region}",
            code="instance.no_products",
            values={"region": settings.region},
        )
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return count


def _price_book(settings: Settings, offline: bool) -> pricing.PriceBook:
    if offline or settings.is_local:
        return pricing.load_snapshot(settings.region)
    from services import aws

    api_region = settings.region if settings.region in pricing.PRICING_API_REGIONS else "us-east-1"
    try:
        client = aws.client(settings, "pricing", region_name=api_region)
    except BotoCoreError as exc:  # e.g. an unknown profile: degrade like a denied call
        return pricing.load_snapshot(
            settings.region,
            Notice(
                f"no Price List client ({exc}); using the price snapshot",
                "warning.no_price_client",
                {"cause": str(exc)},
            ),
        )
    return pricing.fetch_price_book(client, settings.region)


def _quota_table(settings: Settings, offline: bool) -> quotas.QuotaTable:
    if settings.is_local:
        return quotas.load_sample(settings.region, settings.local_quotas_file)
    if offline:
        return quotas.unknown_table(
            settings.region,
            Notice("offline: quotas were not read; quota unknown", "warning.quotas_offline"),
        )
    from services import aws

    try:
        client = aws.client(settings, "service-quotas")
    except BotoCoreError as exc:
        return quotas.unknown_table(
            settings.region,
            Notice(
                f"no Service Quotas client ({exc}); quota unknown",
                "warning.no_quotas_client",
                {"cause": str(exc)},
            ),
        )
    return quotas.fetch_quota_table(client, settings.region)


def current_requirement(settings: Settings) -> Requirement:
    """From the latest completed capacity probe; an explicit assumption when none has run."""
    probe = load_latest(settings)
    if probe is None or not probe.completed or probe.instance_type is not None:
        return assumed_requirement()
    return requirement_from_probe(probe)


def find_proof(settings: Settings, instance_type: str) -> dict[str, Any] | None:
    """Local: the probe run under the type's limits. AWS: the latest completed job on the type."""
    if settings.is_local:
        result = capacity.load_proof(settings, instance_type)
        if result is None:
            return None
        return {
            "kind": "capacity probe",
            "completed": result.completed,
            "summary": capacity.describe(result),
            **result.to_dict(),
        }
    if not settings.job_store_path.is_file():
        return None
    from services.jobs.store import JobStore

    job = JobStore(settings.job_store_path).latest_completed(instance_type, target="aws")
    if job is None:
        return None
    return {
        "kind": "completed SageMaker job",
        "completed": True,
        "job_name": job.job_name,
        "training_seconds": job.training_seconds,
        "measured_at": dt.datetime.fromtimestamp(job.updated_at, dt.UTC).isoformat(timespec="seconds"),
        "summary": Notice(
            f"{instance_type}: training job {job.job_name} completed on AWS in {job.training_seconds:.0f} s",
            "proof.aws_job",
            {"instance_type": instance_type, "job": job.job_name, "seconds": job.training_seconds},
        )
        if job.training_seconds
        else Notice(
            f"{instance_type}: training job {job.job_name} completed on AWS",
            "proof.aws_job_untimed",
            {"instance_type": instance_type, "job": job.job_name},
        ),
    }


def _described(source: str, fetched: str, description: str) -> str:
    text = f"{source}, {fetched}" if fetched else source
    return f"{text}: {description}" if description else text


def gather(
    settings: Settings,
    *,
    offline: bool = False,
    requirement: Requirement | None = None,
    price_book: pricing.PriceBook | None = None,
    quota_table: quotas.QuotaTable | None = None,
) -> Evidence:
    """All the evidence for ``settings.region``: on local or offline the snapshot and sample quotas."""
    requirement = requirement or current_requirement(settings)
    book = price_book or _price_book(settings, offline)
    table = quota_table or _quota_table(settings, offline)
    specs = load_specs()
    types = training_instance_types()
    decisions = {
        spot: decide([_judge(t, spot, requirement, specs, book, table) for t in types], requirement, spot)
        for spot in (False, True)
    }
    proofs = {
        chosen: proof
        for chosen in {d.chosen for d in decisions.values() if d.chosen}
        if (proof := find_proof(settings, chosen)) is not None
    }
    return Evidence(
        proofs=proofs,
        region=settings.region,
        generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        requirement=requirement,
        price_source=_described(book.source, book.fetched, book.description),
        quota_source=_described(table.source, table.fetched, table.description),
        candidates_source=f"{botocore_source()} ({len(types)} types)",
        on_demand=decisions[False],
        spot=decisions[True],
        warnings=[*book.warnings, *table.warnings],
    )


def _cell(value: float | int | None, fmt: str = "g") -> str:
    return "—" if value is None else format(value, fmt)


def to_markdown(evidence: Evidence, spot: bool = False, show_all: bool = False) -> str:
    """The decision as markdown: rationale, sources, and a table (priced types; all with ``show_all``)."""
    decision = evidence.decision(spot)
    need = evidence.requirement
    lines = [
        f"## Training instance for {evidence.region} ({decision.purchase})",
        "",
        f"**Choice:** {decision.chosen or 'none passes every check'}",
        "",
        decision.rationale,
        "",
        f"- Requirement: {need.min_vcpu} vCPU, {need.min_memory_gib:g} GiB — "
        f"{need.basis} ({need.source}, {need.measured_at or 'n/a'})",
        f"- Candidates: {evidence.candidates_source}",
        f"- Prices: {evidence.price_source}",
        f"- Quotas: {evidence.quota_source}",
    ]
    steps = funnel(evidence, spot)
    lines.append("- Funnel: " + " → ".join(f"{_FUNNEL_WORDS[step.key]} {step.count}" for step in steps))
    lines += [f"- Warning: {w}" for w in evidence.warnings]
    if decision.chosen:
        proof = evidence.proofs.get(decision.chosen)
        lines.append(f"- Proof: {proof['summary'] if proof else 'none yet (`titanic-sm probe` runs one)'}")
    rows = [c for c in decision.candidates if show_all or c.usd_per_hour is not None]
    lines += [
        "",
        "| type | vCPU | GiB | GPUs | $/h | quota (applied / default) | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        quota = (
            f"{_cell(row.quota_applied)} / {_cell(row.quota_default)}"
            if row.quota_code
            else row.quota_source or "unknown"
        )
        verdict = (
            "**chosen**"
            if row.instance_type == decision.chosen
            else ("eligible" if row.eligible else "excluded: " + "; ".join(row.exclusions))
        )
        lines.append(
            f"| {row.instance_type} | {_cell(row.vcpu)} | {_cell(row.memory_gib)} | {_cell(row.gpus)} | "
            f"{_cell(row.usd_per_hour)} | {quota} | {verdict} |"
        )
    hidden = len(decision.candidates) - len(rows)
    if hidden:
        lines += [
            "",
            f"{hidden} more types have no price here and are excluded for that; `--all` lists them.",
        ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class InstanceChoice:
    """The instance a job runs on, as recorded with the job."""

    instance_type: str
    purchase: str
    region: str
    recommended: str | None
    passed: bool
    failed_checks: tuple[str, ...]
    override_reason: str | None
    usd_per_hour: float | None
    price_source: str
    quota: float | None
    quota_source: str
    decided_at: str


def check_choice(
    evidence: Evidence, instance_type: str, override_reason: str | None = None, *, spot: bool = False
) -> InstanceChoice:
    """Record ``instance_type`` as the job's instance, if it passes the checks or an override says why.

    Raises InstanceChoiceError for a type SageMaker does not train on, or for one that fails a
    check when no (non-blank) override reason is given.
    """
    decision = evidence.decision(spot)
    row = decision.candidate(instance_type)
    if row is None:
        raise InstanceChoiceError(
            f"{instance_type!r} is not a SageMaker training instance type ({botocore_source()})",
            code="instance.unknown_type",
            values={"instance_type": instance_type, "source": botocore_source()},
        )
    reason = (override_reason or "").strip() or None
    if not row.eligible and reason is None:
        raise InstanceChoiceError(
            f"{instance_type} fails the instance checks ({'; '.join(row.exclusions)}); "
            "give an override reason to use it anyway",
            code="instance.fails_checks",
            values={"instance_type": instance_type, "checks": "; ".join(row.exclusions)},
            hint="choose an eligible type, or give an override reason (recorded with the job)",
        )
    return InstanceChoice(
        instance_type=instance_type,
        purchase=decision.purchase,
        region=evidence.region,
        recommended=decision.chosen,
        passed=row.eligible,
        failed_checks=tuple(row.exclusions),
        override_reason=None if row.eligible else reason,  # a passing type overrides nothing
        usd_per_hour=row.usd_per_hour,
        price_source=f"{row.price_source}, {row.price_fetched}" if row.price_source else "no price",
        quota=row.quota,
        quota_source=row.quota_source,
        decided_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )


@dataclass(frozen=True)
class CapacityCheck:
    """A measuring probe run, the requirement it sets, and the proof run on the chosen type's limits."""

    measured: ProbeResult
    requirement: Requirement | None
    proved_type: str | None
    proof: ProbeResult | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "measured": self.measured.to_dict(),
            "requirement": self.requirement.to_dict() if self.requirement else None,
            "proved_type": self.proved_type,
            "proof": self.proof.to_dict() if self.proof else None,
        }


def _spec_for_proof(instance_type: str) -> Spec:
    if instance_type not in training_instance_types():
        raise InstanceChoiceError(
            f"{instance_type!r} is not a SageMaker training instance type ({botocore_source()})",
            code="instance.unknown_type",
            values={"instance_type": instance_type, "source": botocore_source()},
        )
    spec = load_specs().get(instance_type)
    if spec is None:
        raise InstanceChoiceError(
            f"{instance_type} has no vCPU/memory figures in the spec table; it cannot be proved",
            code="instance.no_specs",
            values={"instance_type": instance_type},
        )
    return spec


def capacity_check(
    settings: Settings,
    image: str,
    train_csv: Path,
    validation_csv: Path | None = None,
    *,
    cpus: float = 1.0,
    memory_bytes: int = 2 * 2**30,
    instance_type: str | None = None,
    prove: bool = True,
    offline: bool = False,
) -> CapacityCheck:
    """Measure the job under generous limits, derive the requirement, then prove the chosen type.

    The proof runs the same probe with ``instance_type``'s vCPU and memory as the limits (by
    default the recommended type for ``settings.use_spot``). Both runs are kept in the state dir.
    """
    if instance_type is not None and prove:
        _spec_for_proof(instance_type)  # a type that cannot be proved fails before any run
    measured = capacity.run_probe(image, train_csv, validation_csv, cpus=cpus, memory_bytes=memory_bytes)
    if not measured.completed:
        return CapacityCheck(measured, None, None, None)
    capacity.save_result(settings, measured)
    requirement = requirement_from_probe(measured)
    if not prove:
        return CapacityCheck(measured, requirement, None, None)
    target = instance_type
    if target is None:
        evidence = gather(settings, offline=offline, requirement=requirement)
        target = evidence.decision(settings.use_spot).chosen
        if target is None:
            return CapacityCheck(measured, requirement, None, None)
    spec = _spec_for_proof(target)
    proof = capacity.run_probe(
        image,
        train_csv,
        validation_csv,
        cpus=float(spec.vcpu),
        memory_bytes=int(spec.memory_gib * 2**30),
        instance_type=target,
    )
    capacity.save_proof(settings, proof)
    return CapacityCheck(measured, requirement, target, proof)

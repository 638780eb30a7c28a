"""2 · Instance: the smallest training instance that fits, shown as the decision's funnel, a
price-against-memory chart with the need and the choice marked, five short reasons with their
sources, and the exclusions filterable by reason."""

from __future__ import annotations

import charts
import pandas as pd
import streamlit as st
from ui import (
    LAUNCH_INSTANCE_KEY,
    LAUNCH_OVERRIDE_KEY,
    LAUNCH_SPOT_KEY,
    code,
    current_language,
    flash,
    instance_evidence,
    page_setup,
    plain,
    service_line,
    show_flash,
    show_refusal,
    t,
)

from services.instance import instances

settings = page_setup("nav.instance")
st.title(t("instance.title"))


def reason_label(code_name: str) -> str:
    return plain(f"instance.reason_{code_name}")


def purchase_label(purchase: str) -> str:
    """ "on-demand" or "spot" in the page's language."""
    return plain(f"instance.purchase_{purchase.replace('-', '_')}")


def verdict_words(row: instances.Candidate) -> str:
    """ "eligible", or each reason that excludes the type, in the page's language."""
    if row.eligible:
        return plain("instance.eligible")
    return "; ".join(reason_label(code_name) for code_name in row.exclusion_codes)


def fit_words(row: instances.Candidate) -> str:
    if row.vcpu is None or row.memory_gib is None:
        return plain("instance.specs_unknown")
    too_small = instances.EXCLUSION_CODES[instances.DOES_NOT_FIT] in row.exclusion_codes
    return plain("instance.too_small") if too_small else plain("instance.fits")


def evidence_table(evidence: instances.Evidence, spot: bool, show_all: bool) -> pd.DataFrame:
    on_demand = {c.instance_type: c for c in evidence.on_demand.candidates}
    spot_rows = {c.instance_type: c for c in evidence.spot.candidates}
    decision = evidence.decision(spot)
    rows = []
    for row in decision.candidates:
        od, sp = on_demand[row.instance_type], spot_rows[row.instance_type]
        if not show_all and od.usd_per_hour is None and sp.usd_per_hour is None:
            continue
        rows.append(
            {
                "recommended": "★" if row.instance_type == decision.chosen else "",
                "instance": row.instance_type,
                "vCPU": row.vcpu,
                "memory GiB": row.memory_gib,
                "fit": fit_words(row),
                "on-demand $/h": od.usd_per_hour,
                "spot $/h": sp.usd_per_hour,
                "on-demand quota": od.quota,
                "spot quota": sp.quota,
                "verdict": verdict_words(row),
            }
        )
    return pd.DataFrame(rows)


def highlight_recommended(row: pd.Series) -> list[str]:
    style = "background-color: rgba(46, 160, 67, 0.25); font-weight: bold" if row["recommended"] else ""
    return [style] * len(row)


def rationale_line(item: instances.RationaleItem) -> str:
    """One of the five reasons, one short line in the page's language (its source goes below)."""
    values = item.values
    if item.key == "need":
        line = t("instance.why_need", vcpu=values["min_vcpu"], gib=values["min_memory_gib"])
    elif decision.chosen is None:
        line = t("instance.why_none", purchase=purchase_label(decision.purchase))
    elif item.key == "fit":
        line = t(
            "instance.why_fit",
            instance=code(values["instance_type"]),
            vcpu=values["vcpu"],
            gib=values["memory_gib"],
            need_vcpu=values["min_vcpu"],
            need_gib=values["min_memory_gib"],
        )
    elif item.key == "quota":
        line = (
            t(
                "instance.why_quota",
                purchase=purchase_label(values["purchase"]),
                quota=values["quota"],
                code=values["quota_code"] or "?",
            )
            if item.ok
            else t("instance.why_quota_unknown", purchase=purchase_label(values["purchase"]))
        )
    elif item.key == "price":
        line = t("instance.why_price", price=values["usd_per_hour"], count=values["eligible_count"])
    elif values.get("completed"):
        line = t("instance.why_proof", summary=service_line(values.get("summary") or ""))
    elif values.get("kind"):
        line = t("instance.why_proof_failed", summary=service_line(values.get("summary") or ""))
    else:
        line = t("instance.why_no_proof")
    return t("instance.mark_ok" if item.ok else "instance.mark_unverified", line=line)


spot = st.toggle(t("instance.spot"), value=settings.use_spot, key="instance_spot")
evidence: instances.Evidence | None = instance_evidence(settings, t("instance.gathering"))
if evidence is None:
    st.stop()
decision = evidence.decision(spot)
view = instances.decision_view(evidence, spot)

if decision.chosen:
    st.success(
        t("instance.recommended", purchase=purchase_label(decision.purchase), instance=decision.chosen)
    )
else:
    st.warning(t("instance.none_passes", purchase=purchase_label(decision.purchase)))
for warning in evidence.warnings:
    st.warning(t("common.as_is", message=service_line(warning)))

# -- five short reasons, each with its source and date -------------------------------------------
st.subheader(t("instance.why_heading"))
for item in view.rationale:
    if item.key == "proof" and not item.ok and item.values.get("kind"):
        st.warning(rationale_line(item))  # a probe that did not complete is a warning, not a proof
    else:
        st.markdown(rationale_line(item))
    if item.date and item.date not in item.source:
        st.caption(
            t("instance.source_date", source=item.source or plain("instance.no_source"), date=item.date)
        )
    else:
        st.caption(t("instance.source_only", source=item.source or plain("instance.no_source")))
with st.expander(t("instance.long_text")):
    st.markdown(t("common.as_is", message=instances.rationale_text(decision, current_language())))
    requirement = evidence.requirement
    st.markdown(
        t(
            "instance.sources",
            vcpu=requirement.min_vcpu,
            gib=requirement.min_memory_gib,
            basis=service_line(requirement.basis),
            source=requirement.source,
            measured=requirement.measured_at or plain("instance.not_measured"),
            candidates=evidence.candidates_source,
            prices=evidence.price_source,
            quotas=evidence.quota_source,
            gathered=evidence.generated_at,
        )
    )

# -- the funnel and the chart ---------------------------------------------------------------------
funnel_col, chart_col = st.columns(2)
steps = [(plain(f"instance.step_{step.key}"), step.count) for step in view.funnel]
funnel_col.plotly_chart(charts.instance_funnel(steps, plain), key="funnel_chart")
points = pd.DataFrame(
    [
        {
            "instance_type": point.instance_type,
            "memory_gib": point.memory_gib,
            "price_per_hour": point.usd_per_hour,
            "verdict": plain("instance.eligible") if point.eligible else reason_label(point.codes[0]),
        }
        for point in view.chart
    ]
)
if not points.empty:
    chart_col.plotly_chart(
        charts.price_vs_memory(
            points,
            plain,
            need_gib=view.requirement.min_memory_gib,
            chosen=view.chosen,
            purchase=purchase_label(decision.purchase),
        ),
        key="price_chart",
    )
funnel_table = pd.DataFrame(
    [
        {
            "step": plain(f"instance.step_{step.key}"),
            "left": step.count,
            "removed": len(step.removed),
            "why": "; ".join(f"{reason_label(name)} ({count})" for name, count in step.reasons.items()),
            "source": step.source,
        }
        for step in view.funnel
    ]
)
st.dataframe(
    funnel_table,
    hide_index=True,
    key="funnel_table",
    column_config={
        name: st.column_config.Column(plain(f"instance.funnel_col_{name}"))
        for name in ("step", "left", "removed", "why", "source")
    },
)

# -- the exclusions, filterable by reason -----------------------------------------------------------
st.subheader(t("instance.exclusions_heading"))
reasons = list(view.reason_counts)
picked_reasons = st.multiselect(
    t("instance.filter_reason"),
    reasons,
    format_func={
        name: plain("instance.reason_count", reason=reason_label(name), count=count)
        for name, count in view.reason_counts.items()
    }.__getitem__,
    key="exclusion_reasons",
    placeholder=plain("instance.all_reasons"),
)
excluded = instances.exclusion_rows(evidence, spot, picked_reasons or None)
st.dataframe(
    pd.DataFrame(
        [
            {
                "instance": row.instance_type,
                "reasons": "; ".join(reason_label(name) for name in row.codes),
                "details": "; ".join(service_line(reason) for reason in row.reasons),
                "vCPU": row.vcpu,
                "memory GiB": row.memory_gib,
                "$/h": row.usd_per_hour,
            }
            for row in excluded
        ],
        columns=["instance", "reasons", "details", "vCPU", "memory GiB", "$/h"],
    ),
    hide_index=True,
    key="exclusions_table",
    column_config={
        "instance": st.column_config.TextColumn(plain("instance.col_instance")),
        "reasons": st.column_config.TextColumn(plain("instance.col_reasons")),
        "details": st.column_config.TextColumn(plain("instance.col_details")),
        "memory GiB": st.column_config.NumberColumn(plain("instance.col_memory"), format="%.1f"),
        "$/h": st.column_config.NumberColumn(plain("instance.col_price"), format="$%.4f"),
    },
)
st.caption(t("instance.exclusions_count", shown=len(excluded), total=len(view.exclusions)))

with st.expander(t("instance.all_types")):
    show_all = st.checkbox(t("instance.show_all"), key="instance_show_all")
    table = evidence_table(evidence, spot, show_all)
    st.dataframe(
        table.style.apply(highlight_recommended, axis=1),
        hide_index=True,
        key="instance_table",
        column_config={
            "recommended": st.column_config.TextColumn(plain("instance.col_recommended")),
            "instance": st.column_config.TextColumn(plain("instance.col_instance")),
            "vCPU": st.column_config.NumberColumn(format="%d"),
            "memory GiB": st.column_config.NumberColumn(plain("instance.col_memory"), format="%.1f"),
            "fit": st.column_config.TextColumn(plain("instance.col_fit")),
            "on-demand quota": st.column_config.NumberColumn(plain("instance.col_od_quota"), format="%d"),
            "spot quota": st.column_config.NumberColumn(plain("instance.col_spot_quota"), format="%d"),
            "on-demand $/h": st.column_config.NumberColumn(plain("instance.col_od_price"), format="$%.4f"),
            "spot $/h": st.column_config.NumberColumn(plain("instance.col_spot_price"), format="$%.4f"),
            "verdict": st.column_config.TextColumn(plain("instance.col_verdict")),
        },
    )

# -- the choice for the next launch ------------------------------------------------------------------
st.subheader(t("instance.use_heading"))
choices = [c.instance_type for c in decision.candidates]
default = st.session_state.get(LAUNCH_INSTANCE_KEY) or decision.chosen or settings.instance_type
pick_col, reason_col = st.columns([1, 2])
picked = pick_col.selectbox(
    t("instance.pick"),
    choices,
    index=choices.index(default) if default in choices else 0,
    key="instance_pick",
)
reason = reason_col.text_input(t("instance.override_reason"), key="instance_override_reason")
if st.button(t("instance.use"), type="primary", key="use_instance"):
    try:
        choice = instances.check_choice(evidence, picked, reason or None, spot=spot)
    except instances.InstanceChoiceError as exc:
        show_refusal(exc)
    else:
        st.session_state[LAUNCH_INSTANCE_KEY] = choice.instance_type
        st.session_state[LAUNCH_OVERRIDE_KEY] = choice.override_reason
        st.session_state[LAUNCH_SPOT_KEY] = spot
        flash(
            "instance",
            t(
                "instance.next_launch",
                instance=choice.instance_type,
                purchase=purchase_label(choice.purchase),
                override=t("instance.override_recorded", reason=choice.override_reason)
                if choice.override_reason
                else "",
            ),
        )
        st.rerun()
show_flash("instance")

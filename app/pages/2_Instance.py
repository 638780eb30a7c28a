"""2 · Instance: the smallest training instance that fits, with its evidence and sources."""

from __future__ import annotations

import charts
import pandas as pd
import streamlit as st
from ui import (
    LAUNCH_INSTANCE_KEY,
    LAUNCH_OVERRIDE_KEY,
    LAUNCH_SPOT_KEY,
    flash,
    instance_evidence,
    one_line,
    page_setup,
    show_flash,
)

from services import instances

settings = page_setup("Instance")
st.title("2 · Instance")


def quota_state(quota: float | None) -> str:
    if quota is None:
        return "quota unknown"
    return "quota ≥ 1" if quota >= 1 else "quota 0"


def fit_words(row: instances.Candidate) -> str:
    if row.vcpu is None or row.memory_gib is None:
        return "specs unknown"
    return "too small" if any(e.startswith(instances.DOES_NOT_FIT) for e in row.exclusions) else "fits"


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
                "verdict": "eligible" if row.eligible else "; ".join(row.exclusions),
            }
        )
    return pd.DataFrame(rows)


def highlight_recommended(row: pd.Series) -> list[str]:
    style = "background-color: rgba(46, 160, 67, 0.25); font-weight: bold" if row["recommended"] else ""
    return [style] * len(row)


spot = st.toggle("Spot training", value=settings.use_spot, key="instance_spot")
evidence: instances.Evidence | None = instance_evidence(settings, "Gathering the instance evidence")
if evidence is None:
    st.stop()
decision = evidence.decision(spot)

if decision.chosen:
    st.success(f"Recommended ({decision.purchase}): **{decision.chosen}**")
else:
    st.warning(f"No {decision.purchase} instance passes every check.")
st.markdown(decision.rationale)
requirement = evidence.requirement
st.markdown(
    "**Sources**\n"
    f"- requirement: {requirement.min_vcpu} vCPU, {requirement.min_memory_gib:g} GiB: {requirement.basis} "
    f"({requirement.source}, {requirement.measured_at or 'not measured'})\n"
    f"- candidates: {evidence.candidates_source}\n"
    f"- prices: {evidence.price_source}\n"
    f"- quotas: {evidence.quota_source}\n"
    f"- gathered: {evidence.generated_at}"
)
for warning in evidence.warnings:
    st.warning(warning)
proof = evidence.proofs.get(decision.chosen) if decision.chosen else None
if proof and proof.get("completed"):
    st.info(f"Proof it completes on {decision.chosen}: {proof.get('summary', proof)}")
elif proof:
    st.warning(f"The probe on {decision.chosen}'s limits did not complete: {proof.get('summary', proof)}")
elif decision.chosen:
    st.caption(f"No capacity probe has run on {decision.chosen}'s limits yet (`titanic-sm probe` runs one).")

show_all = st.checkbox("Show types without a price too", key="instance_show_all")
table = evidence_table(evidence, spot, show_all)
st.dataframe(
    table.style.apply(highlight_recommended, axis=1),
    hide_index=True,
    key="instance_table",
    column_config={
        "vCPU": st.column_config.NumberColumn(format="%d"),
        "memory GiB": st.column_config.NumberColumn(format="%.1f"),
        "on-demand quota": st.column_config.NumberColumn(format="%d"),
        "spot quota": st.column_config.NumberColumn(format="%d"),
        "on-demand $/h": st.column_config.NumberColumn(format="$%.4f"),
        "spot $/h": st.column_config.NumberColumn(format="$%.4f"),
    },
)
priced = [c for c in decision.candidates if c.usd_per_hour is not None and c.memory_gib is not None]
if priced:
    chart_rows = pd.DataFrame(
        {
            "instance_type": [c.instance_type for c in priced],
            "memory_gib": [c.memory_gib for c in priced],
            "price_per_hour": [c.usd_per_hour for c in priced],
            "quota": [quota_state(c.quota) for c in priced],
        }
    )
    st.plotly_chart(charts.price_vs_memory(chart_rows, purchase=decision.purchase), key="price_chart")

st.subheader("Use an instance for the next launch")
choices = [c.instance_type for c in decision.candidates]
default = st.session_state.get(LAUNCH_INSTANCE_KEY) or decision.chosen or settings.instance_type
pick_col, reason_col = st.columns([1, 2])
picked = pick_col.selectbox(
    "Instance type", choices, index=choices.index(default) if default in choices else 0, key="instance_pick"
)
reason = reason_col.text_input(
    "Override reason (needed only for a type that fails a check)", key="instance_override_reason"
)
if st.button("Use this instance", type="primary", key="use_instance"):
    try:
        choice = instances.check_choice(evidence, picked, reason or None, spot=spot)
    except instances.InstanceChoiceError as exc:
        st.error(one_line(exc))
    else:
        st.session_state[LAUNCH_INSTANCE_KEY] = choice.instance_type
        st.session_state[LAUNCH_OVERRIDE_KEY] = choice.override_reason
        st.session_state[LAUNCH_SPOT_KEY] = spot
        flash(
            "instance",
            f"Next launch uses {choice.instance_type} ({choice.purchase})"
            + (f", override recorded: {choice.override_reason}" if choice.override_reason else ""),
        )
        st.rerun()
show_flash("instance")

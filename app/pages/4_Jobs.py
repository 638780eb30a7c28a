"""4 · Jobs: the history from the job store, one job's detail and metrics, and a comparison."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import charts
import job_views
import pandas as pd
import streamlit as st
from ui import WATCH_JOB_KEY, action, page_setup

from services import aws, worker
from services.jobs import STATUSES, Job, JobStore, as_summary, reconcile_with_aws

LOG_TAIL_LINES = 60

settings = page_setup("Jobs")
st.title("4 · Jobs")
store = JobStore(settings.job_store_path)


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def phases(job: Job) -> list[tuple[str, datetime, datetime]]:
    """Each status (with its secondary status) from its transition to the next one, or to now."""
    marks = list(job.transitions)
    ends = [t.at for t in marks[1:]] + [marks[-1].at if not job.is_active else datetime.now(UTC).timestamp()]
    return [
        (
            t.status
            + (f" · {t.secondary_status}" if t.secondary_status and t.secondary_status != t.status else ""),
            datetime.fromtimestamp(t.at, UTC),
            datetime.fromtimestamp(max(end, t.at + 0.05), UTC),  # keep instant steps visible
        )
        for t, end in zip(marks, ends, strict=True)
    ]


def metrics_of(job: Job) -> tuple[dict[str, Any], bytes] | None:
    if not job.artifact_uri:
        return None
    return action(f"Reading {job.artifact_uri}", job_views.artifact_files, settings, job.artifact_uri)


if not settings.is_local:
    # On aws the store is brought up to date from SageMaker (list_training_jobs) before it is shown.
    # The client is made inside the action: a bad profile is one line, not a traceback.
    action("Reconciling with SageMaker", lambda: reconcile_with_aws(store, aws.client(settings, "sagemaker")))

filter_status, filter_target = st.columns(2)
statuses = filter_status.multiselect("Status", STATUSES, key="filter_status")
targets = filter_target.multiselect("Target", ["local", "aws"], key="filter_target")
jobs = action("Reading the job store", store.list, statuses=statuses or None, targets=targets or None) or []

if not jobs:
    st.info("No jobs yet: launch one on the Train page." if not (statuses or targets) else "No job matches.")
    st.stop()

history = pd.DataFrame([as_summary(job) for job in jobs]).drop(columns=["id"])
st.dataframe(
    history,
    hide_index=True,
    key="history",
    column_config={
        "accuracy": st.column_config.NumberColumn(format="%.3f"),
        "auc": st.column_config.NumberColumn("AUC", format="%.3f"),
        "cost": st.column_config.NumberColumn("cost ($)", format="%.5f"),
        "duration_s": st.column_config.NumberColumn("duration (s)", format="%.1f"),
    },
)

names = [job.job_name for job in jobs]
by_name = {job.job_name: job for job in jobs}
default = st.session_state.get("last_job_name")
chosen = st.selectbox(
    "Job", names, index=names.index(default) if default in names else 0, key="job_detail_choice"
)
job = by_name[chosen]
detail, compare = st.tabs(["Detail", "Compare"])

with detail:
    st.subheader(
        f"{job.job_name} · {job.status}"
        + (f" ({job.secondary_status})" if job.secondary_status not in (None, job.status) else "")
    )
    if job.status == "Failed":
        st.error(f"Failure reason: {job.failure_reason or 'not recorded'}")
    restartable = job.status in ("Failed", "Stopped") and bool(job.request.get("launch"))
    if restartable and st.button("Launch again with the same request", key="restart_job"):
        new_id = action("Launching again", worker.restart, settings, job.id)
        if new_id is not None:
            st.session_state[WATCH_JOB_KEY] = new_id
            st.switch_page("pages/3_Train.py")
    if job.is_active:
        st.page_link("pages/3_Train.py", label=f"{job.job_name} is running: watch it live on the Train page")
    if job.transitions:
        st.plotly_chart(charts.status_timeline(phases(job)), key="timeline_chart")
    left, right = st.columns(2)
    with left:
        st.markdown("**Transitions**")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "at": when(t.at),
                        "status": t.status,
                        "secondary": t.secondary_status or "",
                        "message": t.message or "",
                    }
                    for t in job.transitions
                ]
            ),
            hide_index=True,
            key="timeline",
        )
        st.markdown("**Hyperparameters**")
        st.json(job.hyperparameters or {}, expanded=False)
    with right:
        cost = job.actual_cost if job.actual_cost is not None else job.estimated_cost
        cost_kind = "actual" if job.actual_cost is not None else "estimated"
        st.markdown(
            f"- target: `{job.target}` · instance: `{job.instance_type or '?'}`"
            + (f" (override: {job.instance_reason})" if job.instance_reason else "")
            + f"\n- spot: {'yes' if job.use_spot else 'no'}"
            + (f" · savings {job.spot_savings:.0%}" if job.spot_savings is not None else "")
            + f"\n- cost ({cost_kind}): {'—' if cost is None else f'${cost:.4f}'}"
            + f"\n- dataset version: `{job.dataset_version or '?'}`"
            + f"\n- image: `{job.image_uri or '?'}`"
            + f"\n- artifact: `{job.artifact_uri or 'not yet'}`"
            + "".join(f"\n- channel {name}: `{uri}`" for name, uri in job.channels.items())
        )
    if job.status == "Failed" or st.toggle("Show the log tail", key="show_log_tail"):
        from services import logs

        page = action("Reading the job's logs", logs.read_events, settings, job.job_name)
        if page is not None:
            tail = [event.message for event in page.events[-LOG_TAIL_LINES:]]
            st.code("\n".join(tail) or "(no log lines)", language=None)

    found = metrics_of(job) if job.status == "Completed" else None
    if found is not None:
        metrics, tarball = found
        job_views.render_metrics(metrics, key="detail")
        down_model, down_metrics = st.columns(2)
        down_model.download_button(
            "Download model.tar.gz", tarball, file_name=f"{job.job_name}-model.tar.gz", key="download_model"
        )
        down_metrics.download_button(
            "Download metrics.json",
            job_views.metrics_json_bytes(metrics),
            file_name=f"{job.job_name}-metrics.json",
            mime="application/json",
            key="download_metrics",
        )
        job_views.render_submission_download(settings, job.id)

with compare:
    # All completed jobs, whatever the history filters, so the picked pair stays put.
    all_completed = action("Reading the job store", store.list, statuses=["Completed"], reap=False) or []
    completed_jobs = {j.job_name: j for j in all_completed if j.artifact_uri}
    completed = list(completed_jobs)
    picked = st.multiselect(
        "Two jobs to compare", completed, default=completed[:2], max_selections=2, key="compare_jobs"
    )
    if len(picked) == 2:
        loaded = {name: metrics_of(completed_jobs[name]) for name in picked}
        if all(found is not None for found in loaded.values()):
            job_views.render_comparison(
                {name: found[0] for name, found in loaded.items() if found}, key="compare"
            )
    else:
        st.caption("Pick two completed jobs.")

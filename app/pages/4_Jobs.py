"""4 · Jobs: the history (filtered and paged in SQL), where the jobs' time went, one job's detail
and metrics, and a comparison of any number of jobs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import charts
import job_views
import pandas as pd
import streamlit as st
from ui import (
    WATCH_JOB_KEY,
    action,
    code,
    failure_line,
    page_setup,
    plain,
    t,
    untrusted_block,
)

from services.jobs import detail as job_detail
from services.jobs.store import STATUSES, Job, JobPage, JobStore, as_summary
from services.jobs.sync import current_jobs, sync
from services.messages import catalogue
from services.training import launch

LOG_TAIL_LINES = 60
PAGE_SIZES = (25, 50, 100, 200)
COMPARE_CHOICES = 200  # the newest completed jobs offered for comparison
POLL_SECONDS = 2.0
# The jobs this session saw running: when one ends, a toast says so (once).
WATCHED_KEY = "jobs_watched_active"

settings = page_setup("nav.jobs")
st.title(t("jobs.title"))
store = JobStore(settings.job_store_path)


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def phases(job: Job) -> list[tuple[str, datetime, datetime]]:
    """Each status (with its secondary status) from its transition to the next one, or to now."""
    marks = list(job.transitions)
    ends = [m.at for m in marks[1:]] + [marks[-1].at if not job.is_active else datetime.now(UTC).timestamp()]
    return [
        (
            mark.status
            + (
                f" · {mark.secondary_status}"
                if mark.secondary_status and mark.secondary_status != mark.status
                else ""
            ),
            datetime.fromtimestamp(mark.at, UTC),
            datetime.fromtimestamp(max(end, mark.at + 0.05), UTC),  # keep instant steps visible
        )
        for mark, end in zip(marks, ends, strict=True)
    ]


def metrics_of(job: Job, say_where: bool = False) -> tuple[dict[str, Any], bytes] | None:
    """metrics.json and model.tar.gz from S3, or from runs/<job>/ when S3 cannot give them (the
    local stack is down, or its objects are gone); ``say_where`` adds the one line saying so."""
    if not job.artifact_uri:
        return None
    found = action(
        t("jobs.reading_artifact", uri=job.artifact_uri),
        job_detail.finished_job_files,
        settings,
        job,
        job_views.artifact_files,
    )
    if found is None:
        return None
    if say_where and found.local_copy is not None:
        why = found.why or ""
        st.info(
            t("jobs.from_runs_stack_down", path=code(str(found.local_copy)))
            if why == "stack-down"
            else t("jobs.from_runs_s3", path=code(str(found.local_copy)), cause=plain_cause(why))
        )
    return found.metrics, found.tarball


def plain_cause(why: str) -> str:
    return code(why.removeprefix("s3: "))


def announce_ended(jobs: list[Job]) -> None:
    """A toast for each job this session watched running that has since ended."""
    watched: dict[str, str] = st.session_state.setdefault(WATCHED_KEY, {})
    for job in jobs:
        if job.is_active:
            watched[job.id] = job.job_name
        elif job.id in watched:
            watched.pop(job.id)
            st.toast(t("jobs.ended_toast", name=job.job_name, status=job.status), icon="🏁")


# The store brought up to date with the training API (SageMaker, or the local control plane) before
# it is shown: a dead worker's job is adopted, or ended with the reason. On aws the client is made
# first, inside the action: a bad profile is one line, not a traceback.
action(t("jobs.reconciling"), sync, settings, store)

# -- the history: filtered, counted and paged in SQL ------------------------------------------------
filter_status, filter_target, filter_text, filter_size = st.columns([2, 1, 2, 1])
statuses = filter_status.multiselect(
    t("jobs.filter_status"), STATUSES, key="filter_status", placeholder=plain("common.choose")
)
targets = filter_target.multiselect(
    t("jobs.filter_target"), ["local", "aws"], key="filter_target", placeholder=plain("common.choose")
)
search = filter_text.text_input(
    t("jobs.filter_text"), key="filter_text", placeholder=plain("jobs.filter_hint")
)
page_size = int(filter_size.selectbox(t("jobs.page_size"), PAGE_SIZES, index=1, key="page_size"))
page_number = int(st.session_state.get("page_number", 1))
found: JobPage | None = action(
    t("common.reading_store"),
    store.page,
    statuses=statuses or None,
    targets=targets or None,
    text=search or None,
    offset=(max(page_number, 1) - 1) * page_size,
    limit=page_size,
)
jobs = found.jobs if found is not None else []

if not jobs:
    filtered = bool(statuses or targets or search)
    st.info(t("jobs.no_match") if filtered else t("jobs.no_jobs"))
    st.stop()
assert found is not None
announce_ended(jobs)

history = pd.DataFrame([as_summary(job) for job in jobs]).drop(columns=["id"])
history_labels = {
    column: st.column_config.TextColumn(plain(f"jobs.col_{column}"))
    for column in history.columns
    if f"jobs.col_{column}" in catalogue()
}
st.dataframe(
    history,
    hide_index=True,
    key="history",
    column_config={
        **history_labels,
        "accuracy": st.column_config.NumberColumn(plain("jobs.col_accuracy"), format="%.3f"),
        "auc": st.column_config.NumberColumn(plain("jobs.col_auc"), format="%.3f"),
        "cost": st.column_config.NumberColumn(plain("jobs.col_cost"), format="%.5f"),
        "duration_s": st.column_config.NumberColumn(plain("jobs.col_duration_s"), format="%.1f"),
    },
)
pager, page_caption = st.columns([1, 4])
# The page the store actually served (an offset past the end gives the last page).
st.session_state["page_number"] = found.page_number
pager.number_input(t("jobs.page"), min_value=1, max_value=found.page_count, step=1, key="page_number")
page_caption.caption(
    t("jobs.page_of", page=found.page_number, pages=found.page_count, total=found.total, shown=len(jobs))
)

# Where each job's time went, across the page shown: a slow launch stands out.
spans = action(t("jobs.reading_phases"), job_detail.phase_history, store, jobs)
if spans:
    bars = pd.DataFrame(
        [
            {"job": span.job_name, "phase": phase, "seconds": seconds}
            for span in reversed(spans)  # oldest on the left
            for phase, seconds in span.seconds.items()
        ]
    )
    if not bars.empty and bars["seconds"].sum() > 0:
        medians = job_detail.phase_medians(spans)
        median_total = sum(value for value in medians.values() if value is not None)
        st.vega_lite_chart(spec=charts.startup_phases(bars, plain, median_total), key="phases_chart")

names = [job.job_name for job in jobs]
by_name = {job.job_name: job for job in jobs}
default = st.session_state.get("last_job_name")
chosen = st.selectbox(
    t("jobs.job"), names, index=names.index(default) if default in names else 0, key="job_detail_choice"
)
job = by_name[chosen]


def show_detail(job: Job) -> None:
    """One job: its status and timeline, facts, hyperparameters, CPU and memory, log tail and metrics."""
    st.subheader(
        t(
            "jobs.detail_heading",
            name=job.job_name,
            status=job.status,
            secondary=(
                t("jobs.secondary", secondary=job.secondary_status)
                if job.secondary_status not in (None, job.status)
                else ""
            ),
        )
    )
    if job.status == "Failed":
        st.error(
            t("common.failure_reason", reason=failure_line(job.failure_reason))
            if job.failure_reason
            else t("common.failure_unrecorded")
        )
    if launch.can_restart(job) and st.button(t("jobs.launch_again"), key="restart_job"):
        new_id = action(t("jobs.launch_again_what"), launch.restart, settings, job.id)
        if new_id is not None:
            st.session_state[WATCH_JOB_KEY] = new_id
            st.switch_page("pages/3_Train.py")
    if job.is_active:
        st.page_link("pages/3_Train.py", label=t("jobs.watch_live", name=job.job_name))
    if job.transitions:
        st.vega_lite_chart(spec=charts.status_timeline(phases(job), plain), key="timeline_chart")
    left, right = st.columns(2)
    with left:
        st.markdown(t("jobs.transitions_heading"))
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "at": when(mark.at),
                        "status": mark.status,
                        "secondary": mark.secondary_status or "",
                        "message": failure_line(mark.message),
                    }
                    for mark in job.transitions
                ]
            ),
            hide_index=True,
            key="timeline",
            column_config={
                name: st.column_config.TextColumn(plain(f"jobs.tr_col_{name}"))
                for name in ("at", "status", "secondary", "message")
            },
        )
    with right:
        cost = job.actual_cost if job.actual_cost is not None else job.estimated_cost
        st.markdown(
            t(
                "jobs.facts",
                target=code(job.target),
                instance=code(job.instance_type or "?"),
                override=t("train.override", reason=job.instance_reason) if job.instance_reason else "",
                spot=t("common.yes") if job.use_spot else t("common.no"),
                savings=(t("jobs.savings", savings=job.spot_savings) if job.spot_savings is not None else ""),
                cost_kind=t("jobs.cost_actual") if job.actual_cost is not None else t("jobs.cost_estimated"),
                cost=plain("common.none") if cost is None else f"${cost:.4f}",
                dataset=code(job.dataset_version or "?"),
                image=code(job.image_uri or "?"),
                artifact=code(job.artifact_uri) if job.artifact_uri else t("jobs.not_yet"),
            )
            + "".join(t("jobs.channel", name=name, uri=code(uri)) for name, uri in job.channels.items())
        )

    if job.training_job:
        job_views.render_training_job(job.training_job, key="training_job")

    st.markdown(t("jobs.hp_heading"))
    effective = action(t("jobs.reading_hp"), job_detail.effective_hyperparameters, job)
    if effective:
        job_views.render_effective_hyperparameters(effective, key="effective_hp")

    if job.status != "Pending":
        st.markdown(t("jobs.resources_heading"))
        series = action(t("jobs.reading_resources"), job_detail.resource_series, settings, job)
        if series is not None:
            job_views.render_resources(series, key="resources_chart")

    if job.status == "Failed" or st.toggle(t("jobs.show_log_tail"), key="show_log_tail"):
        from services.training import logs

        page = action(t("jobs.reading_logs"), logs.read_events, settings, job.job_name)
        if page is not None:
            tail = [event.message for event in page.events[-LOG_TAIL_LINES:]]
            untrusted_block("\n".join(tail), "jobs.no_log_lines")

    found_metrics = metrics_of(job, say_where=True) if job.status == "Completed" else None
    if found_metrics is not None:
        metrics, tarball = found_metrics
        job_views.render_metrics(metrics, key="detail")
        down_model, down_metrics = st.columns(2)
        down_model.download_button(
            t("jobs.download_model"), tarball, file_name=f"{job.job_name}-model.tar.gz", key="download_model"
        )
        down_metrics.download_button(
            t("jobs.download_metrics"),
            job_views.metrics_json_bytes(metrics),
            file_name=f"{job.job_name}-metrics.json",
            mime="application/json",
            key="download_metrics",
        )
        job_views.render_submission_download(settings, job.id)


def show_comparison() -> None:
    """Any number of completed jobs side by side: only what differs, and the parallel-coordinates chart."""
    # The newest completed jobs, whatever the history filters, so the picked ones stay put.
    recent_completed = action(
        t("common.reading_store"), store.page, statuses=["Completed"], limit=COMPARE_CHOICES
    )
    completed_jobs = {j.job_name: j for j in (recent_completed.jobs if recent_completed else [])}
    completed = list(completed_jobs)
    picked = st.multiselect(
        t("jobs.compare_pick"),
        completed,
        default=completed[:2],
        key="compare_jobs",
        placeholder=plain("common.choose"),
    )
    if len(picked) >= 2:
        chosen_jobs = [completed_jobs[name] for name in picked]
        comparison = action(t("jobs.comparing"), job_detail.compare_jobs, chosen_jobs)
        parallel = action(t("jobs.comparing"), job_detail.parallel_coordinates, chosen_jobs)
        loaded = {name: metrics_of(completed_jobs[name]) for name in picked}
        if comparison is not None and parallel is not None:
            job_views.render_comparison(
                comparison,
                parallel,
                {name: item[0] for name, item in loaded.items() if item is not None},
                key="compare",
            )
    else:
        st.caption(t("jobs.compare_hint"))


# Lazy tabs: only the open tab's content runs and reaches the browser (plain st.tabs draws both: the
# comparison's 200-job read, its tables and its WebGL chart were paid on every view of a job).
detail, compare = st.tabs(
    [plain("jobs.tab_detail"), plain("jobs.tab_compare")], key="jobs_tab", on_change="rerun"
)
with detail:
    if detail.open:
        show_detail(job)
with compare:
    if compare.open:
        show_comparison()


# While a job on this page runs, poll: when it ends, a toast says so and the page redraws.
@st.fragment(run_every=POLL_SECONDS if any(j.is_active for j in jobs) else None)
def watch_running() -> None:
    running = [j for j in jobs if j.is_active]
    if not running:
        return
    try:  # a store read; the training API is asked only when a job's worker is gone
        now = current_jobs(settings, [j.id for j in running], store)
    except Exception:  # the next full run shows the cause in one line
        return
    if any(not j.is_active for j in now):
        st.rerun()


watch_running()

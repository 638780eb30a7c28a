"""3 · Train: the image, the hyperparameters, spot and cost; launch a worker, watch it, stop it.

The fit never runs in this script: Launch hands a request to ``services.training.launch.launch``, which
validates it, records the job in the store and starts a detached worker. Everything shown about
the job is read back from the store and CloudWatch Logs, so a refresh or a second tab shows the
same job.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import job_views
import streamlit as st
from ui import (
    LAUNCH_INSTANCE_KEY,
    LAUNCH_OVERRIDE_KEY,
    LAUNCH_SPOT_KEY,
    SELECTED_DATASET_KEY,
    WATCH_JOB_KEY,
    action,
    code,
    error_text,
    failure_line,
    instance_evidence,
    page_setup,
    plain,
    service_line,
    show_refusal,
    t,
    untrusted_block,
)

from container import hyperparameters
from container.contract import MAX_RUNTIME_LIMIT_SECONDS
from container.hyperparameters import SCHEMA, HyperParameter
from services.account import preflight
from services.data import storage
from services.errors import UserError
from services.image import images
from services.instance import cost, instances
from services.jobs.store import Job, JobStore
from services.jobs.sync import running_job, watched_job
from services.messages import catalogue
from services.training import launch, logs, stop

# While a job runs: each poll reads the store and the new CloudWatch lines (two cheap calls; one
# watching tab makes about two GetLogEvents a second), and a log line waits on average half of
# this before it shows (the first one is what a user waits for after Launch).
POLL_SECONDS = 0.5
LOG_LINES_KEPT = 2000
REQUEST_KEY = "launch_request_key"
IMAGE_KEY = "last_image"
LOG_STATE_KEY = "log_state"
ENDED_KEY = "train_watched_ended"
# SageMaker caps MaxRuntimeInSeconds and MaxWaitTimeInSeconds at 28 days.
MAX_SECONDS = MAX_RUNTIME_LIMIT_SECONDS

settings = page_setup("nav.train")
st.title(t("train.title"))
ended = st.session_state.pop(ENDED_KEY, None)
if ended:  # the watched job ended during the last poll: say so once, whatever the page shows
    st.toast(t("jobs.ended_toast", name=ended[0], status=ended[1]), icon="🏁")
store = JobStore(settings.job_store_path)


def hyperparameter_help(spec: HyperParameter) -> str:
    """The schema's help in the page's language (the catalogue's ``hp.<name>``), the container's
    English text where the catalogue has none."""
    key = f"hp.{spec.name}"
    return plain(key) if key in catalogue() else spec.help


def hyperparameter_input(spec: HyperParameter) -> Any:
    """One widget per schema entry: its type, range, default and help come from the container."""
    key = f"hp_{spec.name}"
    help_text = hyperparameter_help(spec)
    if spec.choices is not None:
        index = spec.choices.index(spec.default)
        return st.selectbox(spec.name, spec.choices, index=index, help=help_text, key=key)
    if spec.type is bool:
        return st.checkbox(spec.name, value=bool(spec.default), help=help_text, key=key)
    if spec.type is int:
        return int(
            st.number_input(
                spec.name,
                min_value=int(spec.min) if spec.min is not None else None,
                max_value=int(spec.max) if spec.max is not None else None,
                value=int(spec.default),
                step=1,
                help=help_text,
                key=key,
            )
        )
    if spec.type is float:
        return float(
            st.number_input(
                spec.name,
                min_value=float(spec.min) if spec.min is not None else None,
                max_value=float(spec.max) if spec.max is not None else None,
                value=float(spec.default),
                format="%.4g",
                help=help_text,
                key=key,
            )
        )
    return st.text_input(spec.name, value=str(spec.default), help=help_text, key=key)


@st.cache_data(ttl=60, show_spinner=False)
def launch_cost(
    _settings: Any,
    target: str,
    region: str,
    state_dir: str,
    instance_type: str,
    spot: bool,
    max_run: int,
    max_wait: int | None,
    budget: float | None,
    dataset_version: str | None,
) -> cost.LaunchCost:
    """On aws the price is a paged Price List read: a minute's cache spares one on every rerun."""
    return cost.launch_cost(
        _settings,
        instance_type,
        spot=spot,
        max_run_seconds=max_run,
        max_wait_seconds=max_wait,
        dataset_version=dataset_version,
    )


def form_seconds(name: str, seconds: int) -> int:
    """A settings value as the form's start value: within SageMaker's 1 s to 28 days, or it is said."""
    inside = min(max(seconds, 1), MAX_SECONDS)
    if inside != seconds:
        st.warning(t("train.seconds_outside", name=name, seconds=seconds, limit=MAX_SECONDS, inside=inside))
    return inside


def show_cost(figures: cost.LaunchCost) -> None:
    """Expected and maximum cost side by side, each with its price's source, and the budget."""
    expected_col, maximum_col = st.columns(2)
    expected = figures.expected
    if expected is not None:
        expected_col.metric(t("train.expected_cost"), f"${expected.usd:.4f}")
        expected_col.caption(
            t(
                "train.expected_basis",
                seconds=expected.expected_seconds,
                seconds_source=expected.seconds_source,
                price=expected.usd_per_hour,
                source=expected.price_source,
            )
        )
    else:
        expected_col.metric(t("train.expected_cost"), plain("common.none"))
        expected_col.caption(t("train.unknown_because", cause=figures.expected_unknown))
    ceiling = figures.maximum
    if ceiling is not None:
        maximum_col.metric(t("train.maximum_cost"), f"${ceiling.usd:.2f}")
        maximum_col.caption(
            t(
                "train.maximum_basis",
                basis=code(ceiling.basis),
                seconds=ceiling.seconds,
                price=ceiling.usd_per_hour,
                count=ceiling.instance_count,
                source=ceiling.price_source,
            )
        )
    else:
        maximum_col.metric(t("train.maximum_cost"), plain("common.none"))
        maximum_col.caption(t("train.unknown_because", cause=figures.maximum_unknown))
    if figures.over_budget and ceiling is not None and figures.budget_usd is not None:
        st.warning(t("train.over_budget", maximum=ceiling.usd, budget=figures.budget_usd))


# -- inputs chosen on the other pages ------------------------------------------------------
dataset = st.session_state.get(SELECTED_DATASET_KEY)
if dataset is None:
    versions = action(t("common.listing_versions"), storage.list_dataset_versions, settings) or []
    if versions:
        dataset = {"version": versions[0].version, "channels": versions[0].channels}
instance_type = st.session_state.get(LAUNCH_INSTANCE_KEY) or settings.instance_type
override_reason = st.session_state.get(LAUNCH_OVERRIDE_KEY)
st.markdown(
    t(
        "train.inputs",
        dataset=code(dataset["version"]) if dataset else t("train.no_dataset"),
        instance=code(instance_type),
        override=t("train.override", reason=override_reason) if override_reason else "",
        where=t("train.where_local") if settings.is_local else "",
    )
)

# -- the image -------------------------------------------------------------------------------
st.subheader(t("train.image_heading"))
last_image = st.session_state.get(IMAGE_KEY)
recent = action(t("common.reading_store"), store.list, limit=20) or []
latest_with_image = next((j for j in recent if j.image_uri), None)
if last_image:
    st.markdown(code(last_image))
    st.caption(t("train.image_from_session"))
elif latest_with_image is not None:
    st.markdown(code(latest_with_image.image_uri))
    st.caption(t("train.image_from_job", name=latest_with_image.job_name))
else:
    st.caption(t("train.image_not_built"))
if st.button(t("train.build_image"), key="rebuild_image"):
    with st.status(plain("train.building"), expanded=True) as progress_box:

        def progress(stage: str, message: str) -> None:
            progress_box.write(t("train.build_progress", stage=stage, message=service_line(message)))

        ref = action(t("train.build_what"), images.ensure_image, settings, progress=progress)
        progress_box.update(
            label=(
                plain("train.image_ready", uri=ref.uri_with_digest)
                if ref is not None
                else plain("train.image_failed")
            ),
            state="complete" if ref is not None else "error",
        )
    if ref is not None:
        st.session_state[IMAGE_KEY] = ref.uri_with_digest
        st.rerun()

# -- the launch form ---------------------------------------------------------------------------
st.subheader(t("train.launch_heading"))
# One job at a time; a dead worker's job is adopted or ended first, so it blocks nothing.
active = action(t("common.reading_store"), running_job, settings, store)
with st.form("launch_form"):
    chosen: dict[str, Any] = {}
    with st.expander(t("train.hyperparameters")):
        columns = st.columns(3)
        for index, spec in enumerate(SCHEMA):
            with columns[index % 3]:
                chosen[spec.name] = hyperparameter_input(spec)
    st.markdown(t("train.stopping_heading"))
    col_spot, col_run, col_wait, col_budget = st.columns(4)
    use_spot = col_spot.toggle(
        t("train.spot"),
        value=bool(st.session_state.get(LAUNCH_SPOT_KEY, settings.use_spot)),
        key="use_spot",
    )
    max_run = int(
        col_run.number_input(
            t("train.max_run"),
            min_value=1,
            max_value=MAX_SECONDS,
            value=form_seconds("TITANIC_SM_MAX_RUN_SECONDS", settings.max_run_seconds),
            step=60,
            key="max_run",
        )
    )
    max_wait = int(
        col_wait.number_input(
            t("train.max_wait"),
            min_value=1,
            max_value=MAX_SECONDS,
            value=(
                form_seconds("TITANIC_SM_MAX_WAIT_SECONDS", settings.max_wait_seconds)
                if settings.max_wait_seconds
                else min(2 * max(settings.max_run_seconds, 1), MAX_SECONDS)
            ),
            step=60,
            key="max_wait",
        )
    )
    # The budget (max_job_cost_usd) comes from the settings; raising it here is the user's explicit
    # choice for this launch, and 0 means no budget.
    budget_value = col_budget.number_input(
        t("train.budget"),
        min_value=0.0,
        value=float(settings.max_job_cost_usd or 0.0),
        step=1.0,
        format="%.2f",
        help=plain("train.budget_help"),
        key="max_job_cost_usd",
    )
    launch_clicked = st.form_submit_button(
        t("train.launch"), type="primary", disabled=active is not None, key="launch"
    )

launch_settings = dataclasses.replace(settings, max_job_cost_usd=float(budget_value) or None)
figures = action(
    t("train.estimating"),
    launch_cost,
    launch_settings,
    settings.target,
    settings.region,
    str(settings.state_dir),
    instance_type,
    use_spot,
    max_run,
    max_wait if use_spot else None,
    launch_settings.max_job_cost_usd,
    dataset["version"] if dataset else None,
)
if figures is not None:
    show_cost(figures)
if active is not None:
    st.info(t("train.one_at_a_time", name=active.job_name, status=active.status))


def checked_instance(spot: bool) -> instances.InstanceChoice | None:
    """The instance, checked for this purchase option; a failing type needs the Instance page's override."""
    evidence = instance_evidence(settings, t("train.checking_instance"))
    if evidence is None:
        return None
    try:
        return instances.check_choice(evidence, instance_type, override_reason, spot=spot)
    except instances.InstanceChoiceError as exc:
        st.error(t("train.cannot_launch_instance", cause=error_text(exc)))
        return None


def refuse_preflight(exc: preflight.PreflightError) -> None:
    """One line: the first failing check, what is missing and its fix (the CLI's `config check`
    lists them all)."""
    check_command = code("titanic-sm config check")
    failed = exc.first
    more = len(exc.report.failed) - 1
    st.error(
        t(
            "train.refused_preflight",
            check=failed.name,
            detail=service_line(failed.detail),
            fix=service_line(failed.fix)
            if failed.fix
            else t("train.preflight_fix_unknown", command=check_command),
            more=t("train.refused_preflight_more", count=more, command=check_command) if more else "",
        )
    )


def launch_job(request: launch.LaunchRequest) -> str | None:
    """Hand the request to the worker (which runs the pre-flight checks first); a budget or
    pre-flight refusal is one line naming the cause and the fix."""
    try:
        return launch.launch(launch_settings, request)
    except preflight.PreflightError as exc:
        refuse_preflight(exc)
        return None
    except cost.BudgetExceededError as exc:
        st.error(
            t(
                "train.refused_budget",
                maximum=exc.ceiling.usd,
                budget=exc.budget_usd,
                basis=exc.ceiling.basis,
            )
        )
        return None
    except UserError as exc:  # a request SageMaker would reject (max_wait, a bad type): one line
        show_refusal(exc)
        return None


if launch_clicked:
    if dataset is None:
        st.error(t("train.cannot_launch_no_data"))
    elif (instance_choice := checked_instance(use_spot)) is not None:
        # One key per submission: a double click or a resent request launches once.
        request_key = launch.submission_key(st.session_state.get(REQUEST_KEY))
        st.session_state[REQUEST_KEY] = request_key
        request = launch.LaunchRequest(
            channels=dict(dataset["channels"]),
            dataset_version=dataset["version"],
            instance_type=instance_type,
            instance_reason=instance_choice.override_reason,
            hyperparameters=hyperparameters.changed(chosen),
            use_spot=use_spot,
            max_run_seconds=max_run,
            max_wait_seconds=max_wait if use_spot else None,
            request_key=request_key,
        )
        job_id = action(t("train.launch_what"), launch_job, request)
        if job_id is not None:
            st.session_state[WATCH_JOB_KEY] = job_id
            st.session_state.pop(REQUEST_KEY, None)
            st.session_state.pop(LOG_STATE_KEY, None)
            st.rerun()

# -- the job being watched -------------------------------------------------------------------------
try:
    initial = watched_job(settings, st.session_state.get(WATCH_JOB_KEY), store)
except Exception as exc:  # a vanished job is one line, not a traceback
    st.error(t("train.reading_job_failed", cause=error_text(exc)))
    initial = None


def render_job(job: Job) -> None:
    st.session_state["last_job_name"] = job.job_name
    st.subheader(t("train.job_heading", name=job.job_name))
    status_col, secondary_col, elapsed_col, stop_col = st.columns(4)
    status_col.metric(t("train.status"), job.status)
    secondary_col.metric(t("train.secondary_status"), job.secondary_status or plain("common.none"))
    duration = job.duration_seconds
    elapsed_col.metric(
        t("train.elapsed"),
        plain("common.none") if duration is None else plain("train.seconds", seconds=duration),
    )
    if job.is_active and stop_col.button(t("train.stop"), key="stop_job"):
        stopped = action(t("train.stop_what"), stop.stop, settings, job.id)
        if stopped is not None:
            st.rerun()
    st.caption(
        t(
            "train.transitions",
            steps=" → ".join(
                mark.status + (f" ({mark.secondary_status})" if mark.secondary_status else "")
                for mark in job.transitions
            ),
        )
    )
    if job.status == "Failed":
        st.error(
            t("common.failure_reason", reason=failure_line(job.failure_reason))
            if job.failure_reason
            else t("common.failure_unrecorded")
        )

    state = st.session_state.setdefault(LOG_STATE_KEY, {"job": job.job_name, "token": None, "lines": []})
    if state["job"] != job.job_name:
        state.update(job=job.job_name, token=None, lines=[])
    page = action(t("train.reading_logs"), logs.read_events, settings, job.job_name, state["token"])
    if page is not None:
        state["lines"] = (state["lines"] + [event.message for event in page.events])[-LOG_LINES_KEPT:]
        state["token"] = page.next_token
    st.markdown(t("train.logs_heading", count=len(state["lines"])))
    with st.container(height=360, autoscroll=True, key="log_box"):
        untrusted_block("\n".join(state["lines"]), "train.waiting_for_logs")

    if job.status == "Completed" and job.artifact_uri:
        found = action(t("train.reading_artifact"), job_views.artifact_files, settings, job.artifact_uri)
        if found is not None:
            st.success(t("train.completed", uri=code(job.artifact_uri)))
            job_views.render_metrics(found[0], key="train_metrics")


# Poll only while the job runs; when it ends, one full rerun draws the final state without polling.
@st.fragment(run_every=POLL_SECONDS if initial is not None and initial.is_active else None)
def watch() -> None:
    try:
        # A store read; the training API is asked only when the job's worker is gone.
        job = watched_job(settings, st.session_state.get(WATCH_JOB_KEY), store)
    except Exception as exc:  # a vanished store or job is one line, not a traceback
        st.error(t("train.reading_job_failed", cause=error_text(exc)))
        return
    if job is None:
        st.caption(t("train.no_job"))
        return
    render_job(job)
    if initial is not None and initial.is_active and not job.is_active:
        st.session_state[ENDED_KEY] = (job.job_name, job.status)
        st.rerun()


watch()

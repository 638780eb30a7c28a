"""3 · Train: the image, the hyperparameters, spot and cost; launch a worker, watch it, stop it.

The fit never runs in this script: Launch hands a request to ``services.worker.launch``, which
validates it, records the job in the store and starts a detached worker. Everything shown about
the job is read back from the store and CloudWatch Logs, so a refresh or a second tab shows the
same job.
"""

from __future__ import annotations

import uuid
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
    instance_evidence,
    one_line,
    page_setup,
)

from container.hyperparameters import SCHEMA, HyperParameter
from services import images, instances, logs, storage, worker
from services.jobs import ACTIVE_STATUSES, Job, JobStore

POLL_SECONDS = 1.5
LOG_LINES_KEPT = 2000
REQUEST_KEY = "launch_request_key"
IMAGE_KEY = "last_image"
LOG_STATE_KEY = "log_state"
# SageMaker caps MaxRuntimeInSeconds and MaxWaitTimeInSeconds at 5 days.
MAX_SECONDS = 432_000
DEFAULTS = {spec.name: spec.default for spec in SCHEMA}

settings = page_setup("Train")
st.title("3 · Train")
store = JobStore(settings.job_store_path)


def hyperparameter_input(spec: HyperParameter) -> Any:
    """One widget per schema entry: its type, range, default and help come from the container."""
    key = f"hp_{spec.name}"
    if spec.choices is not None:
        index = spec.choices.index(spec.default)
        return st.selectbox(spec.name, spec.choices, index=index, help=spec.help, key=key)
    if spec.type is bool:
        return st.checkbox(spec.name, value=bool(spec.default), help=spec.help, key=key)
    if spec.type is int:
        return int(
            st.number_input(
                spec.name,
                min_value=int(spec.min) if spec.min is not None else None,
                max_value=int(spec.max) if spec.max is not None else None,
                value=int(spec.default),
                step=1,
                help=spec.help,
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
                help=spec.help,
                key=key,
            )
        )
    return st.text_input(spec.name, value=str(spec.default), help=spec.help, key=key)


@st.cache_data(ttl=60, show_spinner=False)
def cost_estimate(
    _settings: Any, target: str, region: str, state_dir: str, instance_type: str, spot: bool
) -> str:
    """On aws the price is a paged Price List read: a minute's cache spares one on every rerun."""
    return worker.estimate_cost(_settings, instance_type, spot)


def form_seconds(name: str, seconds: int) -> int:
    """A settings value as the form's start value: within SageMaker's 1 s to 5 days, or it is said."""
    inside = min(max(seconds, 1), MAX_SECONDS)
    if inside != seconds:
        st.warning(
            f"{name} is {seconds} s, outside SageMaker's 1 to {MAX_SECONDS} s: the form starts at {inside}"
        )
    return inside


def newest_job(statuses: list[str] | None = None) -> Job | None:
    found = store.list(statuses=statuses, limit=1)
    return found[0] if found else None


def watched_job() -> Job | None:
    """The job this tab launched, else the running one, else the latest: a refresh shows the same job."""
    job_id = st.session_state.get(WATCH_JOB_KEY)
    if job_id:
        return store.get(job_id)
    return newest_job(sorted(ACTIVE_STATUSES)) or newest_job()


# -- inputs chosen on the other pages ------------------------------------------------------
dataset = st.session_state.get(SELECTED_DATASET_KEY)
if dataset is None:
    versions = action("Listing dataset versions", storage.list_dataset_versions, settings) or []
    if versions:
        dataset = {"version": versions[0].version, "channels": versions[0].channels}
instance_type = st.session_state.get(LAUNCH_INSTANCE_KEY) or settings.instance_type
override_reason = st.session_state.get(LAUNCH_OVERRIDE_KEY)
st.markdown(
    f"**Dataset** `{dataset['version'] if dataset else 'none: write one on the Data page'}` · "
    f"**Instance** `{instance_type}`"
    + (f" (override: {override_reason})" if override_reason else "")
    + (
        " · runs in SageMaker local mode on this machine, priced as that instance"
        if settings.is_local
        else ""
    )
)

# -- the image -------------------------------------------------------------------------------
st.subheader("Image")
last_image = st.session_state.get(IMAGE_KEY)
recent = action("Reading the job store", store.list, limit=20) or []
latest_with_image = next((j for j in recent if j.image_uri), None)
if last_image:
    st.markdown(f"`{last_image}`")
    st.caption("built and pushed to the registry from this session; jobs pull it by digest")
elif latest_with_image is not None:
    st.markdown(f"`{latest_with_image.image_uri}`")
    st.caption(
        f"pushed, used by {latest_with_image.job_name}; Launch rebuilds only if the container code changed"
    )
else:
    st.caption("not built yet: Launch (or the button) builds it, pushes it and pins it by digest")
if st.button("Build and push the image", key="rebuild_image"):
    with st.status("Building and pushing the image…", expanded=True) as progress_box:

        def progress(stage: str, message: str) -> None:
            progress_box.write(f"**{stage}** · {message}")

        ref = action("Building the image", images.ensure_image, settings, progress=progress)
        progress_box.update(
            label=f"Image ready: {ref.uri_with_digest}" if ref is not None else "Image build failed",
            state="complete" if ref is not None else "error",
        )
    if ref is not None:
        st.session_state[IMAGE_KEY] = ref.uri_with_digest
        st.rerun()

# -- the launch form ---------------------------------------------------------------------------
st.subheader("Launch")
active = action("Reading the job store", newest_job, sorted(ACTIVE_STATUSES))
with st.form("launch_form"):
    chosen: dict[str, Any] = {}
    with st.expander("Hyperparameters (the container's own schema: types, ranges and defaults)"):
        columns = st.columns(3)
        for index, spec in enumerate(SCHEMA):
            with columns[index % 3]:
                chosen[spec.name] = hyperparameter_input(spec)
    st.markdown("**Stopping and spot**")
    col_spot, col_run, col_wait = st.columns(3)
    use_spot = col_spot.toggle(
        "Managed spot training",
        value=bool(st.session_state.get(LAUNCH_SPOT_KEY, settings.use_spot)),
        key="use_spot",
    )
    max_run = int(
        col_run.number_input(
            "max_run (s)",
            min_value=1,
            max_value=MAX_SECONDS,
            value=form_seconds("TITANIC_SM_MAX_RUN_SECONDS", settings.max_run_seconds),
            step=60,
            key="max_run",
        )
    )
    max_wait = int(
        col_wait.number_input(
            "max_wait (s, spot only: at least max_run)",
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
    launch = st.form_submit_button("Launch", type="primary", disabled=active is not None, key="launch")

estimate = action(
    "Estimating the cost",
    cost_estimate,
    settings,
    settings.target,
    settings.region,
    str(settings.state_dir),
    instance_type,
    use_spot,
)
if estimate is not None:
    st.caption(f"Estimated cost: {estimate}")
if active is not None:
    st.info(f"{active.job_name} is {active.status}: stop it or let it finish to launch another.")


def checked_instance(spot: bool) -> instances.InstanceChoice | None:
    """The instance, checked for this purchase option; a failing type needs the Instance page's override."""
    evidence = instance_evidence(settings, "Checking the instance")
    if evidence is None:
        return None
    try:
        return instances.check_choice(evidence, instance_type, override_reason, spot=spot)
    except instances.InstanceChoiceError as exc:
        st.error(f"Cannot launch: {one_line(exc)} on the Instance page")
        return None


if launch:
    if dataset is None:
        st.error("Cannot launch: no dataset version in S3; write one on the Data page")
    elif (instance_choice := checked_instance(use_spot)) is not None:
        # One key per submission: a double click or a resent request launches once.
        request_key = st.session_state.setdefault(REQUEST_KEY, uuid.uuid4().hex)
        request = worker.LaunchRequest(
            channels=dict(dataset["channels"]),
            dataset_version=dataset["version"],
            instance_type=instance_type,
            instance_reason=instance_choice.override_reason,
            hyperparameters={k: v for k, v in chosen.items() if v != DEFAULTS[k]},
            use_spot=use_spot,
            max_run_seconds=max_run,
            max_wait_seconds=max_wait if use_spot else None,
            request_key=request_key,
        )
        job_id = action("Launch", worker.launch, settings, request)
        if job_id is not None:
            st.session_state[WATCH_JOB_KEY] = job_id
            st.session_state.pop(REQUEST_KEY, None)
            st.session_state.pop(LOG_STATE_KEY, None)
            st.rerun()

# -- the job being watched -------------------------------------------------------------------------
try:
    initial = watched_job()
except Exception as exc:  # a vanished job is one line, not a traceback
    st.error(f"Reading the job failed: {one_line(exc)}")
    initial = None


def render_job(job: Job) -> None:
    st.session_state["last_job_name"] = job.job_name
    st.subheader(f"Job {job.job_name}")
    status_col, secondary_col, elapsed_col, stop_col = st.columns(4)
    status_col.metric("Status", job.status)
    secondary_col.metric("Secondary status", job.secondary_status or "—")
    duration = job.duration_seconds
    elapsed_col.metric("Elapsed", "—" if duration is None else f"{duration:.0f} s")
    if job.is_active and stop_col.button("Stop", key="stop_job"):
        stopped = action("Stopping the job", worker.stop, settings, job.id)
        if stopped is not None:
            st.rerun()
    st.caption(
        "Transitions: "
        + " → ".join(
            t.status + (f" ({t.secondary_status})" if t.secondary_status else "") for t in job.transitions
        )
    )
    if job.status == "Failed":
        st.error(f"Failure reason: {job.failure_reason or 'not recorded'}")

    state = st.session_state.setdefault(LOG_STATE_KEY, {"job": job.job_name, "token": None, "lines": []})
    if state["job"] != job.job_name:
        state.update(job=job.job_name, token=None, lines=[])
    page = action("Reading the logs", logs.read_events, settings, job.job_name, state["token"])
    if page is not None:
        state["lines"] = (state["lines"] + [event.message for event in page.events])[-LOG_LINES_KEPT:]
        state["token"] = page.next_token
    st.markdown(f"**CloudWatch Logs** ({len(state['lines'])} lines)")
    with st.container(height=360, autoscroll=True, key="log_box"):
        st.code("\n".join(state["lines"]) or "(waiting for the first log line…)", language=None)

    if job.status == "Completed" and job.artifact_uri:
        found = action("Reading the model artifact", job_views.artifact_files, settings, job.artifact_uri)
        if found is not None:
            st.success(f"Completed: {job.artifact_uri}")
            job_views.render_metrics(found[0], key="train_metrics")


# Poll only while the job runs; when it ends, one full rerun draws the final state without polling.
@st.fragment(run_every=POLL_SECONDS if initial is not None and initial.is_active else None)
def watch() -> None:
    try:
        job = watched_job()
    except Exception as exc:  # a vanished store or job is one line, not a traceback
        st.error(f"Reading the job failed: {one_line(exc)}")
        return
    if job is None:
        st.caption("No job yet.")
        return
    render_job(job)
    if initial is not None and initial.is_active and not job.is_active:
        st.rerun()


watch()

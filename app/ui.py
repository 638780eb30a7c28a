"""Shared page set-up for the dashboard: settings at the edge, the sidebar, one-line errors.

Every page calls ``page_setup(title)`` first. It builds the one ``Settings`` object from the
environment (the app's edge), draws the sidebar and returns the settings for the page to pass
down to ``services``. Nothing here runs at import time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import streamlit as st

from services.settings import Settings, SettingsError

__all__ = [
    "LAUNCH_INSTANCE_KEY",
    "LAUNCH_OVERRIDE_KEY",
    "LAUNCH_SPOT_KEY",
    "SELECTED_DATASET_KEY",
    "WATCH_JOB_KEY",
    "action",
    "flash",
    "instance_evidence",
    "one_line",
    "page_setup",
    "show_flash",
]

log = logging.getLogger("titanic_sm.app")

# UI state only: the launch choices a user made on one page and uses on another.
SELECTED_DATASET_KEY = "selected_dataset"
LAUNCH_INSTANCE_KEY = "launch_instance"
LAUNCH_OVERRIDE_KEY = "launch_override_reason"
LAUNCH_SPOT_KEY = "launch_spot"
# The job the Train page watches (set by Launch, or by Launch again on the Jobs page).
WATCH_JOB_KEY = "watch_job_id"

T = TypeVar("T")


def _configure_process() -> None:
    # The SDK prints a v2 banner and tries telemetry offline; both are noise for a dashboard.
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def flash(key: str, message: str) -> None:
    """Keep a success message across the rerun that redraws the sidebar with the new choice."""
    st.session_state[f"flash_{key}"] = message


def show_flash(key: str) -> None:
    message = st.session_state.pop(f"flash_{key}", None)
    if message:
        st.success(message)


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message, with its type when the message is empty."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def show_error(what: str, exc: BaseException) -> None:
    """One line for the user; the traceback goes to the log."""
    log.error("%s failed", what, exc_info=exc)
    st.error(f"{what} failed: {one_line(exc)}")


def action(what: str, func: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Run a service call; on any error show one line naming the cause and return None."""
    try:
        return func(*args, **kwargs)
    except Exception as exc:  # every service error becomes one line, never a traceback
        show_error(what, exc)
        return None


@contextmanager
def guarded(what: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:  # the page keeps rendering; the cause is shown in one line
        show_error(what, exc)


@st.cache_data(ttl=300, show_spinner="Reading prices and quotas…")
def _cached_evidence(_settings: Settings, target: str, region: str, state_dir: str) -> Any:
    """Prices and quotas change rarely; five minutes saves repeated Price List calls. The state dir
    is part of the key: the requirement and the proofs are read from it."""
    from services import instances

    return instances.gather(_settings)


def instance_evidence(settings: Settings, what: str) -> Any:
    """``instances.gather`` for the settings (cached; shared by the Instance page and the Train
    page's launch check), or None after one line naming the cause."""
    return action(what, _cached_evidence, settings, settings.target, settings.region, str(settings.state_dir))


def page_setup(title: str, icon: str = "🚢") -> Settings:
    """Configure the page, build the settings from the environment and draw the sidebar."""
    _configure_process()
    st.set_page_config(page_title=f"{title} · Titanic on SageMaker", page_icon=icon, layout="wide")
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        st.error(f"Settings: {exc}")
        st.stop()
    sidebar(settings)
    return settings


def sidebar(settings: Settings) -> None:
    with st.sidebar:
        st.markdown("### Target")
        st.markdown(
            f"**{settings.target}** · `{settings.region}`\n\n"
            f"- bucket: `{settings.bucket}`\n"
            f"- repository: `{settings.repository}`\n"
            f"- role: `{settings.role_arn}`"
        )
        if settings.is_local:
            local_stack_panel(settings)
        else:
            # Credentials come from the usual AWS chain and are never displayed.
            st.caption("Credentials: the standard AWS chain (env, profile, SSO, instance role).")
        choice = st.session_state.get(LAUNCH_INSTANCE_KEY)
        dataset = st.session_state.get(SELECTED_DATASET_KEY)
        st.markdown("### Launch choices")
        st.markdown(
            f"- dataset: `{dataset['version'] if dataset else 'none yet (Data page)'}`\n"
            f"- instance: `{choice or settings.instance_type}`"
            + (" (spot)" if st.session_state.get(LAUNCH_SPOT_KEY) else "")
        )


def local_stack_panel(settings: Settings) -> None:
    st.markdown("### Local stack")
    try:
        from services import local_stack

        services = local_stack.status(settings)
    except Exception as exc:  # a missing or broken stack is shown, never raised
        log.warning("local stack status failed", exc_info=exc)
        st.warning(f"status unavailable: {one_line(exc)}")
        return
    for service in services:
        state = (
            ":green[healthy]"
            if service.healthy
            else (":orange[not answering]" if service.running else ":red[stopped]")
        )
        st.markdown(f"{state} · **{service.name}**" + (f" `{service.address}`" if service.address else ""))
    if not all(service.healthy for service in services) and st.button(
        "Start local stack", key="start_local_stack"
    ):
        with st.spinner("Starting moto and the registry…"):
            if action("Starting the local stack", local_stack.ensure_running, settings) is not None:
                st.rerun()

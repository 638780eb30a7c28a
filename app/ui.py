"""Shared page set-up for the dashboard: settings at the edge, the language, the sidebar,
one-line errors, and the one way untrusted text reaches the page.

Every page calls ``page_setup(title_key)`` first. It settles the language (``?lang=``, the
sidebar switch, the browser's Accept-Language, Korean otherwise), builds the one ``Settings``
object from the environment (the app's edge), draws the sidebar and returns the settings for the
page to pass down to ``services``. Nothing here runs at import time.

Every text a reader sees comes from the message catalogue through ``t`` (Markdown contexts) or
``plain`` (tables, charts, code blocks). ``t`` escapes every value it fills in, so a CSV cell, a
failure file, a log line or an S3 key can never become a link, an image or HTML: values are
text, only the catalogue's own templates carry Markdown.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from services import errors, messages
from services.settings import Settings, SettingsError

__all__ = [
    "LANGUAGE_KEY",
    "LAUNCH_INSTANCE_KEY",
    "LAUNCH_OVERRIDE_KEY",
    "LAUNCH_SPOT_KEY",
    "SELECTED_DATASET_KEY",
    "WATCH_JOB_KEY",
    "Markdown",
    "action",
    "code",
    "current_language",
    "error_text",
    "escape_markdown",
    "failure_line",
    "flash",
    "instance_evidence",
    "one_line",
    "page_setup",
    "plain",
    "service_line",
    "show_flash",
    "show_refusal",
    "t",
    "untrusted_block",
]

log = logging.getLogger("titanic_sm.app")

# UI state only: the launch choices a user made on one page and uses on another.
SELECTED_DATASET_KEY = "selected_dataset"
LAUNCH_INSTANCE_KEY = "launch_instance"
LAUNCH_OVERRIDE_KEY = "launch_override_reason"
LAUNCH_SPOT_KEY = "launch_spot"
# The job the Train page watches (set by Launch, or by Launch again on the Jobs page).
WATCH_JOB_KEY = "watch_job_id"

# The reader's language: kept in session state (not in a widget's key, which Streamlit drops on a
# page switch), settled again from ?lang= whenever a link carries it.
LANGUAGE_KEY = "ui_language"
LANGUAGE_SWITCH_KEY = "language_switch"
LANGUAGE_NAMES = {"ko": "한국어", "en": "English"}
# The characters that start Markdown structure (links, images, HTML, emphasis, code, tables,
# Streamlit's :color[...] directives, $math$). Quotes, dots and colons stay as they are, so a
# message about column 'Age' reads the same escaped or not.
_MARKDOWN_SPECIAL = frozenset("\\`*_[]()<>!#|~$")
# GFM turns bare http://, www. and e-mail addresses into links even after their punctuation is
# escaped (the autolink pass runs on the parsed text). A word joiner (invisible, U+2060) inside
# each pattern keeps them text.
_WORD_JOINER = "\u2060"
_AUTOLINKS = re.compile(r"(?i)(https?|ftp|mailto|xmpp)(?=:)|\b(www)(?=\.)|(@)|(:)(?=[a-z])")

T = TypeVar("T")


class Markdown(str):
    """Text already safe for a Markdown context (a catalogue message, a code span): ``t`` fills it
    in as it is, where a plain ``str`` value is escaped."""

    __slots__ = ()


def escape_markdown(value: object) -> str:
    """``value`` as text that Markdown shows literally: its Markdown characters escaped, autolinks
    broken, line breaks made spaces (one message stays one line)."""
    if isinstance(value, Markdown):
        return value
    flat = " ".join(str(value).split())
    escaped = "".join(f"\\{char}" if char in _MARKDOWN_SPECIAL else char for char in flat)
    return _AUTOLINKS.sub(lambda found: found.group(0) + _WORD_JOINER, escaped)


def code(value: object) -> Markdown:
    """``value`` as an inline code span, fenced by more backticks than it holds, so nothing in it
    can end the span (Markdown is not interpreted inside one; HTML is shown as text)."""
    flat = " ".join(str(value).split())
    longest = max((len(run) for run in _backtick_runs(flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") or not flat else ""
    return Markdown(f"{fence}{pad}{flat}{pad}{fence}")


def _backtick_runs(value: str) -> list[str]:
    runs, current = [], ""
    for char in value:
        if char == "`":
            current += char
        elif current:
            runs.append(current)
            current = ""
    return [*runs, current] if current else runs


def current_language() -> messages.Language:
    """The page's language: ``?lang=`` wins (a link opens in its language), then the sidebar choice
    kept in the session, then the browser's Accept-Language (by weight) or its locale, then Korean."""
    asked = st.query_params.get("lang")
    if asked in messages.LANGUAGES:
        st.session_state[LANGUAGE_KEY] = asked
    chosen = st.session_state.get(LANGUAGE_KEY)
    if chosen not in messages.LANGUAGES:
        chosen = messages.language_of(_browser_language())
        st.session_state[LANGUAGE_KEY] = chosen
    return messages.language_of(chosen)


def _browser_language() -> str | None:
    """What the browser asks for: its Accept-Language header, else its ``navigator.language``
    (``st.context.locale``, for a proxy that drops the header); None without a browser."""
    try:
        return st.context.headers.get("Accept-Language") or st.context.locale
    except Exception:  # no browser behind this run (AppTest, bare mode): nothing to read
        return None


def t(key: str, /, **values: object) -> Markdown:
    """The catalogue's message ``key`` in the page's language, for a Markdown context (st.markdown,
    st.error, captions, labels): every ``str`` value is escaped, numbers keep their format specs."""
    safe = {
        name: value if not isinstance(value, str) else Markdown(escape_markdown(value))
        for name, value in values.items()
    }
    return Markdown(messages.text(key, current_language(), **safe))


def plain(key: str, /, **values: object) -> str:
    """The message for a context that shows text as text (table headers and cells, chart titles
    and axes, st.code): nothing is escaped, because nothing there is interpreted."""
    return messages.text(key, current_language(), **values)


def untrusted_block(value: str, empty_key: str | None = None) -> None:
    """A block of foreign text (log lines, a failure file) exactly as it is, never as Markdown."""
    st.code(value or (plain(empty_key) if empty_key else ""), language=None)


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
    return errors.one_line(exc)


def error_text(exc: BaseException) -> str:
    """An error in the page's language: the catalogue's wording of its code and values (a CSV
    cell, a refused instance, a budget), or its English line when the catalogue lacks the code."""
    return errors.describe(exc, current_language())


def failure_line(reason: str | None) -> str:
    """A job's FailureReason in the page's language (the container's coded errors are worded by the
    catalogue; SageMaker's own words stay as they are)."""
    return errors.failure_text(reason, current_language())


def service_line(line: str) -> str:
    """A line a service handed over (a warning, an exclusion's detail) in the page's language:
    a ``Notice`` by its catalogue entry, other text as it is."""
    return messages.worded(line, current_language())


def show_error(what: str, exc: BaseException) -> None:
    """One line for the user (``what`` is a catalogue message; the cause is escaped: it may quote
    a CSV cell or a failure file); the traceback goes to the log."""
    log.error("%s failed", what, exc_info=exc)
    st.error(t("common.failed", what=Markdown(what), cause=error_text(exc)))
    if isinstance(exc, errors.InfrastructureError):  # what to start or check, in the page's language
        st.caption(t("common.as_is", message=errors.hint_text(exc, current_language())))


def show_refusal(exc: BaseException) -> None:
    """A user error that already names its cause in one line (bad CSV cell, a refused choice),
    in the page's language."""
    st.error(t("common.as_is", message=error_text(exc)))


def action(what: str, func: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Run a service call; on any error show one line naming the cause and return None."""
    try:
        return func(*args, **kwargs)
    except Exception as exc:  # every service error becomes one line, never a traceback
        show_error(what, exc)
        return None


@st.cache_data(ttl=300, show_spinner=False)
def _cached_evidence(_settings: Settings, target: str, region: str, state_dir: str) -> Any:
    """Prices and quotas change rarely; five minutes saves repeated Price List calls. The state dir
    is part of the key: the requirement and the proofs are read from it."""
    from services.instance import instances

    return instances.gather(_settings)


def instance_evidence(settings: Settings, what: str) -> Any:
    """``instances.gather`` for the settings (cached; shared by the Instance page and the Train
    page's launch check), or None after one line naming the cause."""
    with st.spinner(plain("common.reading_prices")):
        return action(
            what, _cached_evidence, settings, settings.target, settings.region, str(settings.state_dir)
        )


def _switch_language() -> None:
    chosen = st.session_state.get(LANGUAGE_SWITCH_KEY)
    if chosen in messages.LANGUAGES:
        st.session_state[LANGUAGE_KEY] = chosen
        st.query_params["lang"] = chosen  # a copied link opens in the chosen language


def page_setup(title_key: str, icon: str = "🚢") -> Settings:
    """Configure the page, settle the language, build the settings from the environment and draw
    the sidebar."""
    _configure_process()
    lang = current_language()
    st.set_page_config(
        page_title=plain("app.page_title", page=plain(title_key)), page_icon=icon, layout="wide"
    )
    if st.query_params.get("lang") != lang:
        st.query_params["lang"] = lang
    with st.sidebar:
        page_links()
        st.radio(
            plain("sidebar.language"),
            list(messages.LANGUAGES),
            index=messages.LANGUAGES.index(lang),
            format_func=LANGUAGE_NAMES.__getitem__,
            horizontal=True,
            key=LANGUAGE_SWITCH_KEY,
            on_change=_switch_language,
        )
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        st.error(t("common.settings_error", cause=error_text(exc)))
        st.stop()
    start_local_stack(settings)
    sidebar(settings)
    return settings


# The stack folders this app process has started (or tried to): once each, at the app's start.
_STACKS_STARTED: set[str] = set()


def start_local_stack(settings: Settings) -> None:
    """The app's one start of the local stack (``make run`` has usually started it already).

    Once per process and stack folder: a stack stopped later is shown in the sidebar with its
    start button, and a client asked for meanwhile says it is not running, never restarts it."""
    key = str(settings.local_stack_dir.resolve())
    if not settings.is_local or key in _STACKS_STARTED:
        return
    _STACKS_STARTED.add(key)
    from services.local import stack as local_stack

    with st.spinner(plain("sidebar.starting_stack")):
        action(t("sidebar.start_stack_what"), local_stack.ensure_running, settings)


# The pages, in the order of the flow: (script relative to app/, its catalogue title).
PAGES = (
    ("Home.py", "nav.home"),
    ("pages/1_Data.py", "nav.data"),
    ("pages/2_Instance.py", "nav.instance"),
    ("pages/3_Train.py", "nav.train"),
    ("pages/4_Jobs.py", "nav.jobs"),
)


def page_links() -> None:
    """The page list in the reader's language (Streamlit's own one is off in
    .streamlit/config.toml: it would show the English file names)."""
    for path, title_key in PAGES:
        try:
            st.page_link(path, label=t(title_key))
        except Exception:  # a lone page under AppTest has no page registry to link into
            log.debug("no page link to %s in this run", path)


def sidebar(settings: Settings) -> None:
    with st.sidebar:
        st.markdown(t("sidebar.target_heading"))
        st.markdown(
            t(
                "sidebar.target",
                target=settings.target,
                region=code(settings.region),
                bucket=code(settings.bucket),
                repository=code(settings.repository),
                role=code(settings.role_arn),
            )
        )
        if settings.is_local:
            local_stack_panel(settings)
        else:
            # Credentials come from the usual AWS chain and are never displayed.
            st.caption(t("sidebar.credentials"))
        choice = st.session_state.get(LAUNCH_INSTANCE_KEY)
        dataset = st.session_state.get(SELECTED_DATASET_KEY)
        st.markdown(t("sidebar.choices_heading"))
        st.markdown(
            t(
                "sidebar.choices",
                dataset=code(dataset["version"]) if dataset else t("sidebar.no_dataset"),
                instance=code(choice or settings.instance_type),
                spot=t("sidebar.spot") if st.session_state.get(LAUNCH_SPOT_KEY) else "",
            )
        )


def local_stack_panel(settings: Settings) -> None:
    st.markdown(t("sidebar.stack_heading"))
    try:
        from services.local import stack as local_stack

        services = local_stack.status(settings)
    except Exception as exc:  # a missing or broken stack is shown, never raised
        log.warning("local stack status failed", exc_info=exc)
        st.warning(t("sidebar.stack_unavailable", cause=error_text(exc)))
        return
    for service in services:
        state = (
            "sidebar.healthy"
            if service.healthy
            else ("sidebar.not_answering" if service.running else "sidebar.stopped")
        )
        st.markdown(
            t(
                "sidebar.service",
                state=t(state),
                name=service.name,
                address=code(service.address) if service.address else "",
            )
        )
    if not all(service.healthy for service in services) and st.button(
        t("sidebar.start_stack"), key="start_local_stack"
    ):
        with st.spinner(plain("sidebar.starting_stack")):
            if action(t("sidebar.start_stack_what"), local_stack.ensure_running, settings) is not None:
                st.rerun()

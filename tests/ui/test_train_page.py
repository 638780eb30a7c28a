"""The Train page: the form comes from the container's schema, and bad launches are refused in one line."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest
from ui_helpers import errors

from container.hyperparameters import SCHEMA
from services.jobs import JobStore
from services.settings import Settings

PAGE = "pages/3_Train.py"
DATASET = {
    "version": "0123456789abcdef",
    "channels": {
        "train": "s3://bucket/titanic/datasets/0123456789abcdef/train/",
        "validation": "s3://bucket/titanic/datasets/0123456789abcdef/validation/",
    },
}


def test_hyperparameter_form_is_generated_from_the_schema(
    page: Callable[[str], AppTest], app_settings: Settings
) -> None:
    at = page(PAGE).run()
    assert not at.exception
    assert not errors(at), errors(at)
    for spec in SCHEMA:
        widget = (
            at.checkbox(key=f"hp_{spec.name}")
            if spec.type is bool
            else at.number_input(key=f"hp_{spec.name}")
        )
        assert widget.value == spec.default, spec.name
        if spec.type is not bool:
            assert (widget.min, widget.max) == (spec.min, spec.max), spec.name


def test_spot_launch_with_max_wait_below_max_run_is_refused_and_records_nothing(
    page: Callable[[str], AppTest], app_settings: Settings
) -> None:
    at = page(PAGE)
    at.session_state["selected_dataset"] = DATASET
    at.run()
    at.toggle(key="use_spot").set_value(True)
    at.number_input(key="max_run").set_value(3600)
    at.number_input(key="max_wait").set_value(600)
    at.button(key="launch").click().run()

    assert not at.exception
    message = " ".join(errors(at))
    assert "max_wait (600 s) must be at least max_run (3600 s)" in message, message
    assert JobStore(app_settings.job_store_path).list() == []


def test_launch_without_a_dataset_names_the_missing_step(
    page: Callable[[str], AppTest], app_settings: Settings
) -> None:
    at = page(PAGE).run()
    at.button(key="launch").click().run()
    assert any("Data page" in e for e in errors(at)), errors(at)
    assert JobStore(app_settings.job_store_path).list() == []

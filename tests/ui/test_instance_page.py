"""The Instance page: the quota-checked table, the recommendation and every source label."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
from streamlit.testing.v1 import AppTest
from ui_helpers import errors, texts

from services import capacity, instances
from services.settings import Settings

PAGE = "pages/2_Instance.py"


def instance_table(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "verdict" in d.value.columns)


def test_table_renders_with_recommendation_and_source_labels(
    page: Callable[[str], AppTest], app_settings: Settings
) -> None:
    at = page(PAGE).run()
    assert not at.exception
    assert not errors(at), errors(at)

    evidence = instances.gather(app_settings)
    recommended = evidence.on_demand.chosen
    assert recommended, evidence.on_demand.rationale
    table = instance_table(at)
    assert list(table.columns) == [
        "recommended",
        "instance",
        "vCPU",
        "memory GiB",
        "fit",
        "on-demand $/h",
        "spot $/h",
        "on-demand quota",
        "spot quota",
        "verdict",
    ]
    starred = table[table["recommended"] == "★"]
    assert list(starred["instance"]) == [recommended]
    assert starred["verdict"].iloc[0] == "eligible"
    # An excluded type says why, in words.
    assert (table["verdict"] != "eligible").any()

    shown = texts(at)
    assert evidence.on_demand.rationale in shown
    # Local target: the price snapshot and the sample quotas are labelled as such, with dates.
    assert evidence.price_source in shown and evidence.quota_source in shown
    assert "sample quotas" in evidence.quota_source.lower()
    assert "botocore" in shown
    assert len(at.get("plotly_chart")) == 1


def test_use_this_instance_sets_the_launch_choice_and_refuses_a_failing_type_without_reason(
    page: Callable[[str], AppTest], app_settings: Settings
) -> None:
    at = page(PAGE).run()
    evidence = instances.gather(app_settings)
    at.button(key="use_instance").click().run()
    assert at.session_state["launch_instance"] == evidence.on_demand.chosen

    failing = next(c.instance_type for c in evidence.on_demand.candidates if not c.eligible)
    at.selectbox(key="instance_pick").set_value(failing).run()
    at.button(key="use_instance").click().run()
    assert any(failing in e and "override reason" in e for e in errors(at)), errors(at)
    assert at.session_state["launch_instance"] == evidence.on_demand.chosen

    at.text_input(key="instance_override_reason").input("demo of a GPU type").run()
    at.button(key="use_instance").click().run()
    assert not errors(at)
    assert at.session_state["launch_instance"] == failing
    assert at.session_state["launch_override_reason"] == "demo of a GPU type"


def test_spot_view_recommends_from_the_spot_decision_and_carries_spot_to_the_launch(
    page: Callable[[str], AppTest], app_settings: Settings
) -> None:
    evidence = instances.gather(app_settings)
    at = page(PAGE).run()
    at.toggle(key="instance_spot").set_value(True).run()
    assert f"Recommended (spot): **{evidence.spot.chosen}**" in [s.value for s in at.success]
    starred = instance_table(at).query("recommended == '★'")
    assert list(starred["instance"]) == [evidence.spot.chosen]
    at.button(key="use_instance").click().run()
    assert at.session_state["launch_spot"] is True
    assert at.session_state["launch_instance"] == evidence.spot.chosen


def test_a_proof_run_that_did_not_complete_is_a_warning_not_a_proof(
    page: Callable[[str], AppTest], app_settings: Settings
) -> None:
    chosen = instances.gather(app_settings).on_demand.chosen
    assert chosen is not None
    capacity.save_proof(
        app_settings,
        capacity.ProbeResult(
            image="img",
            cpus=2.0,
            memory_limit_bytes=8 * 2**30,
            completed=False,
            exit_code=137,
            wall_seconds=2.0,
            docker_seconds=3.0,
            peak_memory_bytes=None,
            cgroup=None,
            measured_at="2026-11-26T06:00:00+00:00",
            failure="killed: out of memory",
            instance_type=chosen,
        ),
    )
    at = page(PAGE).run()
    assert not at.exception
    assert not any(i.value.startswith("Proof it completes") for i in at.info)
    assert any(
        f"{chosen}'s limits did not complete" in w.value and "out of memory" in w.value for w in at.warning
    ), [w.value for w in at.warning]

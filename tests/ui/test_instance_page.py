"""The Instance page: the quota-checked table, the recommendation and every source label."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pandas as pd
from streamlit.testing.v1 import AppTest
from ui_helpers import errors, shown, texts

from services.instance import capacity, instances
from services.settings import Settings

PAGE = "pages/2_Instance.py"


def instance_table(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "verdict" in d.value.columns)


def figure(at: AppTest, key: str) -> dict[str, Any]:
    """The plotly figure the page drew under ``key``, as the JSON the browser receives."""
    chart = next(c for c in at.get("plotly_chart") if c.proto.id and key in c.proto.id)
    return json.loads(chart.proto.spec)


def test_table_renders_with_recommendation_and_source_labels(
    page: Callable[..., AppTest], app_settings: Settings
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
    assert evidence.on_demand.rationale in shown  # the long text, behind its expander
    # Local target: the price snapshot and the sample quotas are labelled as such, with dates.
    assert evidence.price_source in shown and evidence.quota_source in shown
    assert "sample quotas" in evidence.quota_source.lower()
    assert "botocore" in shown
    assert len(at.get("plotly_chart")) == 2  # the funnel and price against memory


def test_funnel_counts_are_the_decisions_own(page: Callable[..., AppTest], app_settings: Settings) -> None:
    evidence = instances.gather(app_settings)
    decision = evidence.on_demand
    at = page(PAGE).run()
    steps = next(d.value for d in at.dataframe if "left" in d.value.columns)
    counts = steps["left"].tolist()
    eligible = [c for c in decision.candidates if c.eligible]
    assert counts[0] == len(decision.candidates) == len(instances.training_instance_types())
    assert counts[-2] == len(eligible) and counts[-1] == 1
    assert counts == sorted(counts, reverse=True)
    # Each step removes exactly the types that leave there, and the removed add up.
    assert [a - b for a, b in itertools.pairwise(counts)] == steps["removed"].tolist()[1:]
    # The picture shows the same counts, under the catalogue's step names.
    funnel = figure(at, "funnel_chart")["data"][0]
    assert funnel["x"] == counts
    assert funnel["y"][0] == "in botocore's enum" and funnel["y"][-1] == "chosen"


def test_price_chart_marks_the_need_and_the_choice(
    page: Callable[..., AppTest], app_settings: Settings
) -> None:
    evidence = instances.gather(app_settings)
    at = page(PAGE).run()
    chart = figure(at, "price_chart")
    need_lines = [s for s in chart["layout"].get("shapes", []) if s.get("type") == "line"]
    assert [line["x0"] for line in need_lines] == [evidence.requirement.min_memory_gib]
    chosen = [trace for trace in chart["data"] if trace.get("name") == "chosen"]
    assert len(chosen) == 1 and chosen[0]["text"] == [evidence.on_demand.chosen]


def test_five_reasons_each_name_a_source(page: Callable[..., AppTest], app_settings: Settings) -> None:
    evidence = instances.gather(app_settings)
    at = page(PAGE).run()
    reasons = [shown(str(e.value)) for kind in ("markdown", "warning") for e in getattr(at, kind)]
    lines = [line for line in reasons if line.startswith((":green[**✓**] **", ":orange[**!**] **"))]
    assert [line.split("**")[3] for line in lines] == ["Need", "Fit", "Quota", "Price", "Proof"], lines
    assert all(len(line) < 160 for line in lines), lines
    sources = [shown(c.value) for c in at.caption if shown(c.value).startswith("source: ")]
    assert len(sources) == 5, sources
    assert evidence.requirement.source in sources[0] and evidence.price_source.split(",")[0] in sources[3]


def test_exclusions_filter_by_reason(page: Callable[..., AppTest], app_settings: Settings) -> None:
    evidence = instances.gather(app_settings)
    at = page(PAGE).run()
    excluded = next(d.value for d in at.dataframe if "details" in d.value.columns)
    assert len(excluded) == sum(not c.eligible for c in evidence.on_demand.candidates)
    at.multiselect(key="exclusion_reasons").select("quota_zero").run()
    filtered = next(d.value for d in at.dataframe if "details" in d.value.columns)
    quota_zero = {c.instance_type for c in evidence.on_demand.candidates if "quota_zero" in c.exclusion_codes}
    assert quota_zero and set(filtered["instance"]) == quota_zero
    assert all("quota 0" in reasons for reasons in filtered["reasons"])


def test_the_page_in_korean(page: Callable[..., AppTest], app_settings: Settings) -> None:
    evidence = instances.gather(app_settings)
    at = page(PAGE, lang="ko").run()
    assert not at.exception and not errors(at)
    assert at.title[0].value == "2 · 인스턴스"
    assert f"추천 (온디맨드): **{evidence.on_demand.chosen}**" in [s.value for s in at.success]
    assert "botocore 열거형의 유형" in figure(at, "funnel_chart")["data"][0]["y"]


def test_use_this_instance_sets_the_launch_choice_and_refuses_a_failing_type_without_reason(
    page: Callable[..., AppTest], app_settings: Settings
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
    page: Callable[..., AppTest], app_settings: Settings
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


def save_chosen_proof(settings: Settings, **result: Any) -> str:
    """A proof run on the on-demand choice's limits (2 vCPU, 8 GiB), with ``result``'s outcome."""
    chosen = instances.gather(settings).on_demand.chosen
    assert chosen is not None
    limits = {"image": "img", "cpus": 2.0, "memory_limit_bytes": 8 * 2**30, "wall_seconds": 2.0}
    times = {"docker_seconds": 3.0, "measured_at": "2026-11-26T06:00:00+00:00", "instance_type": chosen}
    capacity.save_proof(settings, capacity.ProbeResult(**limits, **times, **result))
    return chosen


def test_a_proof_run_that_did_not_complete_is_a_warning_not_a_proof(
    page: Callable[..., AppTest], app_settings: Settings
) -> None:
    save_chosen_proof(
        app_settings,
        completed=False,
        exit_code=137,
        peak_memory_bytes=None,
        cgroup=None,
        failure="killed: out of memory",
    )
    at = page(PAGE).run()
    assert not at.exception
    warnings = [shown(w.value) for w in at.warning]
    assert any("did not complete" in w and "out of memory" in w for w in warnings), warnings
    assert not any(":green[**✓**] **Proof**" in m.value for m in at.markdown)


def test_the_proof_line_reads_in_the_pages_language(
    page: Callable[..., AppTest], app_settings: Settings
) -> None:
    """The proof's summary is worded in Korean too (it was the probe's English line)."""
    chosen = save_chosen_proof(
        app_settings, completed=True, exit_code=0, peak_memory_bytes=512 * 2**20, cgroup="v2"
    )
    korean = [shown(m.value) for m in page(PAGE, lang="ko").run().markdown]
    proof = next(line for line in korean if "**증명**" in line)
    assert (
        f"{chosen}: 완료, 학습 2.0초(컨테이너 시작 포함 3.0초), 한도 --cpus 2 --memory 8 GiB; "
        "최대 메모리 512 MiB = 한도의 6.2%" in proof
    ), proof
    english = [shown(m.value) for m in page(PAGE, lang="en").run().markdown]
    proof = next(line for line in english if "**Proof**" in line)
    assert f"{chosen}: completed in 2.0 s of training" in proof, proof

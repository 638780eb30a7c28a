"""The instance decision as data for pictures: the funnel, the chart, five rationale items, exclusions."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from services.instance import instances, pricing, quotas
from services.instance.capacity import Requirement
from services.settings import Settings

TODAY = "2026-11-26"


def _evidence(tmp_path: Path, spot_quota_zero: bool = False) -> instances.Evidence:
    book = pricing.PriceBook(region="us-east-1", live=False, source="test prices", fetched=TODAY)
    prices = {"ml.t3.medium": 0.05, "ml.t3.large": 0.10, "ml.m5.large": 0.115, "ml.m5.xlarge": 0.23}
    for name, usd in prices.items():
        book.prices[(name, pricing.ON_DEMAND_KIND)] = pricing.PriceQuote(
            name, "us-east-1", pricing.ON_DEMAND_KIND, usd, "test prices", TODAY
        )
    table = quotas.QuotaTable(region="us-east-1", source="test quotas", fetched=TODAY, known=True)
    values = {
        ("ml.t3.medium", False): 1,
        ("ml.t3.large", False): 0,
        ("ml.m5.large", False): 2,
        ("ml.m5.xlarge", False): 5,
        ("ml.m5.large", True): 0 if spot_quota_zero else 1,
        ("ml.m5.xlarge", True): 0 if spot_quota_zero else 1,
        ("ml.t3.large", True): 0,
    }
    for (name, spot), value in values.items():
        table.quotas[(name, spot)] = quotas.Quota(name, spot, f"L-{name}", value, 1.0, "test quotas", TODAY)
    need = Requirement(
        1, 6.0, basis="peak 3.1 GiB x 2", source="capacity probe", measured_at=TODAY + "T10:00:00+00:00"
    )
    return instances.gather(
        Settings(state_dir=tmp_path / "state"), requirement=need, price_book=book, quota_table=table
    )


@pytest.mark.parametrize("spot", [False, True])
def test_funnel_counts_are_the_decisions_own_counts(tmp_path: Path, spot: bool) -> None:
    evidence = _evidence(tmp_path)
    decision = evidence.decision(spot)
    steps = instances.funnel(evidence, spot)
    assert [s.key for s in steps] == list(instances.FUNNEL_STEPS)
    counts = {s.key: s.count for s in steps}
    assert counts["enum"] == len(decision.candidates) == len(instances.training_instance_types())
    assert counts["quota"] == len(decision.eligible)
    assert counts["chosen"] == (1 if decision.chosen else 0)
    # each step's count is the previous one's minus what it removed, and nothing is removed twice
    for before, step in itertools.pairwise(steps):
        assert step.count == before.count - len(step.removed)
    removed = [name for s in steps for name in s.removed]
    assert len(removed) == len(set(removed)) == len(decision.candidates) - counts["chosen"]
    # a type removed at a step has that step's reason among its own exclusions
    by_name = {c.instance_type: c for c in decision.candidates}
    for step in steps[1:-1]:
        assert sum(step.reasons.values()) >= len(step.removed)
        for name in step.removed:
            assert set(step.reasons) & set(by_name[name].exclusion_codes)
    # with specs = the candidates without a "no specs" exclusion, as the decision counts them
    assert counts["specs"] == counts["enum"] - decision.exclusion_counts()["no_specs"]


def test_funnel_on_demand_removes_each_kind_at_its_step(tmp_path: Path) -> None:
    steps = {s.key: s for s in instances.funnel(_evidence(tmp_path))}
    assert "ml.p5.4xlarge" in steps["specs"].removed
    assert "ml.c5.xlarge" in steps["priced"].removed and steps["priced"].reasons == {
        "no_price": len(steps["priced"].removed)
    }
    assert steps["fits"].removed == ("ml.t3.medium",)  # 4 GiB < 6 GiB
    assert steps["quota"].removed == ("ml.t3.large",)
    assert steps["chosen"].count == 1 and steps["chosen"].removed == ("ml.m5.xlarge",)
    assert steps["chosen"].reasons == {"not_cheapest": 1}
    assert "test prices" in steps["priced"].source and "test quotas" in steps["quota"].source


def test_chart_points_mark_the_chosen_and_carry_price_memory_vcpu(tmp_path: Path) -> None:
    points = {p.instance_type: p for p in instances.chart_points(_evidence(tmp_path))}
    assert set(points) == {"ml.t3.medium", "ml.t3.large", "ml.m5.large", "ml.m5.xlarge"}
    assert [n for n, p in points.items() if p.chosen] == ["ml.m5.large"]
    chosen = points["ml.m5.large"]
    assert (chosen.usd_per_hour, chosen.vcpu, chosen.memory_gib, chosen.eligible) == (0.115, 2, 8.0, True)
    assert points["ml.t3.medium"].codes == ("does_not_fit",) and not points["ml.t3.medium"].eligible


def test_rationale_is_five_items_each_naming_source_and_date(tmp_path: Path) -> None:
    items = instances.rationale_items(_evidence(tmp_path))
    assert [i.key for i in items] == ["need", "fit", "quota", "price", "proof"]
    by_key = {i.key: i for i in items}
    assert by_key["need"].source == "capacity probe" and by_key["need"].date == TODAY
    assert by_key["fit"].values["instance_type"] == "ml.m5.large" and by_key["fit"].values["memory_gib"] == 8
    assert "docs.aws.amazon.com" in by_key["fit"].source and by_key["fit"].date
    assert by_key["quota"].values["quota"] == 2 and by_key["quota"].source == "test quotas"
    assert by_key["price"].values == {
        "instance_type": "ml.m5.large",
        "usd_per_hour": 0.115,
        "eligible_count": 2,
        "next_cheapest": "ml.m5.xlarge",
        "next_usd_per_hour": 0.23,
    }
    assert by_key["price"].date == TODAY and by_key["price"].source == "test prices"
    # no probe was run under ml.m5.large's limits in this state dir: the proof is missing, and says so
    assert not by_key["proof"].ok and "titanic-sm probe" in by_key["proof"].text
    assert all(i.ok for i in items if i.key in ("need", "fit", "quota", "price"))


def test_rationale_without_a_choice_says_so_for_each_item(tmp_path: Path) -> None:
    evidence = _evidence(tmp_path, spot_quota_zero=True)
    assert evidence.spot.chosen is None
    items = instances.rationale_items(evidence, spot=True)
    assert [i.key for i in items] == ["need", "fit", "quota", "price", "proof"]
    assert [i.ok for i in items[1:]] == [False] * 4
    view = instances.decision_view(evidence, spot=True)
    assert view.funnel[-1].count == 0 and view.funnel[-2].count == 0
    assert set(view.funnel[-2].removed) >= {"ml.m5.large", "ml.m5.xlarge"}


def test_exclusions_filter_by_reason_code(tmp_path: Path) -> None:
    evidence = _evidence(tmp_path)
    every = instances.exclusion_rows(evidence)
    assert len(every) == len(evidence.on_demand.candidates) - len(evidence.on_demand.eligible)
    quota = instances.exclusion_rows(evidence, codes=["quota_zero"])
    assert [r.instance_type for r in quota] == ["ml.t3.large"]
    assert quota[0].reasons[0].startswith("quota 0: training quota L-ml.t3.large is 0")
    both = instances.exclusion_rows(evidence, codes=["quota_zero", "does_not_fit"])
    assert {"ml.t3.large", "ml.t3.medium"} <= {r.instance_type for r in both}
    assert all({"quota_zero", "does_not_fit"} & set(r.codes) for r in both)
    assert len(both) == len(quota) + len(instances.exclusion_rows(evidence, codes=["does_not_fit"]))
    assert {code for r in every for code in r.codes} <= set(instances.EXCLUSION_CODES.values())
    counts = instances.decision_view(evidence).reason_counts
    for code, count in counts.items():
        assert count == len(instances.exclusion_rows(evidence, codes=[code]))


def test_an_unknown_exclusion_text_has_no_code() -> None:
    with pytest.raises(ValueError, match="unknown exclusion reason 'sold out'"):
        instances.exclusion_code("sold out: try later")


def test_decision_view_serialises(tmp_path: Path) -> None:
    import json

    data = instances.decision_view(_evidence(tmp_path)).to_dict()
    assert json.loads(json.dumps(data))["chosen"] == "ml.m5.large"
    assert [s["key"] for s in data["funnel"]] == list(instances.FUNNEL_STEPS)


def test_cli_markdown_has_the_funnel_in_one_line(tmp_path: Path) -> None:
    evidence = _evidence(tmp_path)
    counts = [s.count for s in instances.funnel(evidence)]
    line = next(x for x in instances.to_markdown(evidence).splitlines() if x.startswith("- Funnel: "))
    assert line == (
        f"- Funnel: training types {counts[0]} → with specs {counts[1]} → priced in the region {counts[2]} "
        f"→ fit the need {counts[3]} → with quota {counts[4]} → chosen {counts[5]}"
    )

"""The instance decision: candidates from botocore, the rule, every exclusion reason, the override."""

from __future__ import annotations

import json
from pathlib import Path

import botocore.session
import pytest

from services import instances, pricing, quotas
from services.capacity import Requirement
from services.settings import Settings

TODAY = "2026-11-26"


def requirement(vcpu: int = 1, memory_gib: float = 1.0) -> Requirement:
    return Requirement(vcpu, memory_gib, basis="test requirement", source="test", measured_at=TODAY)


def book(
    prices: dict[str, float], live: bool = False, spot: dict[str, float] | None = None
) -> pricing.PriceBook:
    result = pricing.PriceBook(region="us-east-1", live=live, source="test prices", fetched=TODAY)
    for kind, table in ((pricing.ON_DEMAND_KIND, prices), (pricing.SPOT_KIND, spot or {})):
        for name, usd in table.items():
            result.prices[(name, kind)] = pricing.PriceQuote(
                name, "us-east-1", kind, usd, "test prices", TODAY
            )
    return result


def quota_table(values: dict[tuple[str, bool], float], known: bool = True) -> quotas.QuotaTable:
    table = quotas.QuotaTable(region="us-east-1", source="test quotas", fetched=TODAY, known=known)
    for (name, spot), value in values.items():
        table.quotas[(name, spot)] = quotas.Quota(name, spot, f"L-{name}", value, 0.0, "test quotas", TODAY)
    return table


def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state")


def test_candidates_are_botocores_training_enum() -> None:
    model = botocore.session.get_session().get_service_model("sagemaker")
    expected = list(model.shape_for("TrainingInstanceType").enum)
    assert instances.training_instance_types() == expected
    assert "ml.m5.large" in expected and "ml.t3.medium" in expected
    assert "ml.c5.large" not in instances.training_instance_types()  # facts: not a training type


def test_spec_table_names_its_source_and_only_lists_training_types() -> None:
    specs = instances.load_specs()
    assert specs["ml.m5.large"].vcpu == 2 and specs["ml.m5.large"].memory_gib == 8
    assert specs["ml.t3.medium"].memory_gib == 4 and specs["ml.g4dn.xlarge"].gpus == 1
    assert set(specs) <= set(instances.training_instance_types())
    assert all("docs.aws.amazon.com" in s.source and s.fetched for s in specs.values())


def test_cheapest_type_that_fits_with_quota_wins_and_every_exclusion_has_its_reason(tmp_path: Path) -> None:
    prices = {"ml.t3.medium": 0.05, "ml.t3.large": 0.10, "ml.m5.large": 0.115, "ml.m5.xlarge": 0.23}
    table = quota_table(
        {
            ("ml.t3.medium", False): 1,
            ("ml.t3.large", False): 0,
            ("ml.m5.large", False): 2,
            ("ml.m5.xlarge", False): 5,
        }
    )
    evidence = instances.gather(
        settings(tmp_path), requirement=requirement(1, 6.0), price_book=book(prices), quota_table=table
    )
    decision = evidence.on_demand
    assert decision.chosen == "ml.m5.large"
    reasons = {c.instance_type: " ".join(c.exclusions) for c in decision.candidates}
    assert reasons["ml.t3.medium"].startswith("does not fit: 2 vCPU / 4 GiB < required 1 vCPU / 6 GiB")
    assert reasons["ml.t3.large"].startswith("quota 0")
    assert reasons["ml.m5.xlarge"] == ""  # eligible, just dearer
    assert reasons["ml.c5.xlarge"].startswith("no price")
    assert reasons["ml.p5.4xlarge"].startswith("no specs")
    assert "ml.t3.medium ($0.05/h) was excluded: does not fit" in decision.rationale
    assert "ml.t3.large ($0.1/h) was excluded: quota 0" in decision.rationale


def test_spot_and_on_demand_are_decided_separately(tmp_path: Path) -> None:
    prices = {"ml.m5.large": 0.115, "ml.m5.xlarge": 0.23}
    table = quota_table(
        {
            ("ml.m5.large", False): 1,
            ("ml.m5.large", True): 0,
            ("ml.m5.xlarge", False): 1,
            ("ml.m5.xlarge", True): 1,
        }
    )
    evidence = instances.gather(
        settings(tmp_path), requirement=requirement(), price_book=book(prices), quota_table=table
    )
    assert evidence.on_demand.chosen == "ml.m5.large"
    assert evidence.spot.chosen == "ml.m5.xlarge"
    spot_row = evidence.spot.candidate("ml.m5.large")
    assert spot_row is not None and spot_row.exclusions[0].startswith("quota 0: spot training quota")
    # no SpotTraining product: the on-demand rate, labelled as the spot upper bound
    assert evidence.spot.candidate("ml.m5.xlarge").usd_per_hour == 0.23  # type: ignore[union-attr]
    assert "upper bound" in evidence.spot.candidate("ml.m5.xlarge").price_source  # type: ignore[union-attr]


def test_live_price_list_absence_means_not_offered_in_the_region(tmp_path: Path) -> None:
    evidence = instances.gather(
        settings(tmp_path),
        requirement=requirement(),
        price_book=book({"ml.m5.large": 0.115}, live=True),
        quota_table=quota_table({("ml.m5.large", False): 1}),
    )
    row = evidence.on_demand.candidate("ml.t3.medium")
    assert row is not None and row.exclusions == [
        "not offered in the region: no Price List training product for us-east-1"
    ]


def test_unknown_quota_does_not_exclude_but_the_rationale_says_unverified(tmp_path: Path) -> None:
    table = quotas.unknown_table(
        "us-east-1", "Service Quotas unavailable (AccessDeniedException); quota unknown"
    )
    evidence = instances.gather(
        settings(tmp_path),
        requirement=requirement(),
        price_book=book({"ml.m5.large": 0.115}),
        quota_table=table,
    )
    assert evidence.on_demand.chosen == "ml.m5.large"
    assert "quota is unknown, so it is unverified" in evidence.on_demand.rationale
    assert any("AccessDenied" in w for w in evidence.warnings)


def test_nothing_eligible_gives_no_choice_and_says_so(tmp_path: Path) -> None:
    evidence = instances.gather(
        settings(tmp_path),
        requirement=requirement(1, 4096.0),
        price_book=book({"ml.m5.large": 0.115}),
        quota_table=quota_table({("ml.m5.large", False): 1}),
    )
    assert evidence.on_demand.chosen is None
    assert "No on-demand training instance passes every check" in evidence.on_demand.rationale


def test_local_target_uses_the_snapshot_and_labels_sample_quotas(tmp_path: Path) -> None:
    evidence = instances.gather(settings(tmp_path), requirement=requirement())
    text = instances.to_markdown(evidence)
    assert "sample quotas" in text and "price snapshot" in text
    chosen = evidence.on_demand.candidate(evidence.on_demand.chosen or "")
    assert chosen is not None and chosen.quota_source == "sample quotas" and chosen.price_fetched
    assert evidence.on_demand.chosen == "ml.m5.large"  # t3.medium is cheaper but has sample quota 0
    assert "| ml.t3.medium | 2 | 4 | 0 | 0.05 | 0 / 0 | excluded: quota 0" in text
    json.dumps(evidence.to_dict())  # the JSON output is serialisable


def test_check_choice_records_a_passing_type(tmp_path: Path) -> None:
    evidence = instances.gather(settings(tmp_path), requirement=requirement())
    choice = instances.check_choice(evidence, "ml.m5.large")
    assert choice.passed and choice.override_reason is None and choice.recommended == "ml.m5.large"
    assert choice.usd_per_hour == pytest.approx(0.115) and "price snapshot" in choice.price_source
    # A reason left over for a type that passes is not an override, so none is recorded.
    assert instances.check_choice(evidence, "ml.m5.large", "left over").override_reason is None


def test_check_choice_refuses_a_failing_type_without_an_override(tmp_path: Path) -> None:
    evidence = instances.gather(settings(tmp_path), requirement=requirement())
    with pytest.raises(
        instances.InstanceChoiceError, match=r"ml.t3.medium fails the instance checks \(quota 0"
    ):
        instances.check_choice(evidence, "ml.t3.medium")
    with pytest.raises(instances.InstanceChoiceError, match="override reason"):
        instances.check_choice(evidence, "ml.t3.medium", override_reason="   ")


def test_check_choice_records_the_override_reason(tmp_path: Path) -> None:
    evidence = instances.gather(settings(tmp_path), requirement=requirement())
    choice = instances.check_choice(evidence, "ml.t3.medium", " quota increase approved today ", spot=True)
    assert choice.passed is False and choice.purchase == "spot"
    assert choice.override_reason == "quota increase approved today"
    assert choice.failed_checks[0].startswith("quota 0: spot training quota")


def test_check_choice_rejects_a_type_sagemaker_does_not_train_on(tmp_path: Path) -> None:
    evidence = instances.gather(settings(tmp_path), requirement=requirement())
    with pytest.raises(instances.InstanceChoiceError, match="not a SageMaker training instance type"):
        instances.check_choice(evidence, "ml.c5.large", override_reason="please")


def test_live_price_list_specs_take_precedence_over_the_shipped_table(tmp_path: Path) -> None:
    live = book({"ml.m5.large": 0.115, "ml.m5.xlarge": 0.23}, live=True)
    live.specs["ml.m5.large"] = pricing.ProductSpecs(vcpu=2, memory_gib=4.0, gpus=0)  # as the API reported
    evidence = instances.gather(
        settings(tmp_path),
        requirement=requirement(1, 6.0),
        price_book=live,
        quota_table=quota_table({("ml.m5.large", False): 1, ("ml.m5.xlarge", False): 1}),
    )
    row = evidence.on_demand.candidate("ml.m5.large")
    assert (
        row is not None
        and row.memory_gib == 4.0
        and row.specs_source.startswith("test prices product attributes")
    )
    assert row.exclusions[0].startswith("does not fit")
    assert evidence.on_demand.chosen == "ml.m5.xlarge"


@pytest.mark.parametrize(
    ("instance_type", "message"),
    [("ml.p5.4xlarge", "no vCPU/memory figures"), ("ml.c5.large", "not a SageMaker training instance type")],
)
def test_a_type_that_cannot_be_proved_fails_before_any_docker_run(
    tmp_path: Path, instance_type: str, message: str
) -> None:
    with pytest.raises(instances.InstanceChoiceError, match=message):
        instances.capacity_check(
            settings(tmp_path), "unused-image", tmp_path / "unused.csv", instance_type=instance_type
        )
    assert not (tmp_path / "state").exists()  # nothing measured, nothing saved


def test_on_aws_the_proof_is_the_latest_completed_job_on_the_chosen_type(tmp_path: Path) -> None:
    from services.jobs import JobStore

    aws_settings = Settings(
        target="aws",
        bucket="my-bucket",
        role_arn="arn:aws:iam::111122223333:role/titanic",
        state_dir=tmp_path,
    )
    store = JobStore(aws_settings.job_store_path)
    for name, instance_type, final in [
        ("titanic-old", "ml.m5.large", "Completed"),
        ("titanic-failed", "ml.m5.large", "Failed"),
        ("titanic-other", "ml.m5.xlarge", "Completed"),
    ]:
        job, _ = store.create(target="aws", job_name=name, instance_type=instance_type)
        store.set_status(job.id, "InProgress")
        store.set_status(job.id, final, training_seconds=95.0)
    evidence = instances.gather(
        aws_settings,
        requirement=requirement(),
        price_book=book({"ml.m5.large": 0.115}, live=True),
        quota_table=quota_table({("ml.m5.large", False): 1, ("ml.m5.large", True): 1}),
    )
    proof = evidence.proofs["ml.m5.large"]
    assert proof["job_name"] == "titanic-old" and proof["kind"] == "completed SageMaker job"
    assert "Proof: ml.m5.large: training job titanic-old completed on AWS in 95 s" in instances.to_markdown(
        evidence
    )

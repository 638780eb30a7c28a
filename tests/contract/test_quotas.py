"""The Service Quotas contract, fed by botocore's Stubber (moto has no SageMaker quotas)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from services import quotas

TODAY = dt.date(2026, 11, 26)
ACCOUNT = "123456789012"


def quota(name: str, code: str, value: float, account: bool = True) -> dict[str, Any]:
    owner = f"{ACCOUNT}:" if account else ""
    return {
        "ServiceCode": "sagemaker",
        "ServiceName": "Amazon SageMaker",
        "QuotaArn": f"arn:aws:servicequotas:us-east-1:{owner}sagemaker/{code}",
        "QuotaCode": code,
        "QuotaName": name,
        "Value": value,
        "Unit": "None",
        "Adjustable": True,
        "GlobalQuota": False,
    }


def listing(token: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"ServiceCode": "sagemaker", "MaxResults": 100}
    if token:
        params["NextToken"] = token
    return params


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("service-quotas", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_codes_are_resolved_by_name_across_pages_with_applied_and_default(
    stubbed: tuple[Any, Stubber],
) -> None:
    client, stubber = stubbed
    stubber.add_response(
        "list_service_quotas",
        {
            "Quotas": [
                quota("ml.m5.large for training job usage", "L-611FA074", 4.0),
                quota("Number of training jobs", "L-1234ABCD", 100.0),  # not an instance quota: ignored
            ],
            "NextToken": "page-2",
        },
        listing(),
    )
    stubber.add_response(
        "list_service_quotas",
        {"Quotas": [quota("ml.m5.large for spot training job usage", "L-29688C85", 0.0)]},
        listing("page-2"),
    )
    stubber.add_response(
        "list_aws_default_service_quotas",
        {
            "Quotas": [
                quota("ml.m5.large for training job usage", "L-611FA074", 2.0, account=False),
                quota("ml.m5.large for spot training job usage", "L-29688C85", 2.0, account=False),
                quota("ml.t3.medium for training job usage", "L-AAAA0001", 0.0, account=False),
            ]
        },
        listing(),
    )
    table = quotas.fetch_quota_table(client, "us-east-1", today=TODAY)
    assert table.known and not table.warnings
    on_demand = table.get("ml.m5.large", spot=False)
    assert on_demand is not None and (on_demand.code, on_demand.applied, on_demand.default) == (
        "L-611FA074",
        4.0,
        2.0,
    )
    spot = table.get("ml.m5.large", spot=True)
    assert spot is not None and spot.value == 0.0 and spot.code == "L-29688C85"
    t3 = table.get("ml.t3.medium", spot=False)  # no applied value: the AWS default (0) is in force
    assert t3 is not None and t3.applied is None and t3.value == 0.0
    assert table.get("ml.c5.xlarge", spot=False) is None
    assert (
        on_demand.source == "AWS Service Quotas (sagemaker, us-east-1)" and on_demand.fetched == "2026-11-26"
    )


@pytest.mark.parametrize("code", ["AccessDeniedException", "NoSuchResourceException"])
def test_missing_permission_or_service_means_quota_unknown_with_one_warning(
    stubbed: tuple[Any, Stubber], code: str
) -> None:
    client, stubber = stubbed
    stubber.add_client_error(
        "list_service_quotas", service_error_code=code, service_message="denied", expected_params=listing()
    )
    table = quotas.fetch_quota_table(client, "us-east-1", today=TODAY)
    assert not table.known and table.quotas == {}
    assert table.warnings == [f"Service Quotas unavailable ({code}: denied); quota unknown"]


def test_quota_names_parse_only_training_instance_quotas() -> None:
    assert quotas.parse_quota_name("ml.g4dn.xlarge for spot training job usage") == ("ml.g4dn.xlarge", True)
    assert quotas.parse_quota_name("ml.m7i-flex.large for training job usage") == ("ml.m7i-flex.large", False)
    assert quotas.parse_quota_name("ml.m5.large for endpoint usage") is None
    assert quotas.parse_quota_name("ml.m5.large for processing job usage") is None


def test_sample_quotas_are_labelled_and_hold_a_zero_quota() -> None:
    table = quotas.load_sample("us-east-1")
    assert table.source == quotas.SAMPLE_LABEL == "sample quotas"
    assert "not any account's quotas" in table.description
    assert table.get("ml.m5.large", spot=False).code == "L-611FA074"  # type: ignore[union-attr]  # None would fail the assertion, which is the test
    assert table.get("ml.t3.medium", spot=False).value == 0  # type: ignore[union-attr]  # None would fail the assertion, which is the test


def test_aws_target_without_pricing_or_quota_permissions_still_decides(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from services import aws, instances
    from services.settings import Settings

    clients = {
        "pricing": boto3.client("pricing", region_name="us-east-1"),
        "service-quotas": boto3.client("service-quotas", region_name="us-east-1"),
    }
    stubbers = {name: Stubber(client) for name, client in clients.items()}
    stubbers["pricing"].add_client_error("get_products", service_error_code="AccessDeniedException")
    stubbers["service-quotas"].add_client_error(
        "list_service_quotas", service_error_code="AccessDeniedException"
    )
    seen: list[tuple[str, str | None]] = []

    def fake_client(settings: Settings, service: str, **kwargs: Any) -> Any:
        seen.append((service, kwargs.get("region_name")))
        return clients[service]

    monkeypatch.setattr(aws, "client", fake_client)
    settings = Settings(
        target="aws",
        region="eu-west-1",
        bucket="my-bucket",
        role_arn="arn:aws:iam::111122223333:role/titanic",
        state_dir=tmp_path,
    )
    for stubber in stubbers.values():
        stubber.activate()
    evidence = instances.gather(settings)
    # the Price List is asked in us-east-1 for eu-west-1; quotas in the job's region
    assert seen == [("pricing", "us-east-1"), ("service-quotas", None)]
    assert [w.split(" (")[0] for w in evidence.warnings] == [
        "Price List API unavailable",
        "the price snapshot has no prices for eu-west-1: every type is excluded for no price",
        "Service Quotas unavailable",
    ]
    assert evidence.quota_source == "quota unknown"
    assert evidence.on_demand.chosen is None  # the snapshot holds us-east-1 prices only

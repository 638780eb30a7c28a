"""The Price List API contract, fed by botocore's Stubber (moto does not implement pricing)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from services import pricing

TODAY = dt.date(2026, 11, 26)


def product(
    name: str, usd: str, kind: str = "Training", region: str = "us-east-1", memory: str = "8 GiB"
) -> str:
    """One PriceList entry as the API returns it: a JSON string."""
    sku = f"SKU{abs(hash((name, kind))) % 10**8:08d}"
    return json.dumps(
        {
            "product": {
                "productFamily": "ML Instance",
                "attributes": {
                    "regionCode": region,
                    "usagetype": f"USE1-{'Spot-' if kind == 'SpotTraining' else ''}Train:{name}",
                    "instanceName": name,
                    "platoinstancetype": kind,
                    "vCpu": "2",
                    "memory": memory,
                    "physicalGpu": "N/A",
                },
                "sku": sku,
            },
            "serviceCode": "AmazonSageMaker",
            "terms": {
                "OnDemand": {
                    f"{sku}.JRTCKXETXF": {
                        "priceDimensions": {
                            f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                                "unit": "Hrs",
                                "pricePerUnit": {"USD": usd},
                                "description": f"{name} {kind}",
                            }
                        },
                        "sku": sku,
                    }
                }
            },
        }
    )


def request(kind: str, token: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "ServiceCode": "AmazonSageMaker",
        "Filters": [
            {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"},
            {"Type": "TERM_MATCH", "Field": "platoinstancetype", "Value": kind},
        ],
        "FormatVersion": "aws_v1",
        "MaxResults": 100,
    }
    if token:
        params["NextToken"] = token
    return params


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("pricing", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_paginated_training_and_spot_prices_are_parsed(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_response(
        "get_products",
        {"FormatVersion": "aws_v1", "PriceList": [product("ml.m5.large", "0.1150000000")], "NextToken": "t2"},
        request("Training"),
    )
    stubber.add_response(
        "get_products",
        {"FormatVersion": "aws_v1", "PriceList": [product("ml.t3.medium", "0.0500000000", memory="4 GiB")]},
        request("Training", "t2"),
    )
    stubber.add_response(
        "get_products",
        {
            "FormatVersion": "aws_v1",
            "PriceList": [product("ml.m5.large", "0.0345000000", kind="SpotTraining")],
        },
        request("SpotTraining"),
    )
    book = pricing.fetch_price_book(client, "us-east-1", today=TODAY)
    assert book.live and not book.warnings
    on_demand = book.quote("ml.m5.large", spot=False)
    assert on_demand is not None and on_demand.usd_per_hour == 0.115
    assert on_demand.source.startswith("AWS Price List API") and on_demand.fetched == "2026-11-26"
    assert book.quote("ml.m5.large", spot=True).usd_per_hour == 0.0345  # type: ignore[union-attr]  # None would fail the assertion, which is the test
    # no SpotTraining product: the on-demand rate stands in, and says so
    t3_spot = book.quote("ml.t3.medium", spot=True)
    assert t3_spot is not None and t3_spot.usd_per_hour == 0.05 and "upper bound" in t3_spot.source
    assert book.specs["ml.t3.medium"] == pricing.ProductSpecs(vcpu=2, memory_gib=4.0, gpus=0)
    assert book.quote("ml.c5.xlarge", spot=False) is None


def test_access_denied_degrades_to_the_snapshot_with_one_warning(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_client_error(
        "get_products",
        service_error_code="AccessDeniedException",
        service_message="User is not authorized to perform: pricing:GetProducts",
        http_status_code=400,
        expected_params=request("Training"),
    )
    book = pricing.fetch_price_book(client, "us-east-1", today=TODAY)
    assert not book.live and book.source == "price snapshot"
    assert book.warnings == [
        "Price List API unavailable (AccessDeniedException: User is not authorized to perform: "
        "pricing:GetProducts); using the shipped price snapshot"
    ]
    assert book.quote("ml.m5.large", spot=False).usd_per_hour == 0.115  # type: ignore[union-attr]  # None would fail the assertion, which is the test


def test_entries_for_other_regions_and_zero_prices_are_ignored() -> None:
    prices, _ = pricing.parse_price_list(
        [product("ml.m5.large", "0.1340000000", region="eu-west-1"), product("ml.t3.medium", "0.0000000000")],
        "us-east-1",
        "test",
        "2026-11-26",
    )
    assert prices == {}


def test_snapshot_is_dated_names_its_sources_and_parses_with_the_api_parser() -> None:
    book = pricing.load_snapshot("us-east-1")
    assert book.fetched == "2026-11-26" and "GetProducts" in book.description
    m5 = book.quote("ml.m5.large", spot=False)
    assert m5 is not None and m5.usd_per_hour == 0.115 and "public record" in m5.source
    t3 = book.quote("ml.t3.medium", spot=False)
    assert t3 is not None and "not verified" in t3.source
    # the snapshot holds us-east-1 only: other regions get no prices rather than borrowed ones
    assert pricing.load_snapshot("eu-west-1").prices == {}


def test_a_refreshed_snapshot_reads_back_like_the_live_answer(
    stubbed: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from services import aws, instances
    from services.settings import Settings

    client, stubber = stubbed
    stubber.add_response(
        "get_products",
        {"FormatVersion": "aws_v1", "PriceList": [product("ml.m5.large", "0.1150000000")], "NextToken": "t2"},
        request("Training"),
    )
    stubber.add_response(
        "get_products",
        {"FormatVersion": "aws_v1", "PriceList": [product("ml.m5.xlarge", "0.2300000000", memory="16 GiB")]},
        request("Training", "t2"),
    )
    stubber.add_response(
        "get_products", {"FormatVersion": "aws_v1", "PriceList": []}, request("SpotTraining")
    )
    monkeypatch.setattr(aws, "client", lambda settings, service, **kwargs: client)
    settings = Settings(
        target="aws",
        bucket="my-bucket",
        role_arn="arn:aws:iam::111122223333:role/titanic",
        state_dir=tmp_path,
    )
    path = tmp_path / "snapshot.json"
    assert instances.write_price_snapshot(settings, path) == 2
    book = pricing.load_snapshot("us-east-1", path=path)
    assert {name: q.usd_per_hour for (name, _), q in book.prices.items()} == {
        "ml.m5.large": 0.115,
        "ml.m5.xlarge": 0.23,
    }
    assert "Price List API" in book.description and book.specs["ml.m5.xlarge"].memory_gib == 16


def test_a_refresh_that_cannot_read_the_api_writes_nothing(
    stubbed: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from services import aws, instances
    from services.settings import Settings

    client, stubber = stubbed
    stubber.add_client_error("get_products", service_error_code="AccessDeniedException", service_message="no")
    monkeypatch.setattr(aws, "client", lambda settings, service, **kwargs: client)
    settings = Settings(
        target="aws",
        bucket="my-bucket",
        role_arn="arn:aws:iam::111122223333:role/titanic",
        state_dir=tmp_path,
    )
    with pytest.raises(instances.InstanceChoiceError, match=r"cannot read the Price List API.*AccessDenied"):
        instances.write_price_snapshot(settings, tmp_path / "snapshot.json")
    assert not (tmp_path / "snapshot.json").exists()

"""SageMaker training prices from the AWS Price List API, or from the dated snapshot shipped here.

The snapshot (``services/instance/data/price_snapshot.json``) stores GetProducts responses in the API's own
shape, so one parser reads both. Every price carries its source and the date it was fetched.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from services.messages import Notice

__all__ = [
    "PRICING_API_REGIONS",
    "SERVICE_CODE",
    "PriceBook",
    "PriceQuote",
    "ProductSpecs",
    "fetch_price_book",
    "load_snapshot",
    "parse_price_list",
    "snapshot_document",
]

SERVICE_CODE = "AmazonSageMaker"
# The Price List API is hosted only here; prices for every region are queried from one of them.
PRICING_API_REGIONS = ("us-east-1", "eu-central-1", "ap-south-1")
ON_DEMAND_KIND = "Training"
SPOT_KIND = "SpotTraining"
SNAPSHOT_FILE = "price_snapshot.json"


@dataclass(frozen=True)
class PriceQuote:
    instance_type: str
    region: str
    kind: str  # "Training" or "SpotTraining"
    usd_per_hour: float
    source: str
    fetched: str


@dataclass(frozen=True)
class ProductSpecs:
    """Hardware figures from a Price List product's attributes."""

    vcpu: int
    memory_gib: float
    gpus: int


@dataclass
class PriceBook:
    """Every training price known for one region, plus where they came from."""

    region: str
    live: bool  # True: the Price List API answered for this region, so absence means "not offered"
    source: str
    fetched: str
    description: str = ""
    prices: dict[tuple[str, str], PriceQuote] = field(default_factory=dict)
    specs: dict[str, ProductSpecs] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def quote(self, instance_type: str, spot: bool) -> PriceQuote | None:
        """The hourly price for spot or on-demand training.

        Managed spot is billed at the on-demand rate for BillableTimeInSeconds, so without a
        SpotTraining product the on-demand rate is the honest upper bound.
        """
        if spot:
            spot_quote = self.prices.get((instance_type, SPOT_KIND))
            if spot_quote is not None:
                return spot_quote
            on_demand = self.prices.get((instance_type, ON_DEMAND_KIND))
            if on_demand is None:
                return None
            return PriceQuote(
                instance_type=on_demand.instance_type,
                region=on_demand.region,
                kind=SPOT_KIND,
                usd_per_hour=on_demand.usd_per_hour,
                source=f"{on_demand.source}; on-demand rate, the upper bound for managed spot "
                "(billed as BillableTimeInSeconds at this rate)",
                fetched=on_demand.fetched,
            )
        return self.prices.get((instance_type, ON_DEMAND_KIND))


def _hourly_usd(terms: Mapping[str, Any]) -> float | None:
    for offer in (terms.get("OnDemand") or {}).values():
        for dimension in (offer.get("priceDimensions") or {}).values():
            if dimension.get("unit") != "Hrs":
                continue
            usd = (dimension.get("pricePerUnit") or {}).get("USD")
            if usd is not None:
                return float(usd)
    return None


def _specs(attributes: Mapping[str, str]) -> ProductSpecs | None:
    try:
        vcpu = int(attributes["vCpu"])
        memory_gib = float(attributes["memory"].split()[0].replace(",", ""))
    except (KeyError, ValueError, IndexError):
        return None
    gpu_text = attributes.get("physicalGpu") or attributes.get("gpu") or "0"
    gpus = int(gpu_text) if gpu_text.isdigit() else 0
    return ProductSpecs(vcpu=vcpu, memory_gib=memory_gib, gpus=gpus)


def _instance_name(attributes: Mapping[str, str]) -> str | None:
    name = attributes.get("instanceName")
    if name and name.startswith("ml."):
        return name
    usage = attributes.get("usagetype", "")  # e.g. "USE1-Train:ml.m5.large"
    tail = usage.rsplit(":", 1)[-1]
    return tail if tail.startswith("ml.") else None


def parse_price_list(
    price_list: Iterable[str],
    region: str,
    source: str,
    fetched: str,
    entry_sources: Mapping[str, str] | None = None,
) -> tuple[dict[tuple[str, str], PriceQuote], dict[str, ProductSpecs]]:
    """Parse GetProducts ``PriceList`` strings into quotes keyed by (instance type, kind), and specs."""
    prices: dict[tuple[str, str], PriceQuote] = {}
    specs: dict[str, ProductSpecs] = {}
    for text in price_list:
        item = json.loads(text)
        attributes = item.get("product", {}).get("attributes", {})
        name = _instance_name(attributes)
        kind = attributes.get("platoinstancetype")
        if name is None or kind not in (ON_DEMAND_KIND, SPOT_KIND):
            continue
        if attributes.get("regionCode", region) != region:
            continue
        usd = _hourly_usd(item.get("terms", {}))
        if usd is None or usd <= 0:
            continue
        entry_source = (entry_sources or {}).get(name)
        prices[(name, kind)] = PriceQuote(
            instance_type=name,
            region=region,
            kind=kind,
            usd_per_hour=usd,
            source=f"{source} ({entry_source})" if entry_source else source,
            fetched=fetched,
        )
        product_specs = _specs(attributes)
        if product_specs is not None:
            specs[name] = product_specs
    return prices, specs


def load_snapshot(region: str, warning: str | None = None, path: Path | None = None) -> PriceBook:
    """The shipped snapshot (or one at ``path``), parsed with the same code as a live answer."""
    text = (
        path.read_text()
        if path
        else (resources.files("services.instance") / "data" / SNAPSHOT_FILE).read_text()
    )
    doc = json.loads(text)
    book = PriceBook(
        region=region, live=False, source="price snapshot", fetched=doc["fetched"], description=doc["source"]
    )
    for response in doc["responses"]:
        prices, specs = parse_price_list(
            response["PriceList"], region, "price snapshot", doc["fetched"], doc.get("entry_sources")
        )
        book.prices.update(prices)
        book.specs.update(specs)
    if warning:
        book.warnings.append(warning)
    if not book.prices:
        book.warnings.append(
            Notice(
                f"the price snapshot has no prices for {region}: every type is excluded for no price",
                "warning.snapshot_no_prices",
                {"region": region},
            )
        )
    return book


def _get_products(client: Any, region: str, kind: str) -> list[str]:
    """Every PriceList string for training products of one kind in one region (all pages)."""
    filters = [
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": region},
        {"Type": "TERM_MATCH", "Field": "platoinstancetype", "Value": kind},
    ]
    items: list[str] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {
            "ServiceCode": SERVICE_CODE,
            "Filters": filters,
            "FormatVersion": "aws_v1",
            "MaxResults": 100,
        }
        if token:
            kwargs["NextToken"] = token
        page = client.get_products(**kwargs)
        items.extend(page.get("PriceList", []))
        token = page.get("NextToken")
        if not token:
            return items


def fetch_price_book(client: Any, region: str, today: dt.date | None = None) -> PriceBook:
    """Live prices for ``region`` from a ``pricing`` client; on any API failure the snapshot, with a warning.

    ``client`` must be a Price List client in one of ``PRICING_API_REGIONS``.
    """
    fetched = (today or dt.datetime.now(dt.UTC).date()).isoformat()
    source = f"AWS Price List API (GetProducts, {SERVICE_CODE}, {region})"
    book = PriceBook(region=region, live=True, source=source, fetched=fetched)
    try:
        for kind in (ON_DEMAND_KIND, SPOT_KIND):
            prices, specs = parse_price_list(_get_products(client, region, kind), region, source, fetched)
            book.prices.update(prices)
            book.specs.update(specs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        cause = f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip(": ")
        return load_snapshot(
            region,
            Notice(
                f"Price List API unavailable ({cause}); using the shipped price snapshot",
                "warning.price_list_unavailable",
                {"cause": cause},
            ),
        )
    except BotoCoreError as exc:
        return load_snapshot(
            region,
            Notice(
                f"Price List API unreachable ({exc}); using the shipped price snapshot",
                "warning.price_list_unreachable",
                {"cause": str(exc)},
            ),
        )
    if not book.prices:
        book.warnings.append(
            Notice(
                f"the Price List API returned no SageMaker training prices for {region}",
                "warning.price_list_empty",
                {"region": region},
            )
        )
    return book


def snapshot_document(client: Any, regions: Iterable[str], today: dt.date | None = None) -> dict[str, Any]:
    """A fresh snapshot from the live API, in the shipped file's shape (``load_snapshot`` reads it).

    API errors propagate: a refresh that cannot read the Price List must not write a file.
    """
    fetched = (today or dt.datetime.now(dt.UTC).date()).isoformat()
    responses = []
    for region in regions:
        for kind in (ON_DEMAND_KIND, SPOT_KIND):
            items = _get_products(client, region, kind)
            if items:
                responses.append({"FormatVersion": "aws_v1", "PriceList": items})
    return {
        "source": f"AWS Price List API (GetProducts, {SERVICE_CODE}, platoinstancetype Training and "
        f"SpotTraining), fetched {fetched} by `titanic-sm instances --write-snapshot`",
        "fetched": fetched,
        "entry_sources": {},
        "responses": responses,
    }

"""SageMaker training-instance quotas from Service Quotas, or from the shipped sample file.

Quota codes are resolved by name ("ml.m5.large for training job usage", "... for spot training job
usage") from paginated listings, never hard-coded. moto has no SageMaker quotas, so the local
target reads ``services/instance/data/sample_quotas.json`` (labelled "sample quotas" wherever shown), which
holds responses in the API's shape and goes through the same parser.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from services.messages import Notice

__all__ = [
    "SAMPLE_LABEL",
    "Quota",
    "QuotaTable",
    "fetch_quota_table",
    "load_sample",
    "parse_quota_name",
]

SERVICE_CODE = "sagemaker"
SAMPLE_LABEL = "sample quotas"
SAMPLE_FILE = "sample_quotas.json"
_QUOTA_NAME = re.compile(r"^(ml\.[a-z0-9.-]+) for (spot )?training job usage$", re.IGNORECASE)


@dataclass(frozen=True)
class Quota:
    instance_type: str
    spot: bool
    code: str
    applied: float | None  # None: no applied value was returned, the default applies
    default: float | None
    source: str
    fetched: str

    @property
    def value(self) -> float | None:
        """The limit in force: the applied value, else the AWS default."""
        return self.applied if self.applied is not None else self.default


@dataclass
class QuotaTable:
    region: str
    source: str
    fetched: str
    known: bool  # False: quotas could not be read, every quota is "unknown"
    description: str = ""
    quotas: dict[tuple[str, bool], Quota] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def get(self, instance_type: str, spot: bool) -> Quota | None:
        return self.quotas.get((instance_type, spot))


def parse_quota_name(name: str) -> tuple[str, bool] | None:
    """("ml.m5.large", spot?) for a training-instance quota name, None for any other quota."""
    match = _QUOTA_NAME.match(name.strip())
    if match is None:
        return None
    return match.group(1).lower(), match.group(2) is not None


def _by_name(quotas: Iterable[Mapping[str, Any]]) -> dict[tuple[str, bool], Mapping[str, Any]]:
    found: dict[tuple[str, bool], Mapping[str, Any]] = {}
    for quota in quotas:
        key = parse_quota_name(quota.get("QuotaName", ""))
        if key is not None:
            found[key] = quota
    return found


def build_table(
    applied: Iterable[Mapping[str, Any]],
    defaults: Iterable[Mapping[str, Any]],
    region: str,
    source: str,
    fetched: str,
) -> QuotaTable:
    """Join applied values and AWS defaults by quota name into one table."""
    applied_by_name = _by_name(applied)
    defaults_by_name = _by_name(defaults)
    table = QuotaTable(region=region, source=source, fetched=fetched, known=True)
    for key in applied_by_name.keys() | defaults_by_name.keys():
        applied_quota = applied_by_name.get(key)
        default_quota = defaults_by_name.get(key)
        code = (applied_quota or default_quota or {}).get("QuotaCode", "")
        table.quotas[key] = Quota(
            instance_type=key[0],
            spot=key[1],
            code=code,
            applied=float(applied_quota["Value"]) if applied_quota and "Value" in applied_quota else None,
            default=float(default_quota["Value"]) if default_quota and "Value" in default_quota else None,
            source=source,
            fetched=fetched,
        )
    return table


def _list_all(client: Any, operation: str) -> list[Mapping[str, Any]]:
    """Every quota from a paginated list operation (NextToken loop)."""
    quotas: list[Mapping[str, Any]] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"ServiceCode": SERVICE_CODE, "MaxResults": 100}
        if token:
            kwargs["NextToken"] = token
        page = getattr(client, operation)(**kwargs)
        quotas.extend(page.get("Quotas", []))
        token = page.get("NextToken")
        if not token:
            return quotas


def _cause(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip(": ")
    return str(exc)


def unknown_table(region: str, warning: str) -> QuotaTable:
    return QuotaTable(region=region, source="quota unknown", fetched="", known=False, warnings=[warning])


def fetch_quota_table(client: Any, region: str, today: dt.date | None = None) -> QuotaTable:
    """Applied and default training quotas from a ``service-quotas`` client in ``region``.

    Missing permissions (AccessDenied) or any other API failure give a table of unknown quotas
    with a one-line warning, never an exception.
    """
    fetched = (today or dt.datetime.now(dt.UTC).date()).isoformat()
    source = f"AWS Service Quotas ({SERVICE_CODE}, {region})"
    try:
        applied = _list_all(client, "list_service_quotas")
        defaults = _list_all(client, "list_aws_default_service_quotas")
    except (ClientError, BotoCoreError) as exc:
        return unknown_table(
            region,
            Notice(
                f"Service Quotas unavailable ({_cause(exc)}); quota unknown",
                "warning.quotas_unavailable",
                {"cause": _cause(exc)},
            ),
        )
    return build_table(applied, defaults, region, source, fetched)


def load_sample(region: str, path: Path | None = None) -> QuotaTable:
    """The local account's quotas, parsed like a live answer and labelled "sample quotas": the
    shipped sample, or ``path`` in the same shape (the ``local_quotas_file`` setting)."""
    source = Path(path) if path is not None else (resources.files("services.instance") / "data" / SAMPLE_FILE)
    doc = json.loads(source.read_text())
    applied = [q for page in doc["ListServiceQuotas"] for q in page["Quotas"]]
    defaults = [q for page in doc["ListAWSDefaultServiceQuotas"] for q in page["Quotas"]]
    table = build_table(applied, defaults, region, SAMPLE_LABEL, doc["fetched"])
    table.description = doc["source"]
    return table

"""The lines a service hands a page besides errors (the instance decision's warnings and each
exclusion's detail) are Notices: their English words as the string, worded in Korean by the
catalogue entry they name, the English entry saying what the string says."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from services import messages
from services.instance import capacity, instances, pricing, quotas
from services.messages import Notice
from services.settings import Settings

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _lines(evidence: instances.Evidence) -> list[str]:
    rows = [*evidence.on_demand.candidates, *evidence.spot.candidates]
    return [*evidence.warnings, *(line for row in rows for line in row.exclusions)]


def _evidences(tmp_path: Path) -> list[instances.Evidence]:
    local = Settings(state_dir=tmp_path / "a")
    aws = Settings(
        state_dir=tmp_path / "c",
        target="aws",
        bucket="titanic-sm-notices",
        role_arn="arn:aws:iam::123456789012:role/titanic-sm-training",
    )
    # A need only the larger types meet: the others are excluded as too small.
    large = capacity.Requirement(8, 30.0, "a test's need", "test", "2026-12-02")
    return [
        instances.gather(local, requirement=large),  # the local stack's sample quotas: some are 0
        instances.gather(aws, offline=True),  # quotas not read
        # A region the price snapshot does not cover: every type is excluded for no price.
        instances.gather(Settings(state_dir=tmp_path / "b", region="ap-southeast-7"), offline=True),
    ]


def _assert_worded(line: str) -> str:
    assert isinstance(line, Notice), f"not a Notice: {line!r}"
    entry = messages.catalogue()[line.key]
    assert entry["en"].format(**line.values) == line, line.key  # the catalogue says what it says
    assert line.text("en") == line
    korean = line.text("ko")
    assert HANGUL.search(korean) and korean != line, (line.key, korean)
    return line.key


def test_every_warning_and_exclusion_is_worded_by_its_catalogue_entry(tmp_path: Path) -> None:
    keys = {_assert_worded(line) for evidence in _evidences(tmp_path) for line in _lines(evidence)}
    assert {
        "exclusion.does_not_fit",
        "exclusion.no_price",
        "warning.quotas_offline",
        "warning.snapshot_no_prices",
    } <= keys, keys
    assert any(key.startswith("exclusion.quota_zero") for key in keys), keys


def test_a_quota_exclusion_reads_in_korean(tmp_path: Path) -> None:
    evidence = instances.gather(Settings(state_dir=tmp_path))
    zero = next(
        line for row in evidence.spot.candidates for line in row.exclusions if line.startswith("quota 0")
    )
    assert isinstance(zero, Notice)
    assert zero.text("ko").startswith("쿼터 0: 스팟 학습 쿼터 "), zero.text("ko")
    assert messages.worded(zero, "ko") == zero.text("ko")
    assert messages.worded("plain text", "ko") == "plain text"  # anything else: as it is


def test_a_denied_price_list_and_quota_call_warn_in_both_languages() -> None:
    prices = boto3.client("pricing", region_name="us-east-1")
    limits = boto3.client("service-quotas", region_name="us-east-1")
    with Stubber(prices) as price_stub, Stubber(limits) as quota_stub:
        price_stub.add_client_error("get_products", "AccessDeniedException", "not authorized")
        quota_stub.add_client_error("list_service_quotas", "AccessDeniedException", "denied")
        book = pricing.fetch_price_book(prices, "us-east-1")
        table = quotas.fetch_quota_table(limits, "us-east-1")
    (price_warning,) = book.warnings
    (quota_warning,) = table.warnings
    for line in (price_warning, quota_warning):
        _assert_worded(line)
    assert price_warning == (
        "Price List API unavailable (AccessDeniedException: not authorized); using the shipped price snapshot"
    )
    assert messages.worded(price_warning, "ko") == (
        "Price List API를 쓸 수 없어(AccessDeniedException: not authorized) 함께 제공된 가격 스냅샷을 씁니다"
    )
    assert messages.worded(quota_warning, "ko") == (
        "Service Quotas를 쓸 수 없습니다(AccessDeniedException: denied): 쿼터를 알 수 없습니다"
    )


def test_the_evidence_keeps_its_korean_through_the_page_cache_and_json(tmp_path: Path) -> None:
    import json

    evidence = _evidences(tmp_path)[2]
    copied: Any = pickle.loads(pickle.dumps(evidence))  # what st.cache_data does
    assert [w.text("ko") for w in copied.warnings] == [w.text("ko") for w in evidence.warnings]
    assert json.loads(json.dumps(evidence.to_dict()))["warnings"] == [str(w) for w in evidence.warnings]


def test_a_notice_the_catalogue_cannot_fill_falls_back_to_its_english() -> None:
    assert Notice("no such key", "warning.no_such_key").text("ko") == "no such key"
    assert Notice("missing value", "exclusion.no_price").text("ko") == "missing value"


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_instance_exclusion_rows_keep_the_notices(tmp_path: Path, lang: str) -> None:
    evidence = _evidences(tmp_path)[0]
    rows = instances.exclusion_rows(evidence)
    assert rows and all(isinstance(reason, Notice) for row in rows for reason in row.reasons)
    worded = [messages.worded(reason, lang) for row in rows for reason in row.reasons]
    assert all(bool(HANGUL.search(line)) == (lang == "ko") for line in worded)


def test_the_requirements_basis_reads_in_korean_in_the_long_rationale() -> None:
    result = capacity.ProbeResult(
        image="titanic@sha256:" + "0" * 64,
        cpus=1.0,
        memory_limit_bytes=4 * 2**30,
        completed=True,
        exit_code=0,
        wall_seconds=12.34,
        docker_seconds=15.0,
        peak_memory_bytes=300 * 2**20,
        cgroup="v2",
        measured_at="2026-12-02T07:00:00+00:00",
    )
    measured = capacity.requirement_from_probe(result)
    assumed = capacity.assumed_requirement()
    for requirement in (measured, assumed):
        _assert_worded(requirement.basis)
    assert messages.worded(measured.basis, "ko").startswith("용량 측정: 최대 메모리 300 MiB x 안전 계수 ")
    assert measured.basis.startswith("capacity probe: peak memory 300 MiB x safety factor ")
    decision = instances.decide([], assumed, spot=False)  # nothing eligible: the need is the whole text
    korean = instances.rationale_text(decision, "ko")
    assert messages.worded(assumed.basis, "ko") in korean and "assumed (" not in korean, korean
    assert instances.rationale_text(decision, "en") == decision.rationale


def _notice_sites() -> list[tuple[str, str, str]]:
    """(site, the template its literal English makes, the catalogue's English) for every
    ``Notice(english, key, {values})`` in services/."""
    import ast

    from test_error_catalogue import ROOT, _constants, _template

    found = []
    # messages.notice(key, **values) makes its English from the catalogue entry itself.
    helper = ROOT / "services" / "messages" / "__init__.py"
    for path in sorted(p for p in (ROOT / "services").rglob("*.py") if p != helper):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = _constants(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Notice"):
                continue
            english, key, *rest = node.args
            # A key is a constant, or one of two by a condition ("..._spot" if spot else "...").
            options = [key.body, key.orelse] if isinstance(key, ast.IfExp) else [key]
            assert all(isinstance(o, ast.Constant) for o in options), f"{path.name}:{node.lineno}"
            values = rest[0] if rest else ast.Dict(keys=[], values=[])
            assert isinstance(values, ast.Dict), f"{path.name}:{node.lineno}: values must be a literal dict"
            named = {
                k.value: v
                for k, v in zip(values.keys, values.values, strict=True)
                if isinstance(k, ast.Constant)
            }
            made = _template(english, named, constants)
            assert made is not None, f"{path.name}:{node.lineno}: the English must be a literal"
            for one in (o.value for o in options if isinstance(o, ast.Constant)):
                site = f"{path.relative_to(ROOT)}:{node.lineno} ({one})"
                found.append((site, made, messages.catalogue().get(one, {}).get("en", "")))
    return found


NOTICE_SITES = _notice_sites()


def test_the_notice_scan_finds_the_preflight_and_instance_lines() -> None:
    assert len(NOTICE_SITES) >= 50, len(NOTICE_SITES)


@pytest.mark.parametrize("site, made, wanted", NOTICE_SITES, ids=[s[0] for s in NOTICE_SITES])
def test_each_notices_english_is_its_catalogue_entry_word_for_word(site: str, made: str, wanted: str) -> None:
    assert made == wanted, f"{site}: the code says {made!r}, the catalogue {wanted!r}"

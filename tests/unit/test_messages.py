"""The message catalogue: every entry has both languages, keys are unique, placeholders fill."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from services import messages


def test_every_entry_has_korean_and_english() -> None:
    entries = messages.catalogue()
    assert entries, "the catalogue is empty"
    for key, entry in entries.items():
        assert set(entry) == set(messages.LANGUAGES), key
        assert all(entry[lang].strip() for lang in messages.LANGUAGES), key


def test_both_languages_use_the_same_placeholders() -> None:
    def fields(template: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}

    # The Korean words these English values itself, with an entry per value (e.g. 온디맨드 / 스팟).
    worded_in_korean = {"purchase"}
    for key, entry in messages.catalogue().items():
        ko, en = fields(entry["ko"]), fields(entry["en"])
        assert ko <= en and en - ko <= worded_in_korean, key


def test_text_is_korean_by_default_and_english_on_request() -> None:
    assert messages.text("app.title") == messages.catalogue()["app.title"]["ko"]
    assert messages.text("app.title", "en") == "Titanic SageMaker training dashboard"


def test_an_unknown_key_names_itself() -> None:
    with pytest.raises(messages.MessageError, match=r"no message 'no\.such\.key'"):
        messages.text("no.such.key", "en")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("en", "en"),
        ("EN-us", "en"),
        ("ko-KR,ko;q=0.9,en;q=0.8", "ko"),
        ("fr-FR,en;q=0.5", "en"),
        (None, "ko"),
        ("de", "ko"),
        ("ko_KR.UTF-8", "ko"),  # TITANIC_SM_LANG as a locale
        # Accept-Language by weight, not by position: the browser's first choice wins.
        ("en;q=0.5, ko", "ko"),
        ("en-US;q=0.8,ko-KR;q=0.9", "ko"),
        ("ko-KR;q=0.7,en-US;q=0.8,de", "en"),
        ("ko;q=0, en;q=0.1", "en"),  # q=0: not acceptable
        ("ko;q=x, en;q=0.3", "en"),  # a weight that is not a number counts as refused
        ("ko;q=0", "ko"),  # nothing acceptable named: the default
    ],
)
def test_language_of_reads_codes_and_accept_language(value: str | None, expected: str) -> None:
    assert messages.language_of(value) == expected


def test_a_key_defined_twice_or_half_translated_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.toml").write_text('["x.y"]\nko = "가"\nen = "a"\n', encoding="utf-8")
    (tmp_path / "b.toml").write_text('["x.y"]\nko = "나"\nen = "b"\n', encoding="utf-8")
    monkeypatch.setattr(messages, "_FOLDER", tmp_path)
    messages.catalogue.cache_clear()
    try:
        with pytest.raises(messages.MessageError, match="defined twice"):
            messages.catalogue()
        (tmp_path / "b.toml").write_text('["x.z"]\nko = "나"\n', encoding="utf-8")
        messages.catalogue.cache_clear()
        with pytest.raises(messages.MessageError, match="lacks en"):
            messages.catalogue()
    finally:
        messages.catalogue.cache_clear()


# Names that stay as they are in Korean: AWS services and APIs, SDK calls, units, files, settings.
TECHNICAL_NAMES = (
    "S3",
    "ECR",
    "Estimator.fit",
    "SageMaker",
    "CloudWatch",
    "CloudFormation",
    "IAM",
    "Price List",
    "Service Quotas",
    "botocore",
    "moto",
    "Docker",
    "vCPU",
    "GiB",
    "MiB",
    "AUC",
    "ROC",
    "ARN",
    "JSON",
    "CSV",
    "model.tar.gz",
    "metrics.json",
    "max_run",
    "max_wait",
    "TITANIC_SM_",
)
CODE_SPAN = re.compile(r"`[^`]+`")
INSTANCE_TYPE = re.compile(r"\bml\.[a-z0-9]+\.[a-z0-9]+\b")


def technical_names(english: str) -> set[str]:
    """The code spans, instance types and technical names an English entry uses."""
    named = {name for name in TECHNICAL_NAMES if re.search(rf"(?<![\w.]){re.escape(name)}", english)}
    return named | set(CODE_SPAN.findall(english)) | set(INSTANCE_TYPE.findall(english))


def test_technical_names_stay_as_they_are_in_korean() -> None:
    assert technical_names("push to ECR, then `titanic-sm run` on ml.m5.large (Estimator.fit)") == {
        "ECR",
        "`titanic-sm run`",
        "ml.m5.large",
        "Estimator.fit",
    }
    changed = {
        key: sorted(name for name in technical_names(entry["en"]) if name not in entry["ko"])
        for key, entry in messages.catalogue().items()
    }
    assert {key: names for key, names in changed.items() if names} == {}


def test_every_key_the_services_name_exists_in_both_languages() -> None:
    """The CLI's say(), messages.text(), messages.notice() and the like in services/: a key the
    catalogue lacks would only fail when that line is printed (the pages' keys:
    tests/unit/test_app_catalogue.py)."""
    import ast
    from pathlib import Path

    named = set()
    for path in (Path(messages.__file__).parents[1]).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            key = getattr(node.args[0], "value", None)
            is_key = isinstance(key, str) and re.fullmatch(r"[a-z_]+(\.[a-z0-9_]+)+", key)
            if called in ("say", "text", "_cli_text", "notice") and is_key:
                named.add(str(key))
    assert len(named) >= 40, sorted(named)
    assert sorted(key for key in named if key not in messages.catalogue()) == []

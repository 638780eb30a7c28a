"""The one error root and its catalogue: every host error class is on the root, every code a raise
site names has a Korean and an English entry whose placeholders the raise site fills, and the
English entry says what the error's own message says."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest
from test_data_errors import BAD_INPUTS

from container import data
from services import dataset, errors, messages
from services.errors import InfrastructureError, TitanicError, UserError

ROOT = Path(__file__).resolve().parents[2]
# Where errors with codes are raised: the host, and the container's data validation (whose
# DataError the host re-raises as its own, code and values kept).
SCANNED = [*sorted((ROOT / "services").rglob("*.py")), ROOT / "container" / "data.py"]
HANGUL = re.compile(r"[\uac00-\ud7a3]")
# Classes that are deliberately not on the root, and why.
OFF_ROOT = {
    # A key the catalogue lacks is our bug, not the user's: the CLI's last resort reports it as one.
    "MessageError",
    # The local training control plane's own protocol errors (SageMaker's error codes on the wire),
    # raised and answered inside that server; they never reach a page or the CLI.
    "ApiError",
    "IllegalTransition",
    "JobFailure",
}


def _code_sites() -> list[tuple[str, int, str, set[str] | None]]:
    """(file, line, code, the value names the site gives, or None when it spreads a dict)."""
    sites = []
    for path in SCANNED:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            keywords = {k.arg: k.value for k in node.keywords if k.arg}
            if "code" not in keywords:
                continue
            codes = [
                c.value
                for c in ast.walk(keywords["code"])
                if isinstance(c, ast.Constant) and isinstance(c.value, str)
            ]
            given: set[str] | None = set()
            literal = keywords.get("values")
            if isinstance(literal, ast.Dict):
                for key in literal.keys:
                    if key is None:  # **_at(...): line / row, checked by the behaviour tests below
                        given = None
                        break
                    assert isinstance(key, ast.Constant)
                    given.add(str(key.value))
            elif literal is not None:
                given = None
            for code in codes:
                sites.append((str(path.relative_to(ROOT)), node.lineno, code, given))
    return sites


SITES = _code_sites()


def worded(exc: BaseException, lang: str) -> str:
    """The catalogue's own wording of an error's code and values, in ``lang``."""
    entry = messages.catalogue()[errors.ERROR_KEY_PREFIX + errors.code_of(exc)]
    return entry[lang].format(**errors.values_of(exc))


def test_the_scan_finds_the_coded_errors() -> None:
    codes = {code for _, _, code, _ in SITES}
    # A scan that finds nothing would pass every check below: these must be among what it finds.
    assert {"data.non_numeric", "instance.fails_checks", "training.max_wait_below_max_run"} <= codes
    assert {"cost.over_budget", "data.too_big", "data.bad_fraction"} <= codes
    assert len(codes) >= 60, len(codes)


@pytest.mark.parametrize("where, line, code, given", SITES, ids=[f"{s[0]}:{s[1]}" for s in SITES])
def test_every_raised_code_has_korean_and_english_filled_by_its_site(
    where: str, line: int, code: str, given: set[str] | None
) -> None:
    entry = messages.catalogue().get(errors.ERROR_KEY_PREFIX + code)
    assert entry is not None, f"{where}:{line}: no catalogue entry error.{code}"
    assert HANGUL.search(entry["ko"]), f"error.{code}: the Korean entry has no Korean"
    for lang in messages.LANGUAGES:
        wanted = {name.split(".")[0] for _, name, _, _ in string.Formatter().parse(entry[lang]) if name}
        if given is not None:
            assert wanted <= given, f"{where}:{line}: error.{code} ({lang}) needs {wanted - given}"


def test_every_host_error_class_is_on_the_root() -> None:
    import importlib
    import inspect

    found = []
    for path in sorted((ROOT / "services").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [
            n.name
            for n in tree.body
            if isinstance(n, ast.ClassDef) and re.search(r"(Error|Exception)$", n.name)
        ]
        if not names:
            continue
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for name in names:
            cls = getattr(module, name)
            found.append(name)
            if name in OFF_ROOT:
                assert not issubclass(cls, TitanicError), name
                continue
            assert inspect.isclass(cls) and issubclass(cls, TitanicError), f"{path.name}: {name}"
    assert len(found) >= 25, found


def test_user_and_infrastructure_errors_are_told_apart() -> None:
    from services import cost, docker_cli, instances, jobs, local_stack, settings, storage, training

    for cls in (dataset.DataError, instances.InstanceChoiceError, training.TrainingError, cost.CostError):
        assert issubclass(cls, UserError) and not issubclass(cls, InfrastructureError), cls
    assert issubclass(settings.SettingsError, UserError) and issubclass(jobs.JobNotFoundError, UserError)
    for cls in (local_stack.LocalStackError, docker_cli.DockerError, storage.StorageError):
        assert issubclass(cls, InfrastructureError), cls
    # Callers that catch the builtin still do: a DataError is a ValueError, either DataError catches it.
    assert issubclass(dataset.DataError, ValueError) and issubclass(dataset.DataError, data.DataError)
    assert issubclass(jobs.JobNotFoundError, KeyError)
    assert UserError("x").hint and InfrastructureError("x").hint


@pytest.mark.parametrize("content", [c for c, _ in BAD_INPUTS.values()], ids=list(BAD_INPUTS))
def test_a_bad_csv_reads_the_same_in_english_and_is_korean_in_korean(content: bytes) -> None:
    with pytest.raises(dataset.DataError) as caught:  # the host's DataError, on the root
        dataset.load_frame(content, name="t.csv")
    exc = caught.value
    assert isinstance(exc, UserError) and exc.code, str(exc)
    assert worded(exc, "en") == str(exc), "the catalogue's English must say what the message says"
    assert errors.describe(exc, "en") == str(exc)
    korean = errors.describe(exc, "ko")
    assert HANGUL.search(korean) and korean != str(exc), korean
    assert "t.csv" in korean


def test_the_korean_line_names_the_column_line_and_value() -> None:
    bad = b"PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked\n"
    bad += b'1,0,3,"Braund, Mr. Owen",male,sixty,1,0,A/5,7.25,,S\n'
    with pytest.raises(dataset.DataError) as caught:
        dataset.load_checked(bad, "bad.csv")
    assert caught.value.code == "data.non_numeric"
    assert caught.value.values == {"file": "bad.csv", "column": "Age", "value": "'sixty'", "line": 2}
    assert (
        errors.describe(caught.value, "ko") == "bad.csv: 열 'Age'의 2번째 줄 값 'sixty'은(는) 숫자가 아닙니다"
    )


def test_a_code_the_catalogue_lacks_or_a_missing_value_falls_back_to_the_english_line() -> None:
    assert errors.describe(UserError("plain words", code="no.such.code"), "ko") == "plain words"
    assert (
        errors.describe(UserError("the file is empty", code="data.empty_file"), "ko") == "the file is empty"
    )
    assert errors.describe(ValueError("not ours\nsecond line"), "ko") == "not ours"
    worded = errors.describe(UserError("x", code="data.empty_file", values={"file": "a.csv"}), "ko")
    assert worded == "a.csv: 파일이 비어 있습니다"


def test_a_stage_keeps_the_code_of_what_failed_in_it() -> None:
    from services.worker import StageError

    cause = dataset.DataError("t.csv: the file is empty", code="data.empty_file", values={"file": "t.csv"})
    wrapped = StageError.wrapping("data", cause)
    assert str(wrapped) == "data: t.csv: the file is empty"
    assert (wrapped.code, wrapped.values, wrapped.step) == ("data.empty_file", {"file": "t.csv"}, "data")
    assert errors.describe(wrapped, "ko") == "data: t.csv: 파일이 비어 있습니다"


def _launch_refusals(tmp_path: Path) -> list[UserError]:
    """The refusals a user meets on the Instance and Train pages and in `titanic-sm run`."""
    from services import cost, instances, training
    from services.settings import Settings

    settings = Settings(state_dir=tmp_path)
    refused: list[UserError] = []
    good = training.FitRequest(
        job_name="titanic-1",
        image_uri="127.0.0.1:5000/titanic@sha256:" + "0" * 64,
        channels={"train": "s3://bucket/train/"},
    )
    bad_requests = [
        {"use_spot": True, "max_run_seconds": 3600, "max_wait_seconds": 600},
        {"use_spot": True, "max_wait_seconds": None},
        {"max_wait_seconds": 7200},
        {"max_run_seconds": 0},
        {"instance_type": "ml.nothing.large"},
        {"job_name": "no spaces allowed"},
        {"image_uri": "titanic:latest"},
        {"channels": {"validation": "s3://bucket/validation/"}},
        {"channels": {"train": "/tmp/train"}},
    ]
    import dataclasses

    for change in bad_requests:
        with pytest.raises(training.TrainingError) as caught:
            training.validate_request(settings, dataclasses.replace(good, **change))
        refused.append(caught.value)
    evidence = instances.gather(settings, offline=True)
    failing = next(c.instance_type for c in evidence.on_demand.candidates if not c.eligible)
    for instance_type in (failing, "ml.nothing.large"):
        with pytest.raises(instances.InstanceChoiceError) as caught_choice:
            instances.check_choice(evidence, instance_type)
        refused.append(caught_choice.value)
    with pytest.raises(cost.BudgetExceededError) as over:
        cost.check_budget(
            settings.with_overrides(max_job_cost_usd=0.01), "ml.m5.large", spot=False, max_run_seconds=86_400
        )
    refused.append(over.value)
    with pytest.raises(cost.CostError) as no_wait:
        cost.maximum(
            "ml.m5.large", 0.115, "snapshot", 1, max_run_seconds=60, max_wait_seconds=None, spot=True
        )
    refused.append(no_wait.value)
    return refused


def test_launch_refusals_read_the_same_in_english_and_are_korean_in_korean(tmp_path: Path) -> None:
    refusals = _launch_refusals(tmp_path)
    assert len({type(e) for e in refusals}) == 4 and len({e.code for e in refusals}) >= 12
    for exc in refusals:
        assert exc.code, str(exc)
        assert worded(exc, "en") == str(exc)
        korean = errors.describe(exc, "ko")
        assert HANGUL.search(korean) and korean == " ".join(worded(exc, "ko").split()), korean


def test_hints_are_worded_in_both_languages_and_say_what_the_raise_site_says(tmp_path: Path) -> None:
    from services.local_stack import LocalStackError

    down = LocalStackError("moto failed to start on 127.0.0.1:5000: address in use")
    assert errors.hint_text(down, "en") == InfrastructureError.default_hint
    assert "titanic-sm local status" in errors.hint_text(down, "ko") and HANGUL.search(
        errors.hint_text(down, "ko")
    )
    assert errors.hint_text(UserError("x"), "ko") == messages.text("error.hint.user", "ko")
    assert errors.hint_text(UserError("x", hint="do this"), "ko") == "do this"  # no wording: as given
    for exc in _launch_refusals(tmp_path):
        key = f"error.{exc.code}.hint"
        if key in messages.catalogue():
            assert messages.text(key, "en") == exc.hint, key
            assert HANGUL.search(errors.hint_text(exc, "ko")), key
    coded = {e.code for e in _launch_refusals(tmp_path)}
    assert {"instance.fails_checks", "cost.over_budget"} <= coded

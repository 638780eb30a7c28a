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
from services import errors, messages
from services.data import dataset
from services.errors import InfrastructureError, TitanicError, UserError

ROOT = Path(__file__).resolve().parents[2]
# Where errors with codes are raised: the host, and the container's data validation (whose
# DataError the host re-raises as its own, code and values kept).
SCANNED = [
    *sorted((ROOT / "services").rglob("*.py")),
    ROOT / "container" / "data.py",
    ROOT / "container" / "hyperparameters.py",
]
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


# Raises of our error classes that name no code, and why their words need none.
UNCODED = {
    # botocore's own words after the step's name (the LocalStackError case keeps its code).
    ("services/cli.py", "InfrastructureError"),
    # What else Estimator.fit raised, in its own words (SageMaker's refusal has a code).
    ("services/training/estimator.py", "TrainingError"),
    # The trainer's failure file: errors.describe words the part of it that is one of ours.
    ("services/training/local_runner.py", "TrainHereError"),
    # The container's TextModelError text, after the model's path.
    ("services/results/predict.py", "ModelError"),
    # A stop: the CLI (cli.run.stopped) and the pages say it in their own words.
    ("services/training/worker.py", "JobStoppedError"),
}
# Classes whose constructor names the code itself.
CODED_BY_CLASS = {"BudgetExceededError", "JobNotFoundError", "PreflightError"}


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
    from services import docker_cli, settings
    from services.data import storage
    from services.instance import cost, instances
    from services.jobs import store as jobs
    from services.local import stack as local_stack
    from services.training import estimator as training

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
    from services.training.errors import StageError

    cause = dataset.DataError("t.csv: the file is empty", code="data.empty_file", values={"file": "t.csv"})
    wrapped = StageError.wrapping("data", cause)
    assert str(wrapped) == "data: t.csv: the file is empty"
    assert (wrapped.code, wrapped.values, wrapped.step) == ("data.empty_file", {"file": "t.csv"}, "data")
    assert errors.describe(wrapped, "ko") == "data: t.csv: 파일이 비어 있습니다"


def test_failing_pre_flight_checks_are_worded_check_by_check() -> None:
    """`titanic-sm run` wraps the refusal in its preflight stage: in Korean each failing check's
    detail and fix are the catalogue's (the checks' names stay), as many as failed."""
    import pickle

    from services.account import preflight
    from services.messages import Notice
    from services.training.worker import StageError

    spot = preflight.Check(
        "spot",
        "fail",
        Notice("spot needs max_wait", "preflight.spot_needs_max_wait"),
        Notice("set max_wait >= max_run (3600 s)", "preflight.spot_needs_max_wait.fix", {"max_run": 3600}),
    )
    role = preflight.Check("role", "fail", "a line the catalogue does not have")
    ok = preflight.Check("bucket", "ok", "b in us-east-1")
    refused = preflight.PreflightError(preflight.Report((role, ok, spot)))
    english = (
        "role: a line the catalogue does not have; "
        "spot: spot needs max_wait -> set max_wait >= max_run (3600 s)"
    )
    assert str(refused) == english and refused.code == "preflight.failed"
    assert errors.describe(refused, "en") == english
    wrapped = StageError.wrapping(
        "preflight", refused, f"{refused} (nothing was created; `titanic-sm config check`)"
    )
    assert (
        errors.describe(wrapped, "en")
        == f"preflight: {english} (nothing was created; `titanic-sm config check`)"
    )
    korean = errors.describe(wrapped, "ko")
    assert korean.startswith(
        "preflight: role: a line the catalogue does not have; spot: "
        + messages.text("preflight.spot_needs_max_wait", "ko")
        + " -> "
        + messages.text("preflight.spot_needs_max_wait.fix", "ko", max_run=3600)
    ), korean
    assert korean.endswith("(아무것도 만들지 않았습니다. `titanic-sm config check`가 모두 보여 줍니다)"), (
        korean
    )
    again = pickle.loads(pickle.dumps(refused.values["checks"]))  # st.cache_data and the worker pickle
    assert again.text("ko") == refused.values["checks"].text("ko")


def _launch_refusals(tmp_path: Path) -> list[UserError]:
    """The refusals a user meets on the Instance and Train pages and in `titanic-sm run`."""
    from services.instance import cost, instances
    from services.settings import Settings
    from services.training import estimator as training

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
    from services.local.stack import LocalStackError

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


def _our_error_classes() -> set[str]:
    """The names of every class on the host's error root (by their bases, as written)."""
    bases: dict[str, list[str]] = {}
    for path in sorted((ROOT / "services").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases[node.name] = [
                    b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases
                ]

    def ours(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name in ("TitanicError", "UserError", "InfrastructureError"):
            return True
        return name not in seen and any(ours(b, seen | {name}) for b in bases.get(name, []))

    return {name for name in bases if ours(name)} | {"TitanicError", "UserError", "InfrastructureError"}


def test_every_raise_of_our_errors_names_a_code() -> None:
    classes = _our_error_classes()
    assert {"LocalStackError", "SettingsError", "ModelError", "ImageError", "StorageError"} <= classes
    uncoded = []
    for path in sorted((ROOT / "services").rglob("*.py")):
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name not in classes or name in CODED_BY_CLASS or (where, name) in UNCODED:
                continue
            if not any(k.arg == "code" for k in node.keywords):
                uncoded.append(f"{where}:{node.lineno}: {name}")
    assert not uncoded, "raised without a code (give it one, with ko/en in errors.toml):\n" + "\n".join(
        uncoded
    )


def _constants(tree: ast.Module) -> dict[str, str]:
    """A module's own str/int constants and the ones it imports by name from our packages."""
    import importlib

    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            value = node.value.value
            if isinstance(value, str | int) and not isinstance(value, bool):
                found.update({t.id: str(value) for t in node.targets if isinstance(t, ast.Name)})
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.split(".")[0] in ("container", "services")
        ):
            module = importlib.import_module(node.module)
            for alias in node.names:
                value = getattr(module, alias.name, None)
                if isinstance(value, str | int) and not isinstance(value, bool):
                    found[alias.asname or alias.name] = str(value)
    return found


def _escaped(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _call(function: str, argument: ast.expr) -> ast.Call:
    return ast.Call(ast.Name(function, ast.Load()), [argument], [])


def _template(message: ast.expr, values: dict[str, ast.expr], constants: dict[str, str]) -> str | None:
    """The catalogue template a literal message stands for, each ``{expression}`` named by the
    value that gives it; None when the message is not a literal. A LookupError names an
    expression that no value gives (the catalogue could not say it)."""
    if isinstance(message, ast.Constant) and isinstance(message.value, str):
        return _escaped(message.value)
    if isinstance(message, ast.Name) and message.id in constants:
        return _escaped(constants[message.id])
    if not isinstance(message, ast.JoinedStr):
        return None
    by_source = {ast.dump(v): k for k, v in values.items()}
    parts = []
    for piece in message.values:
        if isinstance(piece, ast.Constant):
            parts.append(_escaped(str(piece.value)))
            continue
        assert isinstance(piece, ast.FormattedValue)
        expression = piece.value
        spec = ""
        if piece.format_spec is not None:
            spec = ":" + "".join(
                str(p.value) for p in piece.format_spec.values if isinstance(p, ast.Constant)
            )
        as_text = by_source.get(ast.dump(expression)) or by_source.get(ast.dump(_call("str", expression)))
        if piece.conversion == ord("r"):
            name = by_source.get(ast.dump(_call("repr", expression)))
            if name is None and as_text is not None:  # the text itself: the catalogue quotes it
                parts.append("'{" + as_text + spec + "}'")
                continue
        else:  # f"{x}" shows format(x, ""), which is str(x) for what is raised here
            name = as_text
        if name is None and isinstance(expression, ast.Name) and expression.id in constants and not spec:
            parts.append(_escaped(constants[expression.id]))  # a constant's words, as they are
            continue
        if name is None:
            raise LookupError(ast.unparse(expression))
        parts.append("{" + name + spec + "}")
    return "".join(parts)


def _literal_sites() -> list[tuple[str, str, str | None, str]]:
    """(site, code, the template its message makes, the catalogue's English with the site's
    constant values filled in) for every coded raise whose message is a literal."""
    found = []
    for path in SCANNED:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = _constants(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            keywords = {k.arg: k.value for k in node.keywords if k.arg}
            code = keywords.get("code")
            if not (isinstance(code, ast.Constant) and isinstance(code.value, str)):
                continue
            literal = keywords.get("values")
            if literal is not None and not (isinstance(literal, ast.Dict) and None not in literal.keys):
                continue  # **_at(...): the behaviour tests above check those
            values = (
                {
                    k.value: v
                    for k, v in zip(literal.keys, literal.values, strict=True)
                    if isinstance(k, ast.Constant)
                }
                if isinstance(literal, ast.Dict)
                else {}
            )
            first, *rest = node.args
            # StageError("data", f"..."): the message follows the stage's name.
            staged = (
                isinstance(first, ast.Constant) and rest and isinstance(rest[0], ast.JoinedStr | ast.Constant)
            )
            message = (
                rest[0]
                if staged and isinstance(first.value, str) and isinstance(getattr(rest[0], "value", ""), str)
                else first
            )
            site = f"{path.relative_to(ROOT)}:{node.lineno} ({code.value})"
            try:
                made = _template(message, values, constants)
            except LookupError as exc:
                found.append((site, code.value, f"{{{exc.args[0]}}} is in no value", ""))
                continue
            wanted = messages.catalogue().get(errors.ERROR_KEY_PREFIX + code.value, {}).get("en", "")
            for name, value in values.items():
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    wanted = wanted.replace("{" + name + "}", _escaped(value.value))
            found.append((site, code.value, made, wanted))
    return found


# The sites whose message is not a literal (a constructor's argument) are left to the behaviour tests.
LITERAL_SITES = [site for site in _literal_sites() if site[2] is not None]


def test_the_literal_scan_reads_most_raise_sites() -> None:
    checked = LITERAL_SITES
    assert len(checked) >= 200, len(checked)
    assert {"stack.not_running", "settings.bad_target", "model.missing", "hyperparameter.not_whole"} <= {
        s[1] for s in checked
    }


@pytest.mark.parametrize("site, code, made, wanted", LITERAL_SITES, ids=[s[0] for s in LITERAL_SITES])
def test_each_literal_message_is_its_catalogue_english_word_for_word(
    site: str, code: str, made: str, wanted: str
) -> None:
    assert made == wanted, f"{site}: the site says {made!r}, the catalogue {wanted!r}"


# Bad hyperparameters as a user sends them: each is refused by the container's own schema.
BAD_HYPERPARAMETERS = [
    {"num_leaves": "1.5"},
    {"num_leaves": "1"},
    {"learning_rate": "fast"},
    {"learning_rate": "inf"},
    {"group_survival": "maybe"},
    {"cv_folds": "1"},
    {"num_leave": "8"},
    {"colour": "red", "size": "2"},
]


def _container_errors() -> list[Exception]:
    """What the container refuses and writes as its failure file: bad hyperparameters, bad CSVs."""
    from container import hyperparameters

    found: list[Exception] = []
    for raw in BAD_HYPERPARAMETERS:
        with pytest.raises(hyperparameters.HyperparameterError) as caught:
            hyperparameters.parse(raw)
        found.append(caught.value)
    for content, _ in BAD_INPUTS.values():
        with pytest.raises(dataset.DataError) as refused:
            dataset.load_frame(content, name="train/train.csv")
        found.append(refused.value)
    return found


def test_a_failed_jobs_reason_is_worded_in_korean_from_the_containers_english_line() -> None:
    """SageMaker's FailureReason stays the container's English line; a Korean page reads the same
    error the catalogue words from its code and values, the framing around it kept."""
    from container.errors import failure_reason

    refused = _container_errors()
    assert len({errors.code_of(e) for e in refused}) >= 20
    for exc in refused:
        line, exit_code = failure_reason(exc)  # what the container writes to output/failure
        reason = f"AlgorithmError: {line}, exit code: {exit_code}"  # as the control plane reports it
        assert worded(exc, "en") == line, "the catalogue's English must say what the container says"
        korean = errors.failure_text(reason, "ko")
        assert korean == f"AlgorithmError: {errors.describe(exc, 'ko')}, exit code: {exit_code}", reason
        assert HANGUL.search(korean)
        assert errors.failure_text(reason, "en") == reason
        # ...and the job store's record of it, after the worker's stage and job words.
        recorded = f"fit: job titanic-1 failed: {reason}"
        assert errors.failure_text(recorded, "ko") == f"fit: 작업 titanic-1이(가) 실패했습니다: {korean}"


def test_a_reason_that_is_none_of_ours_is_shown_as_sagemaker_gave_it() -> None:
    for reason in (
        "AlgorithmError: Framework error: KeyError: 'x', exit code: 2",
        "InternalServerError: uploading the model failed: boom",
        "CapacityError: Unable to provision requested ML compute capacity.",
        "",
    ):
        assert errors.failure_text(reason, "ko") == reason
    assert errors.failure_text(None, "ko") == ""


def test_the_host_records_of_a_failure_are_worded_too() -> None:
    """A stage failure the worker records ("data: ..."), and the local stack being down."""
    from services.local.stack import LocalStackError
    from services.training.errors import StageError

    cause = dataset.DataError("t.csv: the file is empty", code="data.empty_file", values={"file": "t.csv"})
    assert (
        errors.failure_text(str(StageError.wrapping("data", cause)), "ko")
        == "data: t.csv: 파일이 비어 있습니다"
    )
    down = LocalStackError(
        "the local stack is not running: run `titanic-sm local up` or `make run` (moto down; state in /s)",
        code="stack.not_running",
        values={"down": "moto", "folder": "/s"},
    )
    assert errors.failure_text(str(down), "ko") == errors.describe(down, "ko")


def test_an_uncoded_error_quoting_one_of_ours_is_worded_where_it_quotes(tmp_path: Path) -> None:
    from services.training.local_runner import TrainHereError

    trainer = TrainHereError("hyperparameter num_leaves='1.5' is not a whole number", 1)
    assert errors.describe(trainer, "ko") == "하이퍼파라미터 num_leaves='1.5'은(는) 정수가 아닙니다"
    assert errors.describe(trainer, "en") == str(trainer)

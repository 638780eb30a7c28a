"""The CLI speaks English; TITANIC_SM_LANG=ko switches the messages the catalogue has."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from services import messages
from services.cli import app

HANGUL = re.compile(r"[\uac00-\ud7a3]")


ENGLISH_REGION = "error: --region must look like us-east-1, not 'Mars'"
KOREAN_REGION = "오류: --region은 us-east-1 같은 형식이어야 합니다 (받은 값: 'Mars')"


@pytest.mark.parametrize(
    ("lang", "line"),
    [(None, ENGLISH_REGION), ("en", ENGLISH_REGION), ("ko", KOREAN_REGION), ("ko_KR.UTF-8", KOREAN_REGION)],
)
def test_the_error_line_follows_titanic_sm_lang(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, lang: str | None, line: str
) -> None:
    if lang is None:
        monkeypatch.delenv("TITANIC_SM_LANG", raising=False)
    else:
        monkeypatch.setenv("TITANIC_SM_LANG", lang)
    monkeypatch.setenv("TITANIC_SM_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["instances", "--region", "Mars"])
    assert result.exit_code == 1
    assert result.stderr.strip() == line


def test_a_data_error_is_korean_with_titanic_sm_lang_ko(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"<html><body>not found</body></html>")
    monkeypatch.setenv("TITANIC_SM_STATE_DIR", str(tmp_path))
    args = ["data", "prepare", "--source", str(bad), "--out", str(tmp_path / "o")]
    monkeypatch.setenv("TITANIC_SM_LANG", "ko")
    korean = CliRunner().invoke(app, args)
    assert (korean.exit_code, korean.output) == (
        1,
        "오류: bad.csv: CSV 파일이 아닙니다 (HTML 또는 XML로 보입니다)\n",
    )
    monkeypatch.delenv("TITANIC_SM_LANG")
    english = CliRunner().invoke(app, args)
    assert (english.exit_code, english.output) == (
        1,
        "error: bad.csv: not a CSV file (it looks like HTML or XML)\n",
    )


def test_a_user_error_keeps_its_exit_code_and_a_bug_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from services.training import local_runner

    monkeypatch.delenv("TITANIC_SM_LANG", raising=False)
    monkeypatch.setenv("TITANIC_SM_STATE_DIR", str(tmp_path))

    def trainer_refuses(*args: object) -> object:
        raise local_runner.TrainHereError("Framework error: the trainer crashed", 2)

    monkeypatch.setattr(local_runner, "train_here", trainer_refuses)
    refused = CliRunner().invoke(app, ["train-here", "--train", "t.csv", "--model-dir", str(tmp_path)])
    assert (refused.exit_code, refused.output) == (2, "error: Framework error: the trainer crashed\n")

    def broken(*args: object) -> object:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(local_runner, "train_here", broken)
    bug = CliRunner().invoke(app, ["train-here", "--train", "t.csv", "--model-dir", str(tmp_path)])
    log = tmp_path / "logs" / "cli-errors.log"
    assert bug.exit_code == 1
    assert bug.output == (
        "error: internal error (a bug in titanic-sm, please report it): ZeroDivisionError: "
        f"division by zero; the traceback is in {log}\n"
    )
    assert "Traceback" in log.read_text() and "ZeroDivisionError" in log.read_text()


@pytest.mark.parametrize(
    ("env", "korean", "english"),
    [
        (
            {"TITANIC_SM_TARGET": "mars"},
            "오류: target(TITANIC_SM_TARGET)은 'local' 또는 'aws'여야 합니다 (받은 값: 'mars')",
            "error: target (TITANIC_SM_TARGET) must be 'local' or 'aws', not 'mars'",
        ),
        (
            {"TITANIC_SM_MAX_RUN_SECONDS": "abc"},
            "오류: TITANIC_SM_MAX_RUN_SECONDS은(는) 정수여야 합니다 (받은 값: 'abc')",
            "error: TITANIC_SM_MAX_RUN_SECONDS must be a whole number, not 'abc'",
        ),
    ],
)
def test_a_settings_error_is_korean_with_titanic_sm_lang_ko(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], korean: str, english: str
) -> None:
    monkeypatch.setenv("TITANIC_SM_STATE_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TITANIC_SM_LANG", "ko")
    refused = CliRunner().invoke(app, ["jobs", "list"])
    assert (refused.exit_code, refused.stderr.strip()) == (1, korean)
    monkeypatch.setenv("TITANIC_SM_LANG", "en")
    refused = CliRunner().invoke(app, ["jobs", "list"])
    assert (refused.exit_code, refused.stderr.strip()) == (1, english)


def test_the_instance_decisions_warnings_follow_titanic_sm_lang(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TITANIC_SM_STATE_DIR", str(tmp_path))
    args = ["instances", "--region", "ap-southeast-7", "--offline", "--json"]
    monkeypatch.setenv("TITANIC_SM_LANG", "ko")
    korean = CliRunner().invoke(app, args)
    assert korean.exit_code == 0, korean.output
    assert "경고: 가격 스냅샷에 ap-southeast-7의 가격이 없습니다: 모든 유형이 가격 없음으로 제외됩니다" in (
        korean.stderr.splitlines()
    )
    monkeypatch.delenv("TITANIC_SM_LANG")
    english = CliRunner().invoke(app, args)
    assert (
        "warning: the price snapshot has no prices for ap-southeast-7: every type is excluded for no price"
        in english.stderr.splitlines()
    )


# -- usage errors: Typer words them in English; TITANIC_SM_LANG=ko words each kind from the catalogue


@pytest.mark.parametrize(
    ("args", "korean"),
    [
        (
            ["jobs", "list", "--limit", "x"],
            [
                "사용법: titanic-sm jobs list [OPTIONS]",
                "오류: '--limit'에는 정수를 주어야 합니다 (받은 값: 'x')",
                "도움말: titanic-sm jobs list --help",
            ],
        ),
        (
            ["--bogus", "jobs", "list"],
            [
                "사용법: titanic-sm [OPTIONS] COMMAND [ARGS]...",
                "오류: 없는 옵션입니다: --bogus",
                "도움말: titanic-sm --help",
            ],
        ),
        (["instances", "--regoin", "x"], None),
        (["jobs", "lst"], None),
        (["train-here"], None),
        (["jobs", "show"], None),
        (["jobs", "list", "extra"], None),
        (["probe", "--cpus", "abc"], None),
        (["run", "--spot=3"], ["오류: 옵션 '--spot'은(는) 값을 받지 않습니다"]),
        (["jobs", "list", "--limit"], ["오류: 옵션 '--limit'에는 값이 필요합니다"]),
    ],
)
def test_a_usage_error_is_korean_with_titanic_sm_lang_ko(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], korean: list[str] | None
) -> None:
    monkeypatch.setenv("TITANIC_SM_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("TITANIC_SM_LANG", "ko")
    result = CliRunner().invoke(app, args, prog_name="titanic-sm")
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    if korean is not None:
        assert lines == korean
    errors = [line for line in lines if line.startswith("오류: ")]
    assert len(errors) == 1 and HANGUL.search(errors[0].removeprefix("오류: ")), lines
    assert not any(word in result.stderr for word in ("Usage:", "Error", "No such", "Missing", "Invalid"))
    monkeypatch.delenv("TITANIC_SM_LANG")
    english = CliRunner().invoke(app, args)  # Typer's own English display, as before
    assert english.exit_code == 2 and "Error" in english.stderr and "오류" not in english.stderr


@pytest.mark.parametrize(
    ("args", "korean_line"),
    [
        (["instances", "--regoin", "x"], "오류: 없는 옵션입니다: --regoin (비슷한 이름: --region)"),
        (["jobs", "lst"], "오류: 없는 명령입니다: 'lst' (비슷한 이름: 'list')"),
        (["train-here"], "오류: 필수 옵션 '--train'이(가) 없습니다"),
        (["jobs", "show"], "오류: 필수 인자 'job'이(가) 없습니다"),
        (["jobs", "list", "extra"], "오류: 예상하지 못한 인자가 더 있습니다: extra"),
        (["probe", "--cpus", "abc"], "오류: '--cpus'에는 숫자를 주어야 합니다 (받은 값: 'abc')"),
    ],
)
def test_each_kind_of_usage_error_names_what_was_typed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], korean_line: str
) -> None:
    monkeypatch.setenv("TITANIC_SM_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("TITANIC_SM_LANG", "ko")
    assert korean_line in CliRunner().invoke(app, args).stderr.splitlines()


@pytest.mark.parametrize("args", [[], ["jobs"], ["--help"]])
def test_no_arguments_still_print_the_help_in_korean_mode(
    monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.setenv("TITANIC_SM_LANG", "ko")
    result = CliRunner().invoke(app, args)
    assert "Usage:" in result.output and "list" in result.output and "오류" not in result.output


@pytest.mark.parametrize(
    ("args", "korean"),
    [
        (
            ["probe", "--cpus", "0"],
            "오류: --cpus는 0보다 커야 하고 --memory-mib는 6 이상이어야 합니다 (받은 값: 0, 2048)",
        ),
        (["jobs", "list", "--status", "Done"], "오류: 알 수 없는 상태 'Done'; 가능한 값: "),
        (["submission", "--lang", "fr"], "오류: --lang은 ko 또는 en이어야 합니다 (받은 값: 'fr')"),
        (
            ["config", "init", "--out", "{tmp}/exists.toml"],
            "오류: {tmp}/exists.toml이(가) 이미 있습니다. 덮어쓰려면 --force를 주세요",
        ),
    ],
)
def test_a_refused_flag_value_is_korean_with_titanic_sm_lang_ko(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], korean: str
) -> None:
    (tmp_path / "exists.toml").write_text("")
    monkeypatch.setenv("TITANIC_SM_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("TITANIC_SM_LANG", "ko")
    args = [arg.format(tmp=tmp_path) for arg in args]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(korean.format(tmp=tmp_path)), result.stderr
    monkeypatch.delenv("TITANIC_SM_LANG")
    english = CliRunner().invoke(app, args)
    assert english.exit_code == 1 and english.stderr.startswith("error: "), english.stderr
    assert not HANGUL.search(english.stderr), english.stderr


# -- the probe's lines and the data stage's warnings


def test_the_probe_lines_follow_titanic_sm_lang(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from services.data import dataset
    from services.instance import capacity, instances

    measured = capacity.ProbeResult(
        "img", 1.0, 2 * 2**30, True, 0, 2.5, 4.0, 300 * 2**20, "v2", "2026-12-01T00:00:00+00:00"
    )
    proof = capacity.ProbeResult(
        "img",
        2.0,
        8 * 2**30,
        True,
        0,
        2.0,
        3.0,
        300 * 2**20,
        "v2",
        "2026-12-01T00:01:00+00:00",
        instance_type="ml.m5.large",
    )
    check = instances.CapacityCheck(measured, capacity.requirement_from_probe(measured), "ml.m5.large", proof)
    prepared = SimpleNamespace(train_path=tmp_path / "train.csv", validation_path=None)
    monkeypatch.setattr(dataset, "read_prepared", lambda _: prepared)
    monkeypatch.setattr(instances, "capacity_check", lambda *a, **k: check)
    monkeypatch.setenv("TITANIC_SM_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("TITANIC_SM_LANG", "ko")
    korean = CliRunner().invoke(app, ["probe", "--image", "img"])
    assert korean.exit_code == 0, korean.output
    assert korean.output.splitlines() == [
        "측정: 완료, 학습 2.5초(컨테이너 시작 포함 4.0초), 한도 --cpus 1 --memory 2 GiB; "
        "최대 메모리 300 MiB = 한도의 14.6% (cgroup v2, 2026-12-01T00:00:00+00:00)",
        f"요구 사항: 1 vCPU, 1 GiB ({messages.worded(check.requirement.basis, 'ko')})",
        "증명: ml.m5.large: 완료, 학습 2.0초(컨테이너 시작 포함 3.0초), 한도 --cpus 2 --memory 8 GiB; "
        "최대 메모리 300 MiB = 한도의 3.7% (cgroup v2, 2026-12-01T00:01:00+00:00)",
    ]
    monkeypatch.delenv("TITANIC_SM_LANG")
    english = CliRunner().invoke(app, ["probe", "--image", "img"]).output.splitlines()
    assert english[0].startswith("measured: completed in 2.5 s of training")
    assert english[2].startswith("proof: ml.m5.large: completed in 2.0 s of training")


def test_the_data_warnings_follow_titanic_sm_lang(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rows = "PassengerId,Survived,Pclass,Name,Sex,Age,SibSp,Parch,Ticket,Fare,Cabin,Embarked,boat,cabin_deck\n"
    rows += "".join(
        f"{i},{i % 2},{1 + i % 3},N{i},{'male' if i % 2 else 'female'},{20 + i},0,0,T{i},{7 + i},,S,,A\n"
        for i in range(1, 41)
    )
    csv = tmp_path / "extra.csv"
    csv.write_text(rows)
    monkeypatch.setenv("TITANIC_SM_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("TITANIC_SM_LANG", "ko")
    args = ["data", "prepare", "--source", str(csv), "--out", str(tmp_path / "out")]
    korean = CliRunner().invoke(app, args)
    assert korean.exit_code == 0, korean.output
    warnings = [line for line in korean.stderr.splitlines() if line.startswith("경고: ")]
    assert warnings == [
        "경고: extra.csv: 모델이 읽지 않는 열 1개를 무시했습니다(S3와 모델에 가지 않음): 'cabin_deck'",
        "경고: extra.csv: 레이블을 누설하는 열을 뺐습니다: 'boat' (침몰 뒤에 기록된 값이라 답을 알려 줍니다)",
    ], korean.stderr
    monkeypatch.delenv("TITANIC_SM_LANG")
    english = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "out2")])
    assert "warning: extra.csv: ignored column 'cabin_deck': the model does not read them" in english.stderr

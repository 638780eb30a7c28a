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


# -- titanic-sm run: the stage lines and the summary


def _fake_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`titanic-sm run` whose pipeline reports through the real pre-flight stage, ``timed`` and the
    stage notes, and ends with a summary of a billed job: no stack, S3, Docker or training."""
    from services import pipeline
    from services.account import preflight
    from services.instance import cost
    from services.messages import Notice, notice
    from services.training import worker

    skipped = preflight.Check(
        "role", "skip", Notice("trust not read: needs working credentials", "preflight.skip.role_trust")
    )
    report = preflight.Report((preflight.Check("region", "ok", "us-east-1"), skipped))
    monkeypatch.setattr(preflight, "require_ready", lambda settings, **request: report)

    def run_pipeline(settings: object, *, progress: object, **_: object) -> pipeline.PipelineResult:
        seconds: dict[str, float] = {}
        pipeline._preflight(settings, progress, seconds)  # type: ignore[arg-type]
        done = worker.timed("upload", progress, seconds)  # type: ignore[arg-type]
        done(notice("progress.dataset_in_s3", version="v7"))
        done = worker.timed("fit", progress, seconds)  # type: ignore[arg-type]
        done()
        summary = {
            "region": "ap-northeast-2",
            "bucket": "titanic-sm-b",
            "repository": "titanic-sm",
            "image": "127.0.0.1:5000/titanic-sm@sha256:abc",
            "job_name": "titanic-1",
            "channels": {"train": "s3://titanic-sm-b/train/", "validation": "s3://titanic-sm-b/validation/"},
            "artifact": "s3://titanic-sm-b/jobs/titanic-1/output/model.tar.gz",
            "metrics": {
                "validation_accuracy": 0.8123,
                "validation_auc": 0.87,
                "cv_accuracy": None,
                "cv_auc": None,
            },
            "cost": 0.0012,
            "cost_basis": cost.cost_basis(SimpleNamespace(billable_seconds=240, target="aws")),  # type: ignore[arg-type]
            "local_path": "runs/titanic-1",
        }
        return pipeline.PipelineResult("j1", "titanic-1", "Completed", summary, {"upload": 0.51, "fit": 3.84})

    monkeypatch.setattr(pipeline, "run_pipeline", run_pipeline)
    monkeypatch.setenv("TITANIC_SM_STATE_DIR", str(tmp_path))


def _stage_lines(stderr: str) -> list[str]:
    """The stage lines without their clock (``[   0.0s] ``)."""
    return [re.sub(r"^\[ *\d+\.\ds\] ", "", line) for line in stderr.splitlines()]


def _seconds_zeroed(line: str) -> str:
    return re.sub(r"\d+\.\d(초| s)", r"0.0\1", line)


def test_the_run_speaks_english_as_before(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_run(monkeypatch, tmp_path)
    monkeypatch.delenv("TITANIC_SM_LANG", raising=False)
    result = CliRunner().invoke(app, ["run"])
    assert result.exit_code == 0, result.output
    assert [_seconds_zeroed(line) for line in _stage_lines(result.stderr)] == [
        "preflight: started",
        "preflight: skip  role        trust not read: needs working credentials",
        "preflight: done in 0.0 s: 2 checks, 0 failed",
        "upload: started",
        "upload: done in 0.0 s: dataset v7 already in S3",
        "fit: started",
        "fit: done in 0.0 s",
    ]
    assert result.stdout.splitlines() == [
        "region:      ap-northeast-2",
        "bucket:      titanic-sm-b",
        "repository:  titanic-sm",
        "image:       127.0.0.1:5000/titanic-sm@sha256:abc",
        "job:         titanic-1 (Completed)",
        "channel:     train s3://titanic-sm-b/train/",
        "channel:     validation s3://titanic-sm-b/validation/",
        "artifact:    s3://titanic-sm-b/jobs/titanic-1/output/model.tar.gz",
        "metrics:     validation accuracy 0.8123, AUC 0.8700; CV accuracy n/a, AUC n/a",
        "cost:        $0.001200 (billable seconds)",
        "local path:  runs/titanic-1",
        "stage times: upload 0.5 s, fit 3.8 s",
    ]


def test_the_run_speaks_korean_with_titanic_sm_lang_ko(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_run(monkeypatch, tmp_path)
    monkeypatch.setenv("TITANIC_SM_LANG", "ko")
    result = CliRunner().invoke(app, ["run"])
    assert result.exit_code == 0, result.output
    skipped = messages.text("preflight.skip.role_trust", "ko")
    assert [_seconds_zeroed(line) for line in _stage_lines(result.stderr)] == [
        "preflight: 시작",
        f"preflight: 생략  role        {skipped}",
        "preflight: 0.0초 만에 완료: 점검 2개 중 0개 실패",
        "upload: 시작",
        "upload: 0.0초 만에 완료: 데이터셋 v7은(는) 이미 S3에 있음",
        "fit: 시작",
        "fit: 0.0초 만에 완료",
    ]
    assert result.stdout.splitlines() == [
        "리전:        ap-northeast-2",
        "버킷:        titanic-sm-b",
        "리포지토리:  titanic-sm",
        "이미지:      127.0.0.1:5000/titanic-sm@sha256:abc",
        "작업:        titanic-1 (Completed)",
        "채널:        train s3://titanic-sm-b/train/",
        "채널:        validation s3://titanic-sm-b/validation/",
        "아티팩트:    s3://titanic-sm-b/jobs/titanic-1/output/model.tar.gz",
        "지표:        검증 정확도 0.8123, AUC 0.8700; CV 정확도 없음, AUC 없음",
        "비용:        $0.001200 (과금 시간(초) 기준)",
        "로컬 경로:   runs/titanic-1",
        "단계별 시간: upload 0.5초, fit 3.8초",
    ]


@pytest.mark.parametrize(
    ("lang", "line"),
    [
        ("en", "[base] using base image python:3.12-slim (from settings)"),
        ("ko", "[base] 베이스 이미지 python:3.12-slim 사용 (설정에서 지정)"),
    ],
)
def test_the_image_stage_lines_follow_titanic_sm_lang(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, lang: str, line: str
) -> None:
    from services.image import images
    from services.local import base_image
    from services.local import stack as local_stack

    def ensure_image(settings: object, progress: object) -> images.ImageRef:
        base_image.resolve_base_image(settings, progress)  # type: ignore[arg-type]
        return images.ImageRef("127.0.0.1:5000/titanic-sm", "ctx-1", "sha256:abc")

    monkeypatch.setattr(local_stack, "ensure_running", lambda settings: None)
    monkeypatch.setattr(base_image, "image_exists", lambda ref: True)
    monkeypatch.setattr(images, "ensure_image", ensure_image)
    monkeypatch.setenv("TITANIC_SM_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("TITANIC_SM_BASE_IMAGE", "python:3.12-slim")
    monkeypatch.setenv("TITANIC_SM_LANG", lang)
    result = CliRunner().invoke(app, ["image"])
    assert result.exit_code == 0, result.output
    assert (result.stderr.splitlines(), result.stdout) == ([line], "127.0.0.1:5000/titanic-sm@sha256:abc\n")


# -- jobs list / show / status and local up / down / status: headers and labels


def _a_recorded_job(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    from services.jobs.store import JobStore
    from services.settings import Settings

    monkeypatch.setenv("TITANIC_SM_STATE_DIR", str(tmp_path))
    store = JobStore(Settings(state_dir=tmp_path).job_store_path)
    job, _ = store.create(target="local", job_name="titanic-1", instance_type="ml.m5.large", use_spot=True)
    store.update(job.id, channels={"train": "s3://b/train/"}, hyperparameters={"num_leaves": "7"})
    store.set_status(job.id, "InProgress", secondary_status="Training", at=3600.0)
    store.set_status(job.id, "Completed", secondary_status="Completed", at=3660.0, validation_accuracy=0.8123)
    return job.id


@pytest.mark.parametrize(
    ("lang", "header", "show", "status", "none"),
    [
        (
            "en",
            "id            name" + " " * 33 + "target status     instance        secs    acc    auc",
            [
                "id:           {id}",
                "name:         titanic-1",
                "target:       local",
                "status:       Completed (Completed)",
                "instance:     ml.m5.large spot",
                "accuracy:     0.8123",
                "channel:      train s3://b/train/",
                "hyperparam:   num_leaves=7",
                "timeline:     01:00:00 InProgress / Training",
                "timeline:     01:01:00 Completed / Completed",
            ],
            [
                "name:                       titanic-1",
                "id:                         {id}",
                "target:                     local",
                "store_status:               Completed",
                "secondary_status:           Completed",
            ],
            "no jobs",
        ),
        (
            "ko",
            "id            이름" + " " * 33 + "대상   상태       인스턴스          초 정확도    AUC",
            [
                "id:             {id}",
                "이름:           titanic-1",
                "대상:           local",
                "상태:           Completed (Completed)",
                "인스턴스:       ml.m5.large 스팟",
                "정확도:         0.8123",
                "채널:           train s3://b/train/",
                "하이퍼파라미터: num_leaves=7",
                "타임라인:       01:00:00 InProgress / Training",
                "타임라인:       01:01:00 Completed / Completed",
            ],
            [
                "이름:                  titanic-1",
                "id:                    {id}",
                "대상:                  local",
                "작업 저장소 상태:      Completed",
                "작업 저장소 보조 상태: Completed",
            ],
            "작업이 없습니다",
        ),
    ],
)
def test_jobs_list_show_and_status_follow_titanic_sm_lang(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    lang: str,
    header: str,
    show: list[str],
    status: list[str],
    none: str,
) -> None:
    """English as before (byte for byte); Korean labels lined up by terminal width."""
    monkeypatch.setenv("TITANIC_SM_LANG", lang)
    job_id = _a_recorded_job(monkeypatch, tmp_path)
    listed = CliRunner().invoke(app, ["jobs", "list"]).stdout.splitlines()
    assert listed[0] == header
    assert listed[1].startswith(f"{job_id:<12}  titanic-1 ")
    shown = CliRunner().invoke(app, ["jobs", "show", job_id]).stdout.splitlines()
    # Then the Pending transition, stamped when the job was created.
    assert shown[:10] == [line.format(id=job_id) for line in show]
    told = CliRunner().invoke(app, ["jobs", "status", job_id]).stdout.splitlines()
    assert told == [line.format(id=job_id) for line in status]
    monkeypatch.setenv("TITANIC_SM_STATE_DIR", str(tmp_path / "empty"))
    assert CliRunner().invoke(app, ["jobs", "list"]).stdout == none + "\n"


def _local_stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from services.local import stack as local_stack

    endpoints = SimpleNamespace(
        moto_url="http://127.0.0.1:5001",
        registry="127.0.0.1:5002",
        sagemaker_url="http://127.0.0.1:5003",
        state_dir=tmp_path / "local",
    )
    services = [
        SimpleNamespace(name="moto", healthy=True, running=True, address="127.0.0.1:5001", pid=11),
        SimpleNamespace(name="registry", healthy=False, running=True, address="127.0.0.1:5002", pid=12),
        SimpleNamespace(name="control-plane", healthy=False, running=False, address=None, pid=None),
    ]
    monkeypatch.setattr(local_stack, "ensure_running", lambda settings: endpoints)
    monkeypatch.setattr(local_stack, "status", lambda settings: services)
    monkeypatch.setattr(local_stack, "stop", lambda settings: ["moto", "registry"])
    monkeypatch.setenv("TITANIC_SM_STATE_DIR", str(tmp_path))


@pytest.mark.parametrize(
    ("lang", "up", "down", "status"),
    [
        (
            "en",
            [
                "moto:      http://127.0.0.1:5001",
                "registry:  127.0.0.1:5002",
                "sagemaker: http://127.0.0.1:5003",
                "state:     {tmp}/local",
            ],
            "stopped: moto, registry",
            [
                "moto          healthy        127.0.0.1:5001         pid 11",
                "registry      not answering  127.0.0.1:5002         pid 12",
                "control-plane stopped        -                      pid -",
            ],
        ),
        (
            "ko",
            [
                "moto:          http://127.0.0.1:5001",
                "레지스트리:    127.0.0.1:5002",
                "SageMaker API: http://127.0.0.1:5003",
                "상태 폴더:     {tmp}/local",
            ],
            "멈춤: moto, registry",
            [
                "moto          정상           127.0.0.1:5001         pid 11",
                "registry      응답 없음      127.0.0.1:5002         pid 12",
                "control-plane 멈춤           -                      pid -",
            ],
        ),
    ],
)
def test_local_up_down_and_status_follow_titanic_sm_lang(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, lang: str, up: list[str], down: str, status: list[str]
) -> None:
    from services.local import stack as local_stack

    _local_stack(monkeypatch, tmp_path)
    monkeypatch.setenv("TITANIC_SM_LANG", lang)
    started = CliRunner().invoke(app, ["local", "up"])
    assert started.stdout.splitlines() == [line.format(tmp=tmp_path) for line in up]
    assert CliRunner().invoke(app, ["local", "down"]).stdout == down + "\n"
    shown = CliRunner().invoke(app, ["local", "status"])
    assert (shown.exit_code, shown.stdout.splitlines()) == (1, status)
    monkeypatch.setattr(local_stack, "stop", lambda settings: [])
    nothing = "nothing was running" if lang == "en" else "실행 중인 것이 없었습니다"
    assert CliRunner().invoke(app, ["local", "down"]).stdout == nothing + "\n"


@pytest.mark.parametrize(
    ("lang", "stages", "ended"),
    [
        (
            "en",
            [
                "skip  role        trust not read: needs working credentials",
                "fit: started",
                "fit: done in 0.0 s",
            ],
            ["job:      titanic-1 (Completed)", "artifact: s3://b/model.tar.gz", "local:    runs/titanic-1"],
        ),
        (
            "ko",
            [
                "생략  role        신뢰 정책을 읽지 않음: 작동하는 자격 증명이 필요합니다",
                "fit: 시작",
                "fit: 0.0초 만에 완료",
            ],
            [
                "작업:      titanic-1 (Completed)",
                "아티팩트:  s3://b/model.tar.gz",
                "로컬 경로: runs/titanic-1",
            ],
        ),
    ],
)
def test_train_follows_titanic_sm_lang(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, lang: str, stages: list[str], ended: list[str]
) -> None:
    """`titanic-sm train`: its pre-flight warning, stage lines and last lines (English as before)."""
    from services.account import preflight
    from services.data import storage
    from services.local import stack as local_stack
    from services.messages import Notice
    from services.training import launch, worker

    skipped = Notice("trust not read: needs working credentials", "preflight.skip.role_trust")
    report = preflight.Report((preflight.Check("role", "skip", skipped),))
    version = storage.DatasetVersion("v1", "s3://b/datasets/v1", None, {"train": "s3://b/datasets/v1/train/"})

    def run_job(settings: object, job_id: str, progress: object, echo: object) -> object:
        worker.timed("fit", progress, {})()  # type: ignore[arg-type]
        job = SimpleNamespace(job_name="titanic-1", status="Completed", artifact_uri="s3://b/model.tar.gz")
        return SimpleNamespace(job=job, local_path="runs/titanic-1")

    monkeypatch.setattr(local_stack, "ensure_running", lambda settings: None)
    monkeypatch.setattr(storage, "list_dataset_versions", lambda settings: [version])
    monkeypatch.setattr(preflight, "run_checks", lambda settings, **request: report)
    monkeypatch.setattr(launch, "record_job", lambda *a, **k: (SimpleNamespace(id="j1"), True))
    monkeypatch.setattr(worker, "run_job", run_job)
    monkeypatch.setenv("TITANIC_SM_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("TITANIC_SM_LANG", lang)
    result = CliRunner().invoke(app, ["train", "--image-uri", "127.0.0.1:5000/titanic-sm@sha256:abc"])
    assert result.exit_code == 0, result.output
    assert [_seconds_zeroed(line) for line in _stage_lines(result.stderr)] == stages
    assert result.stdout.splitlines() == ended

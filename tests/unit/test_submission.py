"""The submission document: seven sections, every resource value equal to the job's record (in
both languages), a local job that names its stand-ins, key code from git at the image revision."""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from services import artifacts, dataset, local_runner, submission
from services.cli import app
from services.jobs import Job, JobStore
from services.messages import LANGUAGES, text
from services.settings import Settings
from services.submission import code as key_code
from services.submission.facts import RESOURCE_FIELDS

REPO = Path(__file__).resolve().parents[2]
HEAD = subprocess.run(
    ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True
).stdout.strip()
DIGEST = "sha256:" + "ab" * 32
SECTION_KEYS = (
    "submission.section.summary",
    "submission.section.architecture",
    "submission.section.resources",
    "submission.section.how_to_run",
    "submission.section.key_code",
    "submission.section.troubleshooting",
    "submission.section.results",
)
# Evidence as the instance service shapes it; passed in so the test needs no pricing files.
EVIDENCE: dict[str, Any] = {
    "generated_at": "2026-12-01T00:00:00+00:00",
    "requirement": {
        "min_vcpu": 1,
        "min_memory_gib": 0.5,
        "basis": "measured peak 113 MiB x 2",
        "source": "capacity probe",
        "measured_at": "2026-11-30",
    },
    "price": {"usd_per_hour": 0.115, "source": "price snapshot", "fetched": "2026-11-20"},
    "recommended": "ml.m5.large",
    "rationale": "the cheapest type with quota that fits",
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, dict[str, Any]]:
    """A real model.tar.gz and metrics.json from the trainer on the bundled data (3 CV folds)."""
    folder = tmp_path_factory.mktemp("trained")
    prepared = dataset.prepare(out_dir=folder / "data")
    result = local_runner.train_here(
        prepared.train_path,
        folder / "model",
        validation=prepared.validation_path,
        hyperparameters={"cv_folds": "3", "num_leaves": "7"},
        echo=lambda line: None,
    )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(result.model_dir.iterdir()):
            archive.add(path, arcname=path.name)
    return buffer.getvalue(), result.metrics


def record_job(
    settings: Settings,
    trained: tuple[bytes, dict[str, Any]],
    *,
    name: str = "titanic-20261201-000000-abcdef",
    status: str = "Completed",
    failure: str | None = None,
) -> Job:
    """A job recorded as the worker records one: request with launch and settings, then the
    download stage's run.json and the Completed status with metrics and cost."""
    store = JobStore(settings.job_store_path)
    registry = (
        "127.0.0.1:5999" if settings.is_local else f"123456789012.dkr.ecr.{settings.region}.amazonaws.com"
    )
    image = f"{registry}/{settings.repository}@{DIGEST}"
    channels = {
        "train": settings.s3_uri("datasets", "v1", "train") + "/",
        "validation": settings.s3_uri("datasets", "v1", "validation") + "/",
    }
    stored_settings = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()}
    job, _ = store.create(
        target=settings.target,
        job_name=name,
        instance_type=settings.instance_type,
        use_spot=False,
        image_uri=image,
        dataset_version="v1",
        channels=channels,
        hyperparameters={"num_leaves": "7", "cv_folds": "3"},
        estimated_cost=0.00031,
        request={
            "launch": {"max_run_seconds": 900, "max_wait_seconds": None, "channels": channels},
            "settings": stored_settings,
        },
    )
    if status != "Completed":
        return store.set_status(job.id, status, failure_reason=failure)
    data, metrics = trained
    artifact = f"{settings.s3_uri('jobs')}/{name}/output/model.tar.gz"
    run = artifacts.save_run(
        settings,
        name,
        artifact,
        data,
        metrics,
        job.hyperparameters,
        summary={"target": settings.target, "region": settings.region, "image": image},
    )
    document = json.loads(run.run_manifest.read_text())
    document["cost"] = {"estimated_usd": 0.00031, "actual_usd": 0.00029, "basis": "fit wall time"}
    run.run_manifest.write_text(json.dumps(document))
    store.update(job.id, artifact_uri=artifact)
    return store.set_status(
        job.id,
        "Completed",
        secondary_status="Completed",
        metrics=metrics,
        local_path=str(run.local_path),
        validation_accuracy=metrics["validation"]["accuracy"],
        actual_cost=0.00029,
    )


def settings_for(tmp_path: Path, target: str = "local") -> Settings:
    extra: dict[str, Any] = {}
    if target == "aws":
        extra = {
            "bucket": "acme-titanic-training",
            "role_arn": "arn:aws:iam::210987654321:role/titanic-sm-execution",
            "region": "eu-central-1",
            "repository": "acme/titanic",
            "instance_count": 2,
        }
    return Settings(target=target, state_dir=tmp_path / "state", runs_dir=tmp_path / "runs", **extra)  # type: ignore[arg-type]  # the extras are Settings fields with values of their types


def resources_table(markdown: str, lang: str) -> dict[str, str]:
    """The resources section's rows: label -> value (inside its backticks)."""
    section = markdown.split(f"## 3. {text('submission.section.resources', lang)}", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) == 3 and cells[1].startswith("`") and cells[1].endswith("`"):
            rows[cells[0]] = cells[1][1:-1]
        elif len(cells) == 3 and cells[1] == text("submission.unknown", lang):
            rows[cells[0]] = "<unknown>"
    return rows


def expected_resources(job: Job) -> dict[str, str]:
    """The job's own record, read here without the submission package."""
    recorded = job.request["settings"]
    return {
        "region": recorded["region"],
        "bucket": recorded["bucket"],
        "repository": recorded["repository"],
        "image_uri": str(job.image_uri),
        "job_name": job.job_name,
        "role_arn": recorded["role_arn"],
        "instance_type": str(job.instance_type),
        "instance_count": str(recorded["instance_count"]),
        "artifact_uri": str(job.artifact_uri),
    }


@pytest.mark.parametrize("target", ["local", "aws"])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_resource_value_is_the_jobs_record(
    tmp_path: Path, trained: tuple[bytes, dict[str, Any]], target: str, lang: str
) -> None:
    settings = settings_for(tmp_path, target)
    job = record_job(settings, trained)
    written = submission.generate(
        settings, None, lang, tmp_path / "out", evidence=EVIDENCE, revision=HEAD, render_images=False
    )
    markdown = written.markdown.read_text(encoding="utf-8")
    rows = resources_table(markdown, lang)
    expected = expected_resources(JobStore(settings.job_store_path).get(job.id))
    for name in RESOURCE_FIELDS:
        label = text(f"submission.resource.{name}", lang)
        assert rows.get(label) == expected[name], (
            f"{name}: document {rows.get(label)!r}, record {expected[name]!r}"
        )
    # The same values wherever else they appear: the Estimator snippet and the diagram.
    assert f'image_uri="{expected["image_uri"]}"' in markdown
    assert f'role="{expected["role_arn"]}"' in markdown
    assert f"instance_count={expected['instance_count']}" in markdown
    if expected["instance_count"] != "1":
        assert f"export TITANIC_SM_INSTANCE_COUNT={expected['instance_count']}" in markdown
    assert f"{job.channels['train']}" in markdown.split("```mermaid", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_seven_sections_in_order(
    tmp_path: Path, trained: tuple[bytes, dict[str, Any]], lang: str
) -> None:
    settings = settings_for(tmp_path)
    record_job(settings, trained)
    markdown = submission.generate(
        settings, None, lang, tmp_path / "out", evidence=EVIDENCE, revision=HEAD, render_images=False
    ).markdown.read_text(encoding="utf-8")
    headings = re.findall(r"^## (\d)\. (.+)$", markdown, flags=re.MULTILINE)
    assert headings == [(str(n), text(key, lang)) for n, key in enumerate(SECTION_KEYS, start=1)]
    assert "```mermaid\nflowchart LR" in markdown
    for command in (
        "make run",
        "titanic-sm run --instance-type ml.m5.large",
        "aws s3 cp",
        "docker login",
        "docker build",
        "docker tag",
        "docker push",
        "estimator.fit({",
    ):
        assert command in markdown, command


def test_both_languages_carry_the_same_values(tmp_path: Path, trained: tuple[bytes, dict[str, Any]]) -> None:
    settings = settings_for(tmp_path)
    record_job(settings, trained)
    texts = {
        lang: submission.generate(
            settings, None, lang, tmp_path / lang, evidence=EVIDENCE, revision=HEAD, render_images=False
        ).markdown.read_text(encoding="utf-8")
        for lang in LANGUAGES
    }

    def values(markdown: str) -> list[str]:
        body = markdown.split("\n", 3)[3]  # past the title and the generated-at line
        return sorted(re.findall(r"`([^`\n]*(?:s3://|sha256:|arn:aws|ml\.)[^`\n]*)`", body))

    assert values(texts["ko"]) == values(texts["en"])
    assert re.search("[가-힣]", texts["ko"]) and not re.search("[가-힣]", texts["en"])


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_local_job_names_its_stand_ins(
    tmp_path: Path, trained: tuple[bytes, dict[str, Any]], lang: str
) -> None:
    settings = settings_for(tmp_path)
    record_job(settings, trained)
    markdown = submission.generate(
        settings, None, lang, tmp_path / "out", evidence=EVIDENCE, revision=HEAD, render_images=False
    ).markdown.read_text(encoding="utf-8")
    summary = markdown.split("## 2.", 1)[0]
    resources = markdown.split("## 3.", 1)[1].split("## 4.", 1)[0]
    assert text("submission.local.banner", lang) in summary
    for name in ("bucket", "repository", "image_uri", "job_name", "role_arn"):
        assert text(f"submission.where.{name}_local", lang) in resources, name
    # Nothing of a local job is called an AWS resource.
    for name in ("bucket", "repository", "job_name", "role_arn", "artifact_uri"):
        assert f"| {text(f'submission.where.{name}', lang)} |" not in resources, name
    assert text("submission.local.cost", lang) in markdown


def test_an_aws_job_is_not_called_local(tmp_path: Path, trained: tuple[bytes, dict[str, Any]]) -> None:
    settings = settings_for(tmp_path, "aws")
    record_job(settings, trained)
    markdown = submission.generate(
        settings, None, "en", tmp_path / "out", evidence=EVIDENCE, revision=HEAD, render_images=False
    ).markdown.read_text(encoding="utf-8")
    assert "local stand-in" not in markdown
    assert "--endpoint-url" not in markdown
    assert (
        "SageMaker training job `titanic-20261201-000000-abcdef` in an AWS account, region `eu-central-1`"
        in markdown
    )


def test_results_come_from_metrics_json(tmp_path: Path, trained: tuple[bytes, dict[str, Any]]) -> None:
    settings = settings_for(tmp_path)
    record_job(settings, trained)
    markdown = submission.generate(
        settings, None, "en", tmp_path / "out", evidence=EVIDENCE, revision=HEAD, render_images=False
    ).markdown.read_text(encoding="utf-8")
    metrics = trained[1]
    results = markdown.split("## 7.", 1)[1]
    assert (
        f"| accuracy | {metrics['validation']['accuracy']:.4f} | {metrics['cv']['accuracy']['mean']:.4f} ± "
        in results
    )
    assert f"| roc_auc | {metrics['validation']['roc_auc']:.4f} |" in results
    assert "Cross-validation (3 folds" in results
    assert "$0.00031" in results and "$0.00029" in results
    assert "Hourly price: $0.1150 (source price snapshot, 2026-11-20)" in results


def test_key_code_comes_from_git_at_the_revision(
    tmp_path: Path, trained: tuple[bytes, dict[str, Any]]
) -> None:
    settings = settings_for(tmp_path)
    record_job(settings, trained)
    markdown = submission.generate(
        settings, None, "en", tmp_path / "out", evidence=EVIDENCE, revision=HEAD, render_images=False
    ).markdown.read_text(encoding="utf-8")
    section = markdown.split("## 5.", 1)[1].split("## 6.", 1)[0]
    assert f"commit `{HEAD}`" in section
    dockerfile = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{HEAD}:Dockerfile.training"], capture_output=True, text=True
    ).stdout
    assert dockerfile.rstrip("\n") in section
    assert "def build_estimator(" in section and "def start_fit(" in section and ".fit(" in section
    assert "joblib.dump" in section and "metrics_file" in section


@pytest.mark.parametrize(
    ("revision", "key"),
    [
        ("unknown", "submission.code.no_revision"),
        (None, "submission.code.no_revision"),
        ("0" * 40, "submission.code.not_in_repo"),
    ],
)
def test_a_revision_not_in_the_repository_is_said_and_nothing_is_pasted(
    tmp_path: Path, trained: tuple[bytes, dict[str, Any]], revision: str | None, key: str
) -> None:
    settings = settings_for(tmp_path)
    record_job(settings, trained)
    # revision=None would ask Docker for the image's label; the image here does not exist.
    markdown = submission.generate(
        settings,
        None,
        "en",
        tmp_path / "out",
        evidence=EVIDENCE,
        revision=revision or "unknown",
        render_images=False,
    ).markdown.read_text(encoding="utf-8")
    section = markdown.split("## 5.", 1)[1].split("## 6.", 1)[0]
    assert text(key, "en", revision=revision or "").split("`")[0] in section
    assert "```" not in section


def test_a_dirty_revision_says_the_code_may_differ() -> None:
    found = key_code.key_code(REPO, f"{HEAD}-dirty")
    assert found.commit == HEAD and found.dirty
    assert all(excerpt.code for excerpt in found.excerpts)


def test_troubleshooting_and_this_jobs_own_failure(
    tmp_path: Path, trained: tuple[bytes, dict[str, Any]]
) -> None:
    settings = settings_for(tmp_path)
    record_job(
        settings,
        trained,
        name="titanic-20261130-000000-failed",
        status="Failed",
        failure="fit: job failed: unknown hyperparameter num_leaf",
    )
    record_job(settings, trained)
    markdown = submission.generate(
        settings, None, "ko", tmp_path / "out", evidence=EVIDENCE, revision=HEAD, render_images=False
    ).markdown.read_text(encoding="utf-8")
    section = markdown.split("## 6.", 1)[1].split("## 7.", 1)[0]
    assert "titanic-20261130-000000-failed" in section and "unknown hyperparameter num_leaf" in section
    assert len(re.findall(r"^#### \d+\. ", section, flags=re.MULTILINE)) >= 6
    assert section.count("**커밋**: `") >= 6


def test_images_are_png_files_beside_the_markdown(
    tmp_path: Path, trained: tuple[bytes, dict[str, Any]]
) -> None:
    settings = settings_for(tmp_path)
    record_job(settings, trained)
    written = submission.generate(settings, None, "ko", tmp_path / "out", evidence=EVIDENCE, revision=HEAD)
    markdown = written.markdown.read_text(encoding="utf-8")
    assert set(written.images) == {"roc", "confusion", "importance"}, markdown.split("## 7.", 1)[1][:800]
    for path in written.images.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](images/{path.name})" in markdown
    bundle = zipfile.ZipFile(io.BytesIO(submission.archive(written)))
    assert sorted(bundle.namelist()) == sorted(
        ["submission.ko.md", *(f"images/{p.name}" for p in written.images.values())]
    )


def test_cli_writes_the_latest_completed_job(tmp_path: Path, trained: tuple[bytes, dict[str, Any]]) -> None:
    settings = settings_for(tmp_path)
    job = record_job(settings, trained)
    out = tmp_path / "cli-out"
    result = CliRunner().invoke(
        app,
        ["--state-dir", str(settings.state_dir), "submission", "--lang", "en", "--out", str(out)],
        env={"TITANIC_SM_RUNS_DIR": str(settings.runs_dir)},
    )
    assert result.exit_code == 0, result.output
    assert job.job_name in (out / "submission.en.md").read_text(encoding="utf-8")
    # Asking for the image's revision label never starts a local stack as a side effect.
    assert not (settings.state_dir / "local-stack").exists()


def test_cli_without_a_completed_job_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--state-dir", str(tmp_path / "empty"), "submission"])
    assert result.exit_code == 1
    assert result.output.strip() == "error: no Completed job in the job store: run one first (titanic-sm run)"

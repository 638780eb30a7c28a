"""The submission document: what the user hands in, generated from the job that ran.

``generate(settings, job, lang, out_dir)`` writes ``submission.<lang>.md`` with ``images/`` beside
it, from the job store, ``runs/<job>/run.json`` and the artifacts; ``archive(...)`` returns the
same files as a zip for the dashboard's download button. Korean is the first language, English
the second; both come from one message catalogue (``services/messages/submission.toml``).

The seven sections: executive summary, architecture and flow, resources, how to run it, key
code (from git at the image's revision label), troubleshooting log, results.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.errors import UserError
from services.jobs.store import Job, JobNotFoundError, JobStore
from services.messages import Language, language_of
from services.settings import Settings
from services.submission import code, document, facts, figures

__all__ = [
    "Submission",
    "SubmissionError",
    "archive",
    "download",
    "generate",
    "image_revision",
    "instance_evidence",
    "latest_completed",
    "resolve_job",
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class SubmissionError(UserError, RuntimeError):
    """No job to write about, or the job cannot be read; one line naming it."""


@dataclass(frozen=True)
class Submission:
    job_name: str
    lang: Language
    markdown: Path
    images: dict[str, Path]
    facts: facts.Facts
    revision: str | None


def latest_completed(store: JobStore) -> Job:
    done = store.list(statuses=["Completed"], limit=1)
    if not done:
        raise SubmissionError(
            "no Completed job in the job store: run one first (titanic-sm run)",
            code="submission.no_completed_job",
        )
    return done[0]


def resolve_job(settings: Settings, job_ref: str | None) -> tuple[JobStore, Job]:
    """The job named (id or name), or the latest Completed one."""
    store = JobStore(settings.job_store_path)
    if job_ref is None:
        return store, latest_completed(store)
    try:
        return store, store.get(job_ref)
    except JobNotFoundError as exc:
        raise SubmissionError(str(exc), code=exc.code, values=exc.values) from None


def image_revision(settings: Settings, image_uri: str | None) -> str | None:
    """The image's ``org.opencontainers.image.revision`` label, when it can be read."""
    if not image_uri:
        return None
    from services.image import images

    try:
        labels = images.image_labels(settings, image_uri)
    except Exception:  # no Docker, no registry: the document says the revision is unknown
        return None
    return (labels or {}).get(images.REVISION_LABEL)


def instance_evidence(settings: Settings, job: Job) -> dict[str, Any]:
    """Why this instance, with sources and dates, as the instance service tells it now (the
    document dates it). Any part it cannot read is left out and the error is kept."""
    from services.instance import instances

    found: dict[str, Any] = {"generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    instance_type = job.instance_type
    try:
        found["requirement"] = instances.current_requirement(settings).to_dict()
        if instance_type:
            quote = instances.price_quote(settings, instance_type, job.use_spot, offline=settings.is_local)
            if quote is not None:
                found["price"] = {
                    "usd_per_hour": quote.usd_per_hour,
                    "source": quote.source,
                    "fetched": quote.fetched,
                }
            proof = instances.find_proof(settings, instance_type)
            if proof is not None:
                found["proof"] = proof.get("summary")
        evidence = instances.gather(settings, offline=True)
        decision = evidence.decision(job.use_spot)
        found["recommended"] = decision.chosen
        found["rationale"] = decision.rationale
    except Exception as exc:  # a denied Price List, an unreadable probe: said in the document
        found["error"] = " ".join(str(exc).split())[:200] or type(exc).__name__
    return found


def _job_settings(settings: Settings, job: Job) -> Settings:
    """The settings the job ran with (its region matters for prices), else the caller's."""
    stored = dict(job.request.get("settings") or {})
    region = stored.get("region") or ((job.request.get("imported") or {}).get("resources") or {}).get(
        "region"
    )
    return settings.with_overrides(region=region) if region else settings


def generate(
    settings: Settings,
    job_ref: str | None = None,
    lang: str = "ko",
    out_dir: Path | None = None,
    *,
    evidence: dict[str, Any] | None = None,
    revision: str | None = None,
    render_images: bool = True,
) -> Submission:
    """Write the submission of ``job_ref`` (the latest Completed job when None) into ``out_dir``
    (default ``runs/<job>/submission``): ``submission.<lang>.md`` and ``images/*.png``.

    ``evidence`` and ``revision`` default to what the instance service and the image's label
    say; tests pass their own.
    """
    language = language_of(lang)
    store, job = resolve_job(settings, job_ref)
    gathered = facts.gather(store, job, settings.runs_dir)
    folder = out_dir or settings.runs_dir / job.job_name / "submission"
    folder.mkdir(parents=True, exist_ok=True)
    job_settings = _job_settings(settings, job)
    if revision is None:
        # A run.json that recorded the image's revision at the time wins over asking Docker now.
        recorded = gathered.run.get("image_revision")
        revision = str(recorded) if recorded else image_revision(job_settings, job.image_uri)
    excerpts = code.key_code(PROJECT_ROOT, revision)
    rendered = (
        figures.render(gathered.metrics, language, folder / "images")
        if render_images
        else figures.Rendered({}, None)
    )
    if evidence is None:
        evidence = instance_evidence(job_settings, job)
    generated_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    markdown = document.render(gathered, language, excerpts, rendered, evidence, generated_at)
    path = folder / f"submission.{language}.md"
    path.write_text(markdown, encoding="utf-8")
    return Submission(
        job_name=job.job_name,
        lang=language,
        markdown=path,
        images={name: folder / "images" / file for name, file in rendered.files.items()},
        facts=gathered,
        revision=revision,
    )


def archive(submission: Submission) -> bytes:
    """The document and its images as one zip (what the dashboard's download button serves)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.write(submission.markdown, submission.markdown.name)
        for image in submission.images.values():
            bundle.write(image, f"images/{image.name}")
    return buffer.getvalue()


def download(settings: Settings, job_ref: str, lang: str = "ko") -> tuple[str, bytes]:
    """For the dashboard's button: write the submission and return (zip file name, zip bytes)."""
    written = generate(settings, job_ref, lang)
    return f"{written.job_name}-submission-{written.lang}.zip", archive(written)

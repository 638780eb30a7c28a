"""The submission document's Markdown, in seven sections, from ``Facts`` and the catalogue.

Every sentence comes from ``services/messages/submission.toml`` (Korean and English side by
side); every value comes from the job's record. The wording of the local target's stand-ins is
in one place (``submission.local.*``), so a local job can never read as an AWS one.
"""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Mapping
from typing import Any

from services.errors import failure_text
from services.messages import text
from services.submission.code import KeyCode
from services.submission.facts import RESOURCE_FIELDS, Facts
from services.submission.figures import Rendered
from services.submission.troubleshooting import render_entries

__all__ = ["Evidence", "render"]

Evidence = Mapping[str, Any]


def _t(key: str, lang: str, **values: object) -> str:
    return text(key, lang, **values)


def _value(value: object, lang: str) -> str:
    return f"`{value}`" if value not in (None, "") else _t("submission.unknown", lang)


def _number(value: Any, digits: int = 4) -> str | None:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else None


def _usd(value: Any) -> str | None:
    return f"${value:.5f}" if isinstance(value, int | float) else None


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "?"
    return dt.datetime.fromtimestamp(stamp, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _channel(facts: Facts, name: str) -> str | None:
    return facts.job.channels.get(name) or (facts.run.get("channels") or {}).get(name)


def _hp_flags(hyperparameters: Mapping[str, Any]) -> str:
    return " ".join(f"--hp {shlex.quote(f'{k}={v}')}" for k, v in sorted(hyperparameters.items()))


def _launch(facts: Facts) -> dict[str, Any]:
    return dict(facts.job.request.get("launch") or {})


# -- sections ---------------------------------------------------------------------------------


def _summary(facts: Facts, lang: str, evidence: Evidence) -> list[str]:
    job, res = facts.job, facts.resources
    metrics = facts.metrics
    validation = metrics.get("validation") or {}
    cv = metrics.get("cv") or {}
    unknown = _t("submission.unknown", lang)
    where = (
        _t("submission.summary.where_local", lang, job=job.job_name)
        if facts.is_local
        else _t("submission.summary.where_aws", lang, job=job.job_name, region=res["region"] or "?")
    )
    lines = [
        f"- {_t('submission.summary.what', lang, version=job.dataset_version or unknown)}",
        f"- {where}",
        "- "
        + _t(
            "submission.summary.instance",
            lang,
            instance=res["instance_type"] or "?",
            count=res["instance_count"] or "?",
            why=_why(facts, lang, evidence),
        ),
    ]
    if validation or cv:
        lines.append(
            "- "
            + _t(
                "submission.summary.result",
                lang,
                accuracy=_number(validation.get("accuracy")) or "?",
                auc=_number(validation.get("roc_auc")) or "?",
                cv_accuracy=_number((cv.get("accuracy") or {}).get("mean")) or "?",
                folds=cv.get("folds", "?"),
            )
        )
    else:
        lines.append(f"- {_t('submission.summary.no_metrics', lang, status=job.status)}")
    lines.append(f"- {_cost_line(facts, lang)}")
    if facts.is_local:
        lines += [
            "",
            f"> **{_t('submission.local.banner_title', lang)}** {_t('submission.local.banner', lang)}",
        ]
    if facts.imported:
        lines += ["", f"> {_t('submission.imported.banner', lang)}"]
    return lines


def _why(facts: Facts, lang: str, evidence: Evidence) -> str:
    if facts.job.instance_reason:
        return _t("submission.why.override", lang, reason=facts.job.instance_reason)
    chosen = evidence.get("recommended")
    if chosen and chosen == facts.job.instance_type:
        return _t("submission.why.recommended", lang)
    if facts.imported:
        return _t("submission.why.unknown_imported", lang)
    return _t("submission.why.chosen", lang)


def _cost_line(facts: Facts, lang: str) -> str:
    job = facts.job
    basis = (facts.run.get("cost") or {}).get("basis")
    estimated = _usd(job.estimated_cost) or _t("submission.unknown", lang)
    actual = _usd(job.actual_cost) or _t("submission.unknown", lang)
    line = _t("submission.summary.cost", lang, estimated=estimated, actual=actual)
    if basis:
        line += " " + _t("submission.cost.basis", lang, basis=basis)
    if facts.is_local:
        line += " " + _t("submission.local.cost", lang)
    return line


def _architecture(facts: Facts, lang: str) -> list[str]:
    res = facts.resources
    local = facts.is_local

    def label(kind: str, value: str | None) -> str:
        service = _t(f"submission.arch.{kind}{'_local' if local else ''}", lang)
        shown = (value or "?").replace('"', "'")
        return f'"{service}<br/>{shown}"'

    train = _channel(facts, "train")
    validation = _channel(facts, "validation")
    job_label = f"{res['job_name']} ({res['instance_type'] or '?'})"
    lines = [
        _t("submission.arch.intro_local" if local else "submission.arch.intro", lang),
        "",
        "```mermaid",
        "flowchart LR",
        f"    train[{label('data', train)}]",
    ]
    if validation:
        lines.append(f"    validation[{label('data', validation)}]")
    lines += [
        f"    image[{label('image', res['image_uri'])}]",
        f"    job[{label('job', job_label)}]",
        f"    artifact[{label('artifact', res['artifact_uri'])}]",
        "    train -->|train| job",
    ]
    if validation:
        lines.append("    validation -->|validation| job")
    lines += ["    image --> job", "    job --> artifact", "```"]
    return lines


def _resources(facts: Facts, lang: str) -> list[str]:
    lines = [
        "| " + " | ".join(_t(f"submission.resources.{c}", lang) for c in ("item", "value", "where")) + " |",
        "|---|---|---|",
    ]
    for name in RESOURCE_FIELDS:
        value = facts.resources[name]
        where = _t(f"submission.where.{name}{'_local' if facts.is_local else ''}", lang)
        if facts.imported and value is None:
            where = _t("submission.imported.not_recorded", lang)
        lines.append(f"| {_t(f'submission.resource.{name}', lang)} | {_value(value, lang)} | {where} |")
    if facts.is_local:
        lines += ["", _t("submission.local.resources_note", lang)]
    return lines


def _how_to_run(facts: Facts, lang: str) -> list[str]:
    job, res = facts.job, facts.resources
    launch = _launch(facts)
    settings = job.request.get("settings") or {}
    env = [f"TITANIC_SM_TARGET={job.target}"]
    for name, variable in (
        ("region", "REGION"),
        ("bucket", "BUCKET"),
        ("repository", "REPOSITORY"),
        ("role_arn", "ROLE_ARN"),
    ):
        if res.get(name):
            env.append(f"TITANIC_SM_{variable}={shlex.quote(str(res[name]))}")
    if settings.get("prefix"):
        env.append(f"TITANIC_SM_PREFIX={shlex.quote(str(settings['prefix']))}")
    if res.get("instance_count") not in (None, "1"):
        env.append(f"TITANIC_SM_INSTANCE_COUNT={res['instance_count']}")
    flags = [f"--instance-type {res['instance_type']}"] if res["instance_type"] else []
    hp = _hp_flags(job.hyperparameters)
    if hp:
        flags.append(hp)
    if job.use_spot:
        flags.append("--spot")
    if launch.get("max_run_seconds"):
        flags.append(f"--max-run {launch['max_run_seconds']}")
    if launch.get("max_wait_seconds"):
        flags.append(f"--max-wait {launch['max_wait_seconds']}")
    if job.instance_reason:
        flags.append(f"--override-reason {shlex.quote(job.instance_reason)}")
    ours = [
        "```bash",
        *(f"export {pair}" for pair in env),
        "make run        # " + _t("submission.run.dashboard", lang),
        f"titanic-sm run {' '.join(flags)}".rstrip(),
        "```",
    ]
    region = res["region"] or "REGION"
    image = res["image_uri"] or "IMAGE@sha256:..."
    registry = image.split("/", 1)[0]
    repository_uri = image.split("@", 1)[0]
    train = _channel(facts, "train") or "s3://BUCKET/PREFIX/train/"
    validation = _channel(facts, "validation")
    endpoint = ' --endpoint-url "$AWS_ENDPOINT_URL"' if facts.is_local else ""
    plain = ["```bash", f"aws s3 cp{endpoint} data/processed/train.csv {train.rstrip('/')}/train.csv"]
    if validation:
        plain.append(
            f"aws s3 cp{endpoint} data/processed/validation.csv {validation.rstrip('/')}/validation.csv"
        )
    plain += [
        f"aws ecr get-login-password{endpoint} --region {region}"
        f" | docker login --username AWS --password-stdin {registry}",
        "docker build --platform linux/amd64 -f Dockerfile.training -t titanic-sm/training .",
        f"docker tag titanic-sm/training {repository_uri}:latest",
        f"docker push {repository_uri}:latest",
        "```",
    ]
    channels = ", ".join(
        f'"{name}": "{uri}"' for name, uri in (("train", train), ("validation", validation)) if uri
    )
    hyperparameters = ", ".join(f'"{k}": "{v}"' for k, v in sorted(job.hyperparameters.items()))
    role = res["role_arn"] or "ROLE_ARN"
    instance = res["instance_type"] or "ml.m5.large"
    python = [
        "```python",
        "from sagemaker.estimator import Estimator",
        "",
        "estimator = Estimator(",
        f'    image_uri="{image}",',
        f'    role="{role}",',
        f"    instance_count={res['instance_count'] or 1},",
        f'    instance_type="{instance}",',
        f'    output_path="{_output_path(res["artifact_uri"], job.job_name)}",',
        f"    hyperparameters={{{hyperparameters}}},",
        *(
            [
                f"    use_spot_instances=True, max_run={launch.get('max_run_seconds')},"
                f" max_wait={launch.get('max_wait_seconds')},"
            ]
            if job.use_spot
            else []
        ),
        ")",
        f"estimator.fit({{{channels}}})",
        "```",
    ]
    lines = [
        f"#### {_t('submission.run.ours', lang)}",
        "",
        *ours,
        "",
        f"#### {_t('submission.run.plain', lang)}",
        "",
    ]
    if facts.is_local:
        lines += [_t("submission.local.plain_note", lang), ""]
    lines += [*plain, "", _t("submission.run.python", lang), "", *python]
    return lines


def _output_path(artifact_uri: str | None, job_name: str) -> str:
    marker = f"/{job_name}/output/"
    if artifact_uri and marker in artifact_uri:
        return artifact_uri.split(marker, 1)[0]
    return "s3://BUCKET/PREFIX/jobs"


def _key_code(code: KeyCode, lang: str) -> list[str]:
    if not code.revision or code.revision == "unknown":
        return [f"> {_t('submission.code.no_revision', lang)}"]
    if code.commit is None:
        return [f"> {_t('submission.code.not_in_repo', lang, revision=code.revision)}"]
    lines = [_t("submission.code.from_revision", lang, revision=code.commit)]
    if code.dirty:
        lines += ["", f"> {_t('submission.code.dirty', lang, revision=code.commit)}"]
    for excerpt in code.excerpts:
        lines += ["", f"#### {_t(excerpt.key, lang)} — `{excerpt.path}` {excerpt.lines}".rstrip(), ""]
        if excerpt.code is None:
            lines.append(f"> {_t('submission.code.missing', lang, path=excerpt.path, revision=code.commit)}")
        else:
            lines += [f"```{excerpt.language}", excerpt.code, "```"]
    return lines


def _troubleshooting(facts: Facts, lang: str) -> list[str]:
    lines = [_t("submission.trouble.intro", lang), ""]
    if facts.earlier_failures:
        lines += [f"#### {_t('submission.trouble.this_job', lang)}", ""]
        for failed in facts.earlier_failures:
            reason = failure_text(failed.failure_reason, lang)
            lines.append(f"- `{failed.job_name}` ({_when(failed.created_at)}): {reason}")
        lines.append("")
    return lines + render_entries(lang, heading="####")


def _results(facts: Facts, lang: str, rendered: Rendered, evidence: Evidence) -> list[str]:
    metrics = facts.metrics
    validation = metrics.get("validation") or {}
    cv = metrics.get("cv") or {}
    unknown = _t("submission.unknown", lang)
    lines: list[str] = []
    final = metrics.get("final_metric_data") or facts.job.metrics.get("final_metric_data") or {}
    if not final:  # a store that keeps DescribeTrainingJob: its FinalMetricDataList
        described = getattr(facts.job, "training_job", None) or {}
        final = {m["MetricName"]: float(m["Value"]) for m in described.get("FinalMetricDataList") or []}
    if not validation and not cv:
        lines += [f"> {_t('submission.results.no_metrics', lang)}", ""]
        if final:
            lines += [
                _t("submission.results.final_metrics", lang),
                "",
                f"| {_t('submission.results.metric', lang)} | FinalMetricDataList |",
                "|---|---|",
                *(f"| `{name}` | {value:.4f} |" for name, value in sorted(final.items())),
                "",
            ]
    else:
        lines += [
            f"| {_t('submission.results.metric', lang)} | {_t('submission.results.validation', lang)} | "
            f"{_t('submission.results.cv', lang, folds=cv.get('folds', '?'))} |",
            "|---|---|---|",
        ]
        for name in ("accuracy", "roc_auc", "f1", "log_loss"):
            summary = cv.get(name) or {}
            mean, std = _number(summary.get("mean")), _number(summary.get("std"))
            lines.append(
                f"| {name} | {_number(validation.get(name)) or '—'} | "
                f"{f'{mean} ± {std}' if mean and std else '—'} |"
            )
        lines += ["", _t("submission.results.source", lang), ""]
    for name, title in (
        ("roc", "submission.figure.roc"),
        ("confusion", "submission.figure.confusion"),
        ("importance", "submission.figure.importance"),
    ):
        if name in rendered.files:
            lines += [f"![{_t(title, lang)}](images/{rendered.files[name]})", ""]
    if rendered.failure:
        lines += [f"> {_t('submission.results.no_images', lang, reason=rendered.failure)}", ""]
    if rendered.labels_lang:
        lines += [f"> {_t('submission.results.images_english', lang)}", ""]
    lines += [f"#### {_t('submission.results.evidence', lang)}", ""]
    lines += [f"- {line}" for line in _evidence_lines(facts, lang, evidence)]
    lines += ["", f"#### {_t('submission.results.cost', lang)}", ""]
    job = facts.job
    lines += [
        f"- {_t('submission.cost.estimated', lang)}: {_usd(job.estimated_cost) or unknown}",
        f"- {_t('submission.cost.actual', lang)}: {_usd(job.actual_cost) or _t('submission.unknown', lang)}"
        + (
            f" ({(facts.run.get('cost') or {}).get('basis')})"
            if (facts.run.get("cost") or {}).get("basis")
            else ""
        ),
    ]
    if job.billable_seconds is not None or job.training_seconds is not None:
        lines.append(
            "- "
            + _t(
                "submission.cost.seconds",
                lang,
                training=_number(job.training_seconds, 1) or "?",
                billable=_number(job.billable_seconds, 1) or "?",
            )
        )
    if job.use_spot:
        savings = f"{job.spot_savings:.1%}" if job.spot_savings is not None else unknown
        lines.append(f"- {_t('submission.cost.spot', lang, savings=savings)}")
        if facts.is_local:
            lines.append(f"- {_t('submission.local.spot', lang)}")
    if facts.is_local:
        lines.append(f"- {_t('submission.local.cost', lang)}")
    return lines


def _evidence_lines(facts: Facts, lang: str, evidence: Evidence) -> list[str]:
    job = facts.job
    lines = [_t("submission.evidence.chosen", lang, instance=job.instance_type or "?")]
    if job.instance_reason:
        lines.append(_t("submission.why.override", lang, reason=job.instance_reason))
    requirement = evidence.get("requirement")
    if requirement:
        lines.append(
            _t(
                "submission.evidence.requirement",
                lang,
                vcpu=requirement.get("min_vcpu"),
                memory=requirement.get("min_memory_gib"),
                basis=requirement.get("basis"),
                source=requirement.get("source"),
                date=requirement.get("measured_at"),
            )
        )
    price = evidence.get("price")
    if price:
        lines.append(
            _t(
                "submission.evidence.price",
                lang,
                usd=f"{price['usd_per_hour']:.4f}",
                source=price.get("source"),
                date=price.get("fetched"),
            )
        )
    if evidence.get("recommended"):
        lines.append(
            _t(
                "submission.evidence.recommended",
                lang,
                instance=evidence["recommended"],
                rationale=evidence.get("rationale") or "",
            )
        )
    proof = evidence.get("proof")
    if proof:
        lines.append(_t("submission.evidence.proof", lang, summary=proof))
    if evidence.get("error"):
        lines.append(_t("submission.evidence.error", lang, error=evidence["error"]))
    lines.append(_t("submission.evidence.when", lang, date=evidence.get("generated_at") or "?"))
    return lines


def render(
    facts: Facts,
    lang: str,
    code: KeyCode,
    rendered: Rendered,
    evidence: Evidence,
    generated_at: str,
) -> str:
    """The whole document."""
    job = facts.job
    lines = [
        f"# {_t('submission.title', lang)}: `{job.job_name}`",
        "",
        _t(
            "submission.meta",
            lang,
            status=job.status,
            target=job.target,
            created=_when(job.created_at),
            generated=generated_at,
        ),
        "",
    ]
    sections = (
        ("submission.section.summary", _summary(facts, lang, evidence)),
        ("submission.section.architecture", _architecture(facts, lang)),
        ("submission.section.resources", _resources(facts, lang)),
        ("submission.section.how_to_run", _how_to_run(facts, lang)),
        ("submission.section.key_code", _key_code(code, lang)),
        ("submission.section.troubleshooting", _troubleshooting(facts, lang)),
        ("submission.section.results", _results(facts, lang, rendered, evidence)),
    )
    for number, (key, body) in enumerate(sections, start=1):
        lines += [f"## {number}. {_t(key, lang)}", "", *body, ""]
    return "\n".join(lines).rstrip("\n") + "\n"

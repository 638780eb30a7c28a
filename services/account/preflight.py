"""Checked before anything is created: `titanic-sm config check`, and the same checks before every launch.

``run_checks`` reads (never writes: the prefix check starts a multipart upload and aborts it, which
leaves no object and no version) and returns one :class:`Check` per question, each with the fix.
``require_ready`` raises :class:`PreflightError` when one fails, so a caller that calls it first
creates nothing on a failure. A denied call names the action and the statement of
``titanic-sm iam render``'s operator policy that grants it.
"""

from __future__ import annotations

import fnmatch
import json
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from services import aws
from services.errors import UserError
from services.messages import Notice, language_of, padded, text, worded
from services.settings import LOCAL_ACCOUNT_ID, Settings

__all__ = [
    "ROLE_ARN_PATTERN",
    "Check",
    "CheckLine",
    "PreflightError",
    "Report",
    "grant_of",
    "require_ready",
    "run_checks",
]

Status = Literal["ok", "warn", "fail", "skip"]
# arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME, the name at most 64 characters.
ROLE_ARN_PATTERN = re.compile(
    r"arn:(?P<partition>aws(?:-cn|-us-gov)?):iam::(?P<account>\d{12}):role/"
    r"(?P<path>(?:[\w+=,.@-]+/)*)(?P<name>[\w+=,.@-]{1,64})"
)
JOB_NAME_LIMIT = 63
SAGEMAKER_PRINCIPAL = "sagemaker.amazonaws.com"
DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403", "Forbidden"}
)
# The key the write check starts (and aborts) a multipart upload on.
WRITE_CHECK_KEY = ".titanic-sm-write-check"


@dataclass(frozen=True)
class Check:
    """One question: ``ok``, ``warn`` (go on, but read this), ``fail`` (nothing is created) or
    ``skip`` (could not check, says why)."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    def line(self, lang: str = "en") -> str:
        """``status  name  detail -> fix``: English, or the catalogue's wording in ``lang`` (the
        status too; the check's name is the setting it checks and stays as it is)."""
        detail, fix = _flat(worded(self.detail, lang)), _flat(worded(self.fix, lang))
        status = self.status if language_of(lang) == "en" else text(f"preflight.status.{self.status}", lang)
        # Padded to four terminal columns: a Korean status word is two characters, four columns wide.
        return f"{padded(status, 4)}  {self.name:<11} {detail}" + (f" -> {fix}" if fix else "")


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]
    account: str | None = None
    caller_arn: str | None = None
    # How long the checks took (wall time): they run before every launch, so they must stay cheap.
    seconds: float | None = None

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == "fail")

    @property
    def ok(self) -> bool:
        return not self.failed

    def lines(self, lang: str = "en") -> list[str]:
        return [c.line(lang) for c in self.checks]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "account": self.account,
            "caller_arn": self.caller_arn,
            "seconds": self.seconds,
            "checks": [asdict(c) for c in self.checks],
        }

    @property
    def not_ok(self) -> tuple[Check, ...]:
        """The checks worth a line before a launch: failures, warnings and skips."""
        return tuple(c for c in self.checks if c.status != "ok")


def _failed_line(checks: tuple[Check, ...], lang: str) -> str:
    """``check: detail -> fix; ...`` for the failing checks, each worded in ``lang``."""
    return "; ".join(
        _flat(f"{c.name}: {worded(c.detail, lang)}" + (f" -> {worded(c.fix, lang)}" if c.fix else ""))
        for c in checks
    )


class FailedChecks(Notice):
    """The failing checks as one line (its English words as the string), worded check by check
    in another language: how many fail differs, so no one catalogue template can say it."""

    checks: tuple[Check, ...]

    def __new__(cls, checks: tuple[Check, ...]) -> FailedChecks:
        line = super().__new__(cls, _failed_line(checks, "en"), "preflight.failed_checks")
        line.checks = checks
        return line

    def __reduce__(self) -> tuple[Any, ...]:
        return (FailedChecks, (self.checks,))

    def text(self, lang: str) -> str:
        return _failed_line(self.checks, lang)


class CheckLine(Notice):
    """One check's line (``Check.line``) as a Notice: its English words as the string, the whole
    line (the status word too) in a reader's language by ``text``; what a run reports before launch."""

    check: Check

    def __new__(cls, check: Check) -> CheckLine:
        line = super().__new__(cls, check.line("en"), "preflight.check_line")
        line.check = check
        return line

    def __reduce__(self) -> tuple[Any, ...]:
        return (CheckLine, (self.check,))

    def text(self, lang: str) -> str:
        return self.check.line(lang)


class PreflightError(UserError, RuntimeError):
    """A pre-flight check failed, so nothing was created. ``str()`` is one line: each failing
    check's name, what is missing and its fix (``check: detail -> fix; ...``); its ``checks``
    value words them in a reader's language (``errors.describe``)."""

    def __init__(self, report: Report) -> None:
        self.report = report
        checks = FailedChecks(report.failed)
        super().__init__(str(checks), code="preflight.failed", values={"checks": checks})

    @property
    def first(self) -> Check:
        """The first failing check (the one a one-line refusal names first)."""
        return self.report.failed[0]


def grant_of(settings: Settings, action: str, account: str | None = None) -> str:
    """``"<action> (statement <Sid> of operator-policy.json, `titanic-sm iam render`)"``."""
    from services.account import iam

    try:
        inputs = iam.PolicyInputs.from_settings(settings, account or LOCAL_ACCOUNT_ID)
    except iam.PolicyInputError:
        return f"{action} (`titanic-sm iam render` writes the operator policy)"
    for statement in iam.operator_policy(inputs)["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if action in actions:
            return f"{action} (statement {statement['Sid']} of operator-policy.json, `titanic-sm iam render`)"
    return f"{action} (not in the operator policy)"


def _flat(text: str, limit: int = 300) -> str:
    """One line: an error text from a server may carry newlines or a whole page."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _message(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _denied(exc: ClientError) -> bool:
    code = _code(exc)
    return code in DENIED_CODES or "AccessDenied" in code or "not authorized" in _message(exc)


def run_checks(
    settings: Settings,
    *,
    job_name: str | None = None,
    instance_type: str | None = None,
    use_spot: bool | None = None,
    max_run_seconds: int | None = None,
    max_wait_seconds: int | None = None,
    evidence: Any | None = None,
    override_reason: str | None = None,
) -> Report:
    """Every check, in order; a failing credentials check skips those that need an account.

    ``evidence`` is the Instance page's (``instances.gather``) when the caller has it; otherwise
    the quotas are read here, with the price snapshot (a quota check needs no live price, and a
    launch should not page through the Price List). ``override_reason`` is the Instance page's
    override: a type whose quota reads 0 is then a warning (the user says the quota was raised),
    and the account itself still refuses it if it was not.
    """
    started = time.monotonic()
    checks: list[Check] = []
    use_spot = settings.use_spot if use_spot is None else use_spot
    max_run = settings.max_run_seconds if max_run_seconds is None else max_run_seconds
    max_wait = settings.max_wait_seconds if max_wait_seconds is None else max_wait_seconds
    instance_type = instance_type or settings.instance_type

    identity = _credentials(settings)
    checks.append(identity.check)
    account = identity.account
    # The other checks are independent reads of different services: side by side, a launch waits
    # for the slowest one (on AWS a round trip each), not for their sum.
    questions: list[Callable[[], list[Check]]] = [
        lambda: [_role(settings, account)],
        lambda: [_instance(settings, instance_type, use_spot, evidence, override_reason)],
    ]
    if account is None:
        skipped = Notice(
            "needs working credentials (see the credentials line)", "preflight.needs_credentials"
        )
        checks += [Check(name, "skip", skipped) for name in ("bucket", "prefix", "repository", "job name")]
    else:
        questions += [
            lambda: list(_bucket(settings, account)),
            lambda: [_repository(settings, account)],
            lambda: [_job_name(settings, account, job_name)],
        ]
    with ThreadPoolExecutor(max_workers=len(questions), thread_name_prefix="preflight") as pool:
        for answered in pool.map(lambda question: question(), questions):
            checks += answered
    checks.append(_spot(use_spot, max_run, max_wait))
    order = ["credentials", "role", "bucket", "prefix", "repository", "instance", "job name", "spot"]
    checks.sort(key=lambda c: order.index(c.name) if c.name in order else len(order))
    return Report(tuple(checks), account, identity.caller_arn, time.monotonic() - started)


def require_ready(settings: Settings, **kwargs: Any) -> Report:
    """``run_checks``, raising PreflightError when any check fails; call it before creating anything."""
    report = run_checks(settings, **kwargs)
    if not report.ok:
        raise PreflightError(report)
    return report


# -- credentials ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Identity:
    check: Check
    account: str | None = None
    caller_arn: str | None = None


def _credentials(settings: Settings) -> _Identity:
    profile = f"profile {settings.aws_profile!r} " if settings.aws_profile else ""
    try:
        identity = aws.client(settings, "sts").get_caller_identity()
    except ProfileNotFound:
        return _Identity(
            Check(
                "credentials",
                "fail",
                Notice(
                    f"AWS profile {settings.aws_profile!r} is not in ~/.aws/config or ~/.aws/credentials",
                    "preflight.no_profile",
                    {"profile": repr(settings.aws_profile)},
                ),
                Notice(
                    "fix aws_profile (TITANIC_SM_AWS_PROFILE) or run `aws configure --profile NAME`",
                    "preflight.no_profile.fix",
                ),
            )
        )
    except NoCredentialsError:
        return _Identity(
            Check(
                "credentials",
                "fail",
                Notice(
                    "no AWS credentials found (environment, profile, SSO or instance role)",
                    "preflight.no_credentials",
                ),
                Notice(
                    "run `aws configure` or `aws sso login`, or set aws_profile",
                    "preflight.no_credentials.fix",
                ),
            )
        )
    except ClientError as exc:
        return _Identity(
            Check(
                "credentials",
                "fail",
                Notice(
                    f"sts:GetCallerIdentity with {profile}was refused: {_code(exc)}",
                    "preflight.sts_refused",
                    {"profile": profile, "code": _code(exc)},
                ),
                Notice(
                    "refresh the credentials (expired session?) and try again", "preflight.sts_refused.fix"
                ),
            )
        )
    except BotoCoreError as exc:
        return _Identity(
            Check(
                "credentials",
                "fail",
                Notice(
                    f"cannot reach STS: {_message(exc)}",
                    "preflight.sts_unreachable",
                    {"cause": _message(exc)},
                ),
                Notice("check network and region", "preflight.sts_unreachable.fix"),
            )
        )
    account, arn = str(identity["Account"]), str(identity["Arn"])
    return _Identity(
        Check(
            "credentials",
            "ok",
            Notice(
                f"account {account} as {arn}", "preflight.ok.credentials", {"account": account, "arn": arn}
            ),
        ),
        account,
        arn,
    )


# -- execution role --------------------------------------------------------------------------------


def _role(settings: Settings, account: str | None) -> Check:
    match = ROLE_ARN_PATTERN.fullmatch(settings.role_arn)
    if match is None:
        return Check(
            "role",
            "fail",
            Notice(
                f"role_arn {settings.role_arn!r} is not an IAM role ARN",
                "preflight.role_not_arn",
                {"role": repr(settings.role_arn)},
            ),
            Notice(
                "use arn:aws:iam::ACCOUNT:role/NAME (IAM console > Roles > the role > ARN)",
                "preflight.role_not_arn.fix",
            ),
        )
    if account is not None and match["account"] != account:
        return Check(
            "role",
            "fail",
            Notice(
                f"role {match['name']} is in account {match['account']}, the credentials in {account}",
                "preflight.role_other_account",
                {"role": match["name"], "role_account": match["account"], "account": account},
            ),
            Notice(
                "use an execution role of the account you train in (SageMaker cannot pass another's)",
                "preflight.role_other_account.fix",
            ),
        )
    if settings.is_local:
        return Check(
            "role",
            "ok",
            Notice(
                f"{settings.role_arn} (local: only its form matters)",
                "preflight.ok.role_local",
                {"role": settings.role_arn},
            ),
        )
    if account is None:
        return Check(
            "role", "skip", Notice("trust not read: needs working credentials", "preflight.skip.role_trust")
        )
    try:
        role = aws.client(settings, "iam").get_role(RoleName=match["name"])["Role"]
    except ClientError as exc:
        if _code(exc) == "NoSuchEntity":
            return Check(
                "role",
                "fail",
                Notice(
                    f"role {match['name']} does not exist in account {account}",
                    "preflight.no_role",
                    {"role": match["name"], "account": account},
                ),
                Notice(
                    "create it (`titanic-sm infra up`, or the SageMaker console) or fix role_arn",
                    "preflight.no_role.fix",
                ),
            )
        if _denied(exc):
            return Check(
                "role",
                "skip",
                f"{settings.role_arn}: could not read its trust policy (iam:GetRole denied)",
                f"optional: grant {grant_of(settings, 'iam:GetRole', account)}",
            )
        return Check("role", "skip", f"could not read {match['name']}: {_code(exc)}")
    except BotoCoreError as exc:
        return Check("role", "skip", f"could not read {match['name']}: {_message(exc)}")
    return _trust_check(settings, account, match["name"], role.get("AssumeRolePolicyDocument"))


def _trust_check(settings: Settings, account: str, name: str, document: Any) -> Check:
    if isinstance(document, str):  # the IAM API returns it URL-encoded; boto3 usually decodes it
        document = json.loads(urllib.parse.unquote(document))
    document = document or {}
    job_arn = f"arn:aws:sagemaker:{settings.region}:{account}:training-job/{settings.job_name_base.lower()}-x"
    for statement in _as_list(document.get("Statement", [])):
        if statement.get("Effect") != "Allow":
            continue
        services = _as_list(statement.get("Principal", {}).get("Service", []))
        actions = _as_list(statement.get("Action", []))
        if SAGEMAKER_PRINCIPAL not in services or not {"sts:AssumeRole", "sts:*", "*"} & set(actions):
            continue
        condition = statement.get("Condition", {})
        source_arns = [
            str(p) for op in ("ArnLike", "ArnEquals", "StringLike") for p in _patterns(condition, op)
        ]
        if source_arns and not any(fnmatch.fnmatchcase(job_arn, p) for p in source_arns):
            return Check(
                "role",
                "fail",
                Notice(
                    f"role {name} trusts SageMaker only for {', '.join(source_arns)}, "
                    f"not jobs named {settings.job_name_base}-*",
                    "preflight.trust_narrow",
                    {"role": name, "arns": ", ".join(source_arns), "base": settings.job_name_base},
                ),
                Notice(
                    "set base_job_name (or prefix) to what the trust allows, "
                    "or widen the role's aws:SourceArn",
                    "preflight.trust_narrow.fix",
                ),
            )
        return Check(
            "role",
            "ok",
            Notice(
                f"{name} trusts {SAGEMAKER_PRINCIPAL}",
                "preflight.ok.role",
                {"role": name, "principal": SAGEMAKER_PRINCIPAL},
            ),
        )
    return Check(
        "role",
        "fail",
        Notice(
            f"role {name} does not trust {SAGEMAKER_PRINCIPAL} (its trust policy has no such Allow)",
            "preflight.no_trust",
            {"role": name, "principal": SAGEMAKER_PRINCIPAL},
        ),
        Notice(
            "use a SageMaker execution role, or add sagemaker.amazonaws.com to its trust "
            "(execution-role-trust.json)",
            "preflight.no_trust.fix",
        ),
    )


def _patterns(condition: Mapping[str, Any], operator: str) -> list[Any]:
    return _as_list(condition.get(operator, {}).get("aws:SourceArn", []))


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


# -- bucket and prefix -----------------------------------------------------------------------------


def _bucket(settings: Settings, account: str) -> Iterator[Check]:
    s3 = aws.client(settings, "s3")
    bucket = settings.bucket
    try:
        location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except ClientError as exc:
        code = _code(exc)
        if code in ("NoSuchBucket", "404"):
            yield Check(
                "bucket",
                "ok" if settings.is_local else "warn",
                Notice(
                    f"{bucket} does not exist: the first upload creates it in {settings.region}",
                    "preflight.bucket_missing",
                    {"bucket": bucket, "region": settings.region},
                ),
                ""
                if settings.is_local
                else Notice(
                    f"if you meant an existing bucket, fix bucket; creating it "
                    f"needs {grant_of(settings, 's3:CreateBucket', account)}",
                    "preflight.bucket_missing.fix",
                    {"grant": grant_of(settings, "s3:CreateBucket", account)},
                ),
            )
            yield Check(
                "prefix",
                "skip",
                Notice(
                    f"s3://{bucket}/{settings.prefix}/: the bucket does not exist yet",
                    "preflight.skip.prefix_no_bucket",
                    {"bucket": bucket, "prefix": settings.prefix},
                ),
            )
            return
        if _denied(exc):
            yield Check(
                "bucket",
                "fail",
                Notice(
                    f"{bucket}: s3:GetBucketLocation denied (another account's bucket, or a missing grant)",
                    "preflight.bucket_denied",
                    {"bucket": bucket},
                ),
                Notice(
                    f"grant {grant_of(settings, 's3:GetBucketLocation', account)}, or fix bucket",
                    "preflight.bucket_denied.fix",
                    {"grant": grant_of(settings, "s3:GetBucketLocation", account)},
                ),
            )
            yield Check(
                "prefix", "skip", Notice("the bucket could not be read", "preflight.skip.prefix_unread")
            )
            return
        yield Check(
            "bucket",
            "fail",
            f"{bucket}: {code}: {_message(exc)}",
            Notice("check the bucket name", "preflight.bucket_failed.fix"),
        )
        yield Check("prefix", "skip", Notice("the bucket could not be read", "preflight.skip.prefix_unread"))
        return
    # us-east-1 answers None; the legacy "EU" constraint is eu-west-1.
    region = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)
    if region != settings.region:
        yield Check(
            "bucket",
            "fail",
            Notice(
                f"{bucket} is in {region}, not {settings.region}",
                "preflight.bucket_elsewhere",
                {"bucket": bucket, "region": region, "wanted": settings.region},
            ),
            Notice(
                f'set region = "{region}", or use a bucket in {settings.region} '
                "(SageMaker reads its own region)",
                "preflight.bucket_elsewhere.fix",
                {"region": region, "wanted": settings.region},
            ),
        )
        yield Check(
            "prefix", "skip", Notice("the bucket is in another region", "preflight.skip.prefix_elsewhere")
        )
        return
    yield Check(
        "bucket",
        "ok",
        Notice(f"{bucket} in {region}", "preflight.ok.bucket", {"bucket": bucket, "region": region}),
    )
    yield _prefix_writable(settings, s3, account)


def _prefix_writable(settings: Settings, s3: Any, account: str) -> Check:
    key = f"{settings.prefix}/{WRITE_CHECK_KEY}"
    try:
        upload = s3.create_multipart_upload(Bucket=settings.bucket, Key=key)
    except ClientError as exc:
        if _denied(exc):
            return Check(
                "prefix",
                "fail",
                Notice(
                    f"cannot write s3://{settings.bucket}/{settings.prefix}/ (s3:PutObject denied)",
                    "preflight.prefix_denied",
                    {"bucket": settings.bucket, "prefix": settings.prefix},
                ),
                Notice(
                    f"grant {grant_of(settings, 's3:PutObject', account)}",
                    "preflight.grant",
                    {"grant": grant_of(settings, "s3:PutObject", account)},
                ),
            )
        return Check("prefix", "fail", f"cannot write s3://{settings.bucket}/{key}: {_code(exc)}")
    try:
        s3.abort_multipart_upload(Bucket=settings.bucket, Key=key, UploadId=upload["UploadId"])
    except ClientError as exc:
        return Check(
            "prefix",
            "warn",
            f"s3://{settings.bucket}/{settings.prefix}/ is writable, but aborting the check's upload "
            f"was refused ({_code(exc)})",
            f"grant {grant_of(settings, 's3:AbortMultipartUpload', account)}; the bucket's "
            "lifecycle rule removes the incomplete upload",
        )
    return Check(
        "prefix",
        "ok",
        Notice(
            f"s3://{settings.bucket}/{settings.prefix}/ is writable",
            "preflight.ok.prefix",
            {"bucket": settings.bucket, "prefix": settings.prefix},
        ),
    )


# -- repository ------------------------------------------------------------------------------------


def _repository(settings: Settings, account: str) -> Check:
    name = settings.repository
    try:
        found = aws.client(settings, "ecr").describe_repositories(repositoryNames=[name])["repositories"][0]
    except ClientError as exc:
        if _code(exc) == "RepositoryNotFoundException":
            return Check(
                "repository",
                "ok" if settings.is_local else "warn",
                Notice(
                    f"{name} does not exist in {settings.region}: `image` creates it",
                    "preflight.repository_missing",
                    {"repository": name, "region": settings.region},
                ),
                ""
                if settings.is_local
                else Notice(
                    f"if you meant an existing repository, fix repository; creating "
                    f"it needs {grant_of(settings, 'ecr:CreateRepository', account)}",
                    "preflight.repository_missing.fix",
                    {"grant": grant_of(settings, "ecr:CreateRepository", account)},
                ),
            )
        if _denied(exc):
            return Check(
                "repository",
                "fail",
                Notice(
                    f"{name}: ecr:DescribeRepositories denied",
                    "preflight.repository_denied",
                    {"repository": name},
                ),
                Notice(
                    f"grant {grant_of(settings, 'ecr:DescribeRepositories', account)}",
                    "preflight.grant",
                    {"grant": grant_of(settings, "ecr:DescribeRepositories", account)},
                ),
            )
        return Check("repository", "fail", f"{name}: {_code(exc)}: {_message(exc)}")
    return Check("repository", "ok", str(found["repositoryUri"]))


# -- instance, job name, spot ----------------------------------------------------------------------


def _instance(
    settings: Settings,
    instance_type: str,
    use_spot: bool,
    evidence: Any | None,
    override_reason: str | None = None,
) -> Check:
    from services.instance import instances, pricing

    purchase = "spot" if use_spot else "on-demand"
    if instance_type not in instances.training_instance_types():
        source = instances.botocore_source()
        return Check(
            "instance",
            "fail",
            Notice(
                f"{instance_type!r} is not a SageMaker training instance type ({source})",
                "preflight.unknown_type",
                {"instance_type": repr(instance_type), "source": source},
            ),
            Notice("pick one from `titanic-sm instances`", "preflight.unknown_type.fix"),
        )
    try:
        if evidence is None:
            evidence = instances.gather(settings, price_book=pricing.load_snapshot(settings.region))
    except (BotoCoreError, ClientError, OSError, ValueError) as exc:
        return Check("instance", "skip", f"{instance_type}: no quota evidence ({_message(exc)})")
    row = evidence.decision(use_spot).candidate(instance_type)
    if row is None:
        return Check(
            "instance",
            "fail",
            Notice(
                f"{instance_type} is not among the Instance page's candidates",
                "preflight.not_a_candidate",
                {"instance_type": instance_type},
            ),
        )
    where = ", ".join(x for x in (row.quota_source, row.quota_fetched) if x) or "no quota source"
    if row.quota is None:
        return Check(
            "instance",
            "warn",
            Notice(
                f"{instance_type} {purchase}: quota unknown ({where})",
                "preflight.quota_unknown_spot" if use_spot else "preflight.quota_unknown_on_demand",
                {"instance_type": instance_type, "purchase": purchase, "where": where},
            ),
            Notice(
                "grant servicequotas:ListServiceQuotas, or check the quota in the Service Quotas console",
                "preflight.quota_unknown.fix",
            ),
        )
    if row.quota < 1 and override_reason:
        return Check(
            "instance",
            "warn",
            Notice(
                f"{instance_type} {purchase}: quota {row.quota:g} in {settings.region} ({where}), "
                f"overridden: {override_reason}",
                "preflight.quota_overridden_spot" if use_spot else "preflight.quota_overridden_on_demand",
                {
                    "instance_type": instance_type,
                    "purchase": purchase,
                    "quota": row.quota,
                    "region": settings.region,
                    "where": where,
                    "reason": override_reason,
                },
            ),
            Notice(
                "if the quota was not raised, SageMaker refuses the job (ResourceLimitExceeded)",
                "preflight.quota_overridden.fix",
            ),
        )
    if row.quota < 1:
        return Check(
            "instance",
            "fail",
            Notice(
                f"{instance_type} {purchase}: quota {row.quota:g} in {settings.region} ({where})",
                "preflight.quota_zero_spot" if use_spot else "preflight.quota_zero_on_demand",
                {
                    "instance_type": instance_type,
                    "purchase": purchase,
                    "quota": row.quota,
                    "region": settings.region,
                    "where": where,
                },
            ),
            Notice(
                "request an increase (docs/aws.md, step 3) or pick another type from `titanic-sm instances`",
                "preflight.quota_zero.fix",
            ),
        )
    return Check(
        "instance",
        "ok",
        Notice(
            f"{instance_type} {purchase}: quota {row.quota:g} ({where})",
            "preflight.ok.instance_spot" if use_spot else "preflight.ok.instance_on_demand",
            {"instance_type": instance_type, "purchase": purchase, "quota": row.quota, "where": where},
        ),
    )


def _job_name(settings: Settings, account: str, job_name: str | None) -> Check:
    from services.training import estimator as training

    name = job_name or training.job_name_for(settings.job_name_base)
    if len(name) > JOB_NAME_LIMIT or not training.JOB_NAME_PATTERN.match(name):
        return Check(
            "job name",
            "fail",
            Notice(
                f"{name!r} is not a valid job name ({len(name)} characters; at most {JOB_NAME_LIMIT} "
                "letters, digits and hyphens)",
                "preflight.bad_job_name",
                {"name": repr(name), "length": len(name), "limit": JOB_NAME_LIMIT},
            ),
            Notice("shorten base_job_name (at most 40 characters)", "preflight.bad_job_name.fix"),
        )
    try:
        aws.client(settings, "sagemaker").describe_training_job(TrainingJobName=name)
    except ClientError as exc:
        if _code(exc) in ("ValidationException", "ResourceNotFound"):
            return Check(
                "job name",
                "ok",
                Notice(
                    f"{name} is free ({len(name)} characters)",
                    "preflight.ok.job_name",
                    {"name": name, "length": len(name)},
                ),
            )
        if _denied(exc):
            return Check(
                "job name",
                "fail",
                Notice(
                    f"{name}: sagemaker:DescribeTrainingJob denied",
                    "preflight.job_name_denied",
                    {"name": name},
                ),
                Notice(
                    f"grant {grant_of(settings, 'sagemaker:DescribeTrainingJob', account)}; "
                    f"the job name must start with {settings.job_name_base}-",
                    "preflight.job_name_denied.fix",
                    {
                        "grant": grant_of(settings, "sagemaker:DescribeTrainingJob", account),
                        "base": settings.job_name_base,
                    },
                ),
            )
        return Check("job name", "skip", f"{name}: {_code(exc)}")
    except BotoCoreError as exc:
        return Check("job name", "skip", f"{name}: {_message(exc)}")
    return Check(
        "job name",
        "fail",
        Notice(f"a training job named {name} already exists", "preflight.job_exists", {"name": name}),
        Notice("use another name", "preflight.job_exists.fix"),
    )


def _spot(use_spot: bool, max_run: int, max_wait: int | None) -> Check:
    if not use_spot:
        if max_wait is not None:
            return Check(
                "spot",
                "fail",
                Notice("max_wait is set but spot is off", "preflight.max_wait_without_spot"),
                Notice("turn spot on, or leave max_wait unset", "preflight.max_wait_without_spot.fix"),
            )
        return Check(
            "spot",
            "ok",
            Notice(f"on-demand, max_run {max_run} s", "preflight.ok.on_demand", {"max_run": max_run}),
        )
    if max_wait is None:
        return Check(
            "spot",
            "fail",
            Notice("spot needs max_wait", "preflight.spot_needs_max_wait"),
            Notice(
                f"set max_wait >= max_run ({max_run} s)",
                "preflight.spot_needs_max_wait.fix",
                {"max_run": max_run},
            ),
        )
    if max_wait < max_run:
        return Check(
            "spot",
            "fail",
            Notice(
                f"max_wait ({max_wait} s) is shorter than max_run ({max_run} s)",
                "preflight.max_wait_too_short",
                {"max_wait": max_wait, "max_run": max_run},
            ),
            Notice(
                f"set max_wait to at least {max_run}",
                "preflight.max_wait_too_short.fix",
                {"max_run": max_run},
            ),
        )
    return Check(
        "spot",
        "ok",
        Notice(
            f"spot, max_run {max_run} s <= max_wait {max_wait} s",
            "preflight.ok.spot",
            {"max_run": max_run, "max_wait": max_wait},
        ),
    )


def describe(report: Report, echo: Callable[[str], None]) -> None:
    for line in report.lines():
        echo(line)

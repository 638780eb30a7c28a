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


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)

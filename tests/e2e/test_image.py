"""The training image as SageMaker gets it: its config and history, the verbs it accepts, a real
`train` over a mounted /opt/ml tree, and the push: login required, pulled back by digest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from services.data import dataset
from services.docker_cli import docker
from services.image import images
from services.image.images import ImageRef
from services.local.stack import StackEndpoints
from services.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
ADDED_MB_GOAL = 350


@pytest.fixture(scope="session")
def config(training_image: ImageRef) -> dict[str, Any]:
    return images.image_config(training_image.local_tag)


def _run(image: str, *args: str, volumes: dict[Path, str] | None = None) -> subprocess.CompletedProcess[str]:
    mounts = [f"--volume={host}:{inside}" for host, inside in (volumes or {}).items()]
    # No network: the job must not need one (SageMaker may run it network-isolated).
    command = ["docker", "run", "--rm", "--network=none", *mounts, image, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_entrypoint_is_exec_form_and_unbuffered(config: dict[str, Any]) -> None:
    assert config["Config"]["Entrypoint"] == ["python", "-m", "container.train"]
    assert config["Config"]["WorkingDir"] == "/opt/program"
    assert "PYTHONUNBUFFERED=1" in config["Config"]["Env"]
    assert (config["Os"], config["Architecture"]) == ("linux", "amd64")


def test_oci_labels_name_version_and_revision(config: dict[str, Any]) -> None:
    labels = config["Config"]["Labels"]
    # The commit the content was first built at (an unchanged context reuses the image, label and all).
    revision = labels["org.opencontainers.image.revision"].removesuffix("-dirty")
    known = subprocess.run(["git", "-C", str(REPO_ROOT), "cat-file", "-e", f"{revision}^{{commit}}"])
    assert len(revision) == 40 and known.returncode == 0, revision
    assert labels["org.opencontainers.image.version"] == images._version(REPO_ROOT)
    assert labels["org.opencontainers.image.title"] == "titanic-sm-training"


def test_no_credentials_or_host_paths_baked_in(training_image: ImageRef, config: dict[str, Any]) -> None:
    history = docker(
        ["history", "--no-trunc", "--format", "{{.CreatedBy}}", training_image.local_tag], what="history"
    ).stdout
    baked = "\n".join([*config["Config"]["Env"], json.dumps(config["Config"]["Labels"]), history])
    for secret in ("AWS_ACCESS_KEY", "AWS_SECRET", "AWS_SESSION_TOKEN", "PASSWORD", "TOKEN="):
        assert secret not in baked.upper()
    for host_path in {str(REPO_ROOT), str(Path.home()), "/tmp/"}:
        assert host_path not in baked, host_path
    listing = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--entrypoint",
            "ls",
            training_image.local_tag,
            "-a",
            "/root",
            "/opt/program",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listing.returncode == 0, listing.stderr
    assert ".aws" not in listing.stdout and ".docker" not in listing.stdout
    assert "tests" not in listing.stdout.split(), "only the container/ package is copied"


def test_other_verbs_are_refused_in_one_clear_line(training_image: ImageRef) -> None:
    served = _run(training_image.local_tag, "serve")
    assert served.returncode != 0
    assert "unsupported command 'serve'" in served.stderr
    assert "Traceback" not in served.stderr


def _opt_ml_tree(root: Path, prepared: dataset.PreparedDataset, hyperparameters: dict[str, str]) -> Path:
    config = root / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    channels = {"train": prepared.train_path, "validation": prepared.validation_path}
    (config / "inputdataconfig.json").write_text(
        json.dumps({name: {"ContentType": "text/csv"} for name in channels})
    )
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
    for name, source in channels.items():
        (root / "input" / "data" / name).mkdir(parents=True)
        (root / "input" / "data" / name / f"{name}.csv").write_bytes(source.read_bytes())
    for folder in ("model", "output", "checkpoints"):
        (root / folder).mkdir()
    return root


def test_train_on_a_mounted_opt_ml_tree(training_image: ImageRef, tmp_path: Path) -> None:
    prepared = dataset.prepare(out_dir=tmp_path / "data")
    tree = _opt_ml_tree(tmp_path / "ml", prepared, {"num_leaves": "7"})
    trained = _run(training_image.local_tag, "train", volumes={tree: "/opt/ml"})
    assert trained.returncode == 0, (trained.stdout + trained.stderr)[-2000:]
    assert (tree / "model" / "model.joblib").is_file()
    metrics = json.loads((tree / "model" / "metrics.json").read_text())
    assert metrics["hyperparameters"]["num_leaves"] == 7
    assert 0.75 < metrics["validation"]["roc_auc"] < 0.95  # above 0.95 would mean leakage
    assert "validation:auc=" in trained.stdout + trained.stderr  # what metric_definitions scrape
    assert not (tree / "output" / "failure").exists()


def test_our_layers_add_at_most_the_goal_on_top_of_the_base(
    training_image: ImageRef, config: dict[str, Any]
) -> None:
    base = images.image_config(training_image.base_image)
    added_mb = (config["Size"] - base["Size"]) / 1e6
    assert 0 < added_mb <= ADDED_MB_GOAL, f"{added_mb:.0f} MB added"


def _remove_registry_references(ref: ImageRef) -> list[str]:
    """Drop the local references to the pushed image (registry tags and digests), so the next pull
    must come from the registry; the build's own tag stays. Returns what was removed."""
    listed = docker(
        ["image", "inspect", "--format", "{{json .RepoTags}}\t{{json .RepoDigests}}", ref.uri_with_digest],
        what="docker image inspect",
        check=False,
    )
    names = {ref.uri, ref.uri_with_digest}
    if listed.returncode == 0:
        for listing in listed.stdout.strip().split("\t"):
            names.update(json.loads(listing) or [])
    ours = sorted(n for n in names if n.startswith((ref.repository_uri + ":", ref.repository_uri + "@")))
    return [
        n for n in ours if docker(["image", "rm", n], what="docker image rm", check=False).returncode == 0
    ]


def test_the_registry_demands_login_and_the_push_is_pulled_back_by_digest(
    e2e_settings: Settings, training_image: ImageRef, local_stack: StackEndpoints
) -> None:
    removed = _remove_registry_references(training_image)
    assert training_image.uri in removed
    assert docker(["image", "inspect", training_image.uri_with_digest], what="i", check=False).returncode != 0

    docker(["logout", local_stack.registry], what="docker logout")
    refused = docker(["pull", training_image.uri_with_digest], what="pull", check=False, timeout=120)
    assert refused.returncode != 0
    assert "no basic auth credentials" in refused.stderr or "unauthorized" in refused.stderr

    assert images.login(e2e_settings) == local_stack.registry
    pulled = docker(["pull", training_image.uri_with_digest], what="pull", timeout=300)
    assert training_image.digest in pulled.stdout
    pulled_id = images.image_config(training_image.uri_with_digest)["Id"]
    assert pulled_id == images.image_config(training_image.local_tag)["Id"], "the registry holds our build"
    _remove_registry_references(training_image)


def test_moto_ecr_records_the_push(e2e_settings: Settings, training_image: ImageRef) -> None:
    from services import aws

    ecr = aws.client(e2e_settings, "ecr")
    details = ecr.describe_images(
        repositoryName=e2e_settings.repository, imageIds=[{"imageTag": training_image.tag}]
    )["imageDetails"]
    assert [d["imageDigest"] for d in details] == [training_image.digest]


def test_an_unchanged_tree_is_neither_rebuilt_nor_pushed_and_the_cli_shows_it(
    e2e_settings: Settings, training_image: ImageRef
) -> None:
    # Others may edit container/ during a session: take the tree as it is now, then ask again.
    now = images.ensure_image(e2e_settings)
    stages: list[str] = []
    again = images.ensure_image(e2e_settings, progress=lambda stage, message: stages.append(stage))
    assert (again.digest, again.tag, again.built) == (now.digest, now.tag, False)
    assert "build" not in stages and "login" not in stages
    current = images.current_image(e2e_settings)
    assert current is not None and current.uri_with_digest == now.uri_with_digest

    env = {**os.environ, "TITANIC_SM_STATE_DIR": str(e2e_settings.state_dir)}
    cli = [str(Path(sys.executable).parent / "titanic-sm")]
    shown = subprocess.run([*cli, "image", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["uri_with_digest"] == now.uri_with_digest
    assert "already pushed" in shown.stderr


def test_cli_local_status_and_a_bad_state_dir(e2e_settings: Settings, local_stack: StackEndpoints) -> None:
    env = {**os.environ, "TITANIC_SM_STATE_DIR": str(e2e_settings.state_dir)}
    cli = [str(Path(sys.executable).parent / "titanic-sm")]
    status = subprocess.run([*cli, "local", "status"], capture_output=True, text=True, env=env, timeout=60)
    assert status.returncode == 0, status.stderr
    assert status.stdout.count("healthy") == 3 and local_stack.registry in status.stdout
    assert local_stack.sagemaker_url.removeprefix("http://") in status.stdout  # the control plane
    broken = e2e_settings.state_dir.parent / "broken-state"
    (broken / "local-stack").mkdir(parents=True, exist_ok=True)
    (broken / "local-stack" / "stack.json").write_text("{not json")
    for command in (["local", "status"], ["local", "up"]):
        failed = subprocess.run(
            [*cli, "--state-dir", str(broken), *command], capture_output=True, text=True, timeout=60
        )
        assert failed.returncode == 1
        assert failed.stderr.startswith("error: the local stack state ") and "unreadable" in failed.stderr
        assert len(failed.stderr.strip().splitlines()) == 1


def _pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, _, version = requirement.partition("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def test_every_package_in_the_image_is_pinned_in_container_requirements(training_image: ImageRef) -> None:
    """A reproducible image: nothing resolved at build time that container/requirements.txt does not pin."""
    frozen = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "python", training_image.local_tag, "-m", "pip", "freeze"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    pinned = _pins((REPO_ROOT / "container" / "requirements.txt").read_text())
    assert all(pinned.values()), f"unpinned: {[n for n, v in pinned.items() if not v]}"
    assert _pins(frozen) == pinned

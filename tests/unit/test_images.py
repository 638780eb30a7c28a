"""What the image is built from and named by, without Docker: context, content tag, Dockerfile rules."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from services.image import images
from services.image.images import ImageRef, build_context_files, context_tag, lifecycle_policy
from services.messages import worded
from services.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the build context, so edits do not touch the checkout."""
    shutil.copy(REPO_ROOT / "Dockerfile.training", tmp_path / "Dockerfile.training")
    shutil.copytree(
        REPO_ROOT / "container", tmp_path / "container", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


def test_context_is_the_dockerfile_and_the_container_package_only() -> None:
    relative = {p.relative_to(REPO_ROOT).as_posix() for p in build_context_files(REPO_ROOT)}
    assert "Dockerfile.training" in relative
    assert {"container/requirements.txt", "container/contract.py", "container/train.py"} <= relative
    assert all(p == "Dockerfile.training" or p.startswith("container/") for p in relative)
    assert not any("__pycache__" in p or p.endswith(".pyc") for p in relative)


def test_dockerignore_admits_exactly_what_is_hashed() -> None:
    rules = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*", "everything is excluded first, so the context stays tiny"
    admitted = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert admitted == {images.DOCKERFILE, *images.BUILD_CONTEXT_DIRS}
    assert {"**/__pycache__", "**/*.pyc"} <= set(rules)


def test_same_content_same_tag_and_any_change_a_new_one(tree: Path) -> None:
    tag = context_tag(tree, "base:1")
    assert re.fullmatch(r"ctx-[0-9a-f]{16}", tag)
    assert context_tag(tree, "base:1") == tag
    assert context_tag(tree, "base:2") != tag, "a new base is a new image"
    (tree / "container" / "__pycache__").mkdir(exist_ok=True)
    (tree / "container" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    assert context_tag(tree, "base:1") == tag, "bytecode is not in the context"
    with (tree / "container" / "train.py").open("a") as handle:
        handle.write("\n# changed\n")
    assert context_tag(tree, "base:1") != tag


def test_renaming_a_file_changes_the_tag(tree: Path) -> None:
    tag = context_tag(tree, "base:1")
    (tree / "container" / "contract.py").rename(tree / "container" / "contract2.py")
    assert context_tag(tree, "base:1") != tag


def test_dockerfile_keeps_the_agreed_shape() -> None:
    text = (REPO_ROOT / "Dockerfile.training").read_text()
    instructions = [line.split()[0] for line in text.splitlines() if line and not line.startswith(("#", " "))]
    assert instructions[0] == "ARG" and instructions[1] == "FROM"
    assert 'ENTRYPOINT ["python", "-m", "container.train"]' in text  # exec form: `train` is argv[1]
    assert "PYTHONUNBUFFERED=1" in text
    assert "WORKDIR /opt/program" in text
    assert re.search(r"install -y --no-install-recommends libgomp1", text)
    assert "rm -rf /var/lib/apt/lists/*" in text
    # Dependencies before code, so a code change reuses the pip layer.
    assert (
        text.index("COPY container/requirements.txt")
        < text.index("pip install")
        < text.index("COPY container/ ")
    )
    assert "org.opencontainers.image.version" in text and "org.opencontainers.image.revision" in text
    assert "ADD " not in text and "AWS_" not in text, "nothing fetched or credentialed at build time"


def test_lifecycle_policy_keeps_the_last_n_images() -> None:
    rule = json.loads(lifecycle_policy(7))["rules"][0]
    assert rule["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 7}
    assert rule["action"] == {"type": "expire"}


def test_image_ref_pins_by_digest() -> None:
    ref = ImageRef("127.0.0.1:5000/titanic-training", "ctx-0123456789abcdef", "sha256:" + "a" * 64)
    assert ref.uri == "127.0.0.1:5000/titanic-training:ctx-0123456789abcdef"
    assert ref.uri_with_digest == "127.0.0.1:5000/titanic-training@sha256:" + "a" * 64
    assert ref.registry == "127.0.0.1:5000"


def test_git_revision_is_a_commit_of_this_checkout() -> None:
    revision = images.git_revision(REPO_ROOT)
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", revision)


def test_a_daemon_that_does_not_answer_is_one_line_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    with pytest.raises(images.ImageError, match=r"^the Docker daemon is not running: run `make docker`$"):
        images.ensure_image(Settings(state_dir=tmp_path / "state"))
    env = {**os.environ, "TITANIC_SM_STATE_DIR": str(tmp_path / "state")}
    cli = subprocess.run(
        [str(Path(sys.executable).parent / "titanic-sm"), "image"], capture_output=True, text=True, env=env
    )
    assert cli.returncode == 1
    assert cli.stderr.strip().splitlines()[-1] == "error: the Docker daemon is not running: run `make docker`"
    assert "Traceback" not in cli.stderr


def test_a_daemon_that_cannot_run_amd64_is_refused_before_building(monkeypatch: pytest.MonkeyPatch) -> None:
    # The Apple-Silicon trap: an arm64 daemon without emulation builds images SageMaker cannot exec.
    monkeypatch.setattr(images, "server_arch", lambda: "aarch64")
    with pytest.raises(images.ImageError, match=r"runs aarch64 and cannot run linux/amd64 images"):
        images.require_amd64("titanic-sm/no-such-base:never")


def test_a_second_builder_waits_for_the_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    settings = Settings(state_dir=tmp_path / "state")
    settings.state_dir.mkdir()
    messages: list[str] = []
    outcome: list[str] = []

    def second_builder() -> None:
        try:
            images.ensure_image(settings, progress=lambda stage, message: messages.append(message))
        except images.ImageError as exc:
            outcome.append(str(exc))

    with open(settings.state_dir / "image.lock", "w") as first_builder:
        fcntl.flock(first_builder, fcntl.LOCK_EX)
        thread = threading.Thread(target=second_builder)
        thread.start()
        deadline = time.monotonic() + 10
        while not messages and time.monotonic() < deadline:
            time.sleep(0.02)
        assert messages == ["another process is building the image: waiting for it"]
        # A Notice: the CLI (TITANIC_SM_LANG=ko) and the Train page word it in Korean.
        assert worded(messages[0], "ko") == "다른 프로세스가 이미지를 빌드하고 있어 기다리는 중"
        time.sleep(0.2)
        assert thread.is_alive() and not outcome, "it must wait while the lock is held"
    thread.join(30)
    assert outcome == ["the Docker daemon is not running: run `make docker`"]


def test_builds_on_one_docker_daemon_wait_for_each_other_across_state_dirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon's build tags are machine-wide: a build from another state dir waits its turn."""
    monkeypatch.setattr(images.tempfile, "gettempdir", lambda: str(tmp_path))
    messages: list[str] = []
    entered = threading.Event()

    def other_state_dir() -> None:
        with images._one_build_per_daemon(lambda stage, message: messages.append(message)):
            entered.set()

    with open(tmp_path / images.BUILD_LOCK_NAME, "a") as first_build:
        fcntl.flock(first_build, fcntl.LOCK_EX)
        thread = threading.Thread(target=other_state_dir)
        thread.start()
        deadline = time.monotonic() + 10
        while not messages and time.monotonic() < deadline:
            time.sleep(0.02)
        assert messages and messages[0].startswith("another titanic-sm is building on this Docker daemon")
        assert not entered.wait(0.2), "it must wait while the other build holds the lock"
    thread.join(10)
    assert entered.is_set()


def test_old_local_builds_are_pruned_but_recent_ones_kept() -> None:
    repository = "titanic-sm/unit-test-prune"
    empty_tar = subprocess.run(["tar", "-c", "-T", "/dev/null"], capture_output=True, check=True).stdout
    tags = [f"{repository}:ctx-{n}" for n in ("a", "b", "c")]
    for tag in tags:
        subprocess.run(["docker", "import", "-", tag], input=empty_tar, capture_output=True, check=True)
    try:
        assert images.prune_local_builds(keep=1, repository=repository) == [], "none is a day old"
        a_day_later = time.time() + 2 * images.PRUNE_MIN_AGE_SECONDS
        removed = images.prune_local_builds(keep=1, now=a_day_later, repository=repository)
        assert len(removed) == 2 and set(removed) < set(tags)
        left = subprocess.run(
            [
                "docker",
                "images",
                "--filter",
                f"reference={repository}:*",
                "--format",
                "{{.Repository}}:{{.Tag}}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert left == sorted(set(tags) - set(removed))
    finally:
        subprocess.run(["docker", "image", "rm", *tags], capture_output=True)

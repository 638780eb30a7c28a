"""The offline base's inputs: the mirror comes from the machine's apt sources, the tag from its inputs."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.local import base_image
from services.local.base_image import (
    BaseImageError,
    debian_mirror,
    known_base_image,
    offline_base_tag,
    resolve_base_image,
)
from services.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example.org/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example.org/debian-security
Suites: bookworm-security
Components: main
"""


def test_mirror_is_read_from_deb822_sources_skipping_security(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    mirror = debian_mirror(tmp_path / "sources.list.d", tmp_path / "missing.list")
    assert mirror == "http://mirror.example.org/debian"


def test_security_first_still_yields_the_main_archive(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    security_first = "\n\n".join(reversed(DEB822.split("\n\n")))
    (tmp_path / "d" / "debian.sources").write_text(security_first)
    assert debian_mirror(tmp_path / "d", tmp_path / "none") == "http://mirror.example.org/debian"


def test_disabled_stanzas_and_source_only_entries_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.sources").write_text(
        "Types: deb-src\nURIs: http://src.example.org/debian\nSuites: bookworm\n\n"
        "Types: deb\nEnabled: no\nURIs: http://off.example.org/debian\nSuites: bookworm\n"
    )
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.example.org/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://list.example.org/debian bookworm main\n"
    )
    assert debian_mirror(tmp_path / "d", tmp_path / "sources.list") == "http://list.example.org/debian"


def test_no_mirror_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BaseImageError, match=r"no Debian mirror found.*TITANIC_SM_BASE_IMAGE"):
        debian_mirror(tmp_path / "absent", tmp_path / "absent.list")


def test_this_machines_mirror_is_found_at_run_time() -> None:
    # The CI machine is Debian: its own sources, never a hard-coded host, feed debootstrap.
    assert re.match(r"^https?://\S+$", debian_mirror())


def test_offline_tag_changes_with_each_input(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("one")
    first = offline_base_tag("http://a.example.org/debian", ca)
    assert first == offline_base_tag("http://a.example.org/debian", ca)
    assert re.fullmatch(r"titanic-sm/python-base:bookworm-[0-9a-f]{12}", first)
    assert offline_base_tag("http://b.example.org/debian", ca) != first
    ca.write_text("two")
    assert offline_base_tag("http://a.example.org/debian", ca) != first


def test_default_base_equals_the_dockerfile_default() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile.training").read_text()
    match = re.search(r"^ARG BASE_IMAGE=(\S+)$", dockerfile, re.MULTILINE)
    assert match is not None
    assert match.group(1) == base_image.DEFAULT_BASE_IMAGE


@pytest.fixture(scope="module")
def tiny_image() -> Iterator[str]:
    """An empty image made here (nothing can be pulled), to stand for a base the user names."""
    tag = "titanic-sm/unit-test-base:empty"
    empty_tar = subprocess.run(["tar", "-c", "-T", "/dev/null"], capture_output=True, check=True).stdout
    subprocess.run(["docker", "import", "-", tag], input=empty_tar, capture_output=True, check=True)
    try:
        yield tag
    finally:
        subprocess.run(["docker", "image", "rm", tag], capture_output=True)


def test_an_explicit_base_is_used_as_given(tiny_image: str) -> None:
    messages: list[str] = []
    chosen = resolve_base_image(
        Settings(base_image=tiny_image), lambda stage, message: messages.append(message)
    )
    assert (chosen.ref, chosen.source) == (tiny_image, "setting")
    assert messages == [f"using base image {tiny_image} (from settings)"]
    assert known_base_image(Settings(base_image=tiny_image)) == tiny_image


def test_an_explicit_base_that_is_nowhere_is_one_clear_error() -> None:
    missing = "titanic-sm/unit-test-base:absent"
    with pytest.raises(
        BaseImageError, match=r"^base image 'titanic-sm/unit-test-base:absent' \(TITANIC_SM_BASE_IMAGE\)"
    ):
        resolve_base_image(Settings(base_image=missing))
    assert known_base_image(Settings(base_image=missing)) is None

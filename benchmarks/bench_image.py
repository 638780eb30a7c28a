"""`make bench-image`: the training image's size, what our layers add on top of the base (goal
<= 350 MB), and the base and image build times, cold and warm.

Cold image build = `docker build --no-cache` into a throwaway tag (pip and apt for real).
Warm = the same build with the layer cache (what an edit to container/*.py costs, roughly).
The offline base is rebuilt from scratch only with BENCH_COLD_BASE=1 (debootstrap, ~1 min).
"""

from __future__ import annotations

import os
import time

from services import base_image, images
from services.docker_cli import docker
from services.settings import Settings

ADDED_MB_GOAL = 350


def _mb(size: int) -> str:
    return f"{size / 1e6:,.0f} MB"


def main() -> None:
    settings = Settings.from_env()
    root = images.project_root()
    if os.environ.get("BENCH_COLD_BASE") == "1":
        mirror = base_image.debian_mirror()
        tag = base_image.offline_base_tag(mirror)
        docker(["image", "rm", "--force", tag], what="remove the cached offline base", check=False)
    started = time.monotonic()
    base = base_image.resolve_base_image(
        settings, progress=lambda stage, message: print(f"  [{stage}] {message}")
    )
    base_seconds = time.monotonic() - started
    print(f"base   {base.ref} ({base.source}): {base_seconds:.1f}s")

    scratch = f"{images.LOCAL_IMAGE_REPOSITORY}:bench"
    cold = images.build(root, base, scratch, no_cache=True)
    warm = images.build(root, base, scratch)
    print(f"image  build cold (--no-cache): {cold:.1f}s   warm (layer cache): {warm:.1f}s")

    image = images.image_config(scratch)
    base_size = images.image_config(base.ref)["Size"]
    added = image["Size"] - base_size
    print(f"size   image {_mb(image['Size'])} = base {_mb(base_size)} + ours {_mb(added)}", end="")
    print(f"   (goal <= {ADDED_MB_GOAL} MB: {'met' if added / 1e6 <= ADDED_MB_GOAL else 'MISSED'})")
    history = docker(["history", "--format", "{{.Size}}\t{{.CreatedBy}}", scratch], what="docker history")
    base_layers = len(docker(["history", "-q", base.ref], what="docker history").stdout.split())
    ours = history.stdout.splitlines()[: -base_layers or None]
    print("layers (newest first, ours only):")
    for line in ours:
        size, _, created_by = line.partition("\t")
        print(f"  {size:>8}  {created_by[:90]}")
    docker(["image", "rm", scratch], what="remove the bench tag", check=False)


if __name__ == "__main__":
    main()

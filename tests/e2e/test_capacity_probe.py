"""The capacity probe for real: the training image under Docker limits, measured, then proved."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.data import dataset
from services.image.images import ImageRef
from services.instance import capacity, instances
from services.settings import Settings


@pytest.fixture(scope="session")
def probe_image(training_image: ImageRef) -> str:
    """The session-built training image; its local tag runs without a pull."""
    return training_image.local_tag or training_image.uri_with_digest


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dataset.PreparedDataset:
    return dataset.prepare(out_dir=tmp_path_factory.mktemp("data"))


def test_probe_measures_derives_the_requirement_and_proves_the_chosen_type(
    probe_image: str, prepared: dataset.PreparedDataset, tmp_path: Path
) -> None:
    settings = Settings(state_dir=tmp_path / "state")
    check = instances.capacity_check(
        settings, probe_image, prepared.train_path, prepared.validation_path, cpus=1.0, memory_bytes=2 * 2**30
    )
    measured = check.measured
    assert measured.completed, measured.failure
    assert measured.cgroup in ("v1", "v2")
    assert measured.peak_memory_bytes is not None
    # Python + pandas + LightGBM on 1047 rows: tens of MiB at least, far below the 2 GiB limit.
    assert 20 * 2**20 < measured.peak_memory_bytes < 2 * 2**30
    assert 0 < measured.wall_seconds <= measured.docker_seconds

    need = check.requirement
    assert need is not None and need.min_vcpu == 1
    assert need.min_memory_gib >= 2 * measured.peak_memory_bytes / 2**30

    # Local target: snapshot prices + sample quotas choose ml.m5.large (2 vCPU, 8 GiB); it is proved.
    assert check.proved_type == "ml.m5.large"
    proof = check.proof
    assert proof is not None and proof.completed, proof
    assert proof.memory_limit_bytes == 8 * 2**30 and proof.cpus == 2
    assert proof.peak_fraction is not None and 0 < proof.peak_fraction < 0.5

    # The evidence now rests on the measurement and shows the proof.
    evidence = instances.gather(settings)
    assert evidence.requirement.source.startswith("capacity probe")
    assert evidence.proofs["ml.m5.large"]["completed"] is True
    assert "Proof: ml.m5.large: completed" in instances.to_markdown(evidence)


def test_a_limit_below_the_need_does_not_complete(
    probe_image: str, prepared: dataset.PreparedDataset
) -> None:
    result = capacity.run_probe(
        probe_image, prepared.train_path, prepared.validation_path, cpus=1.0, memory_bytes=48 * 2**20
    )
    assert not result.completed
    assert "out of memory" in result.failure


def test_an_image_docker_cannot_run_is_one_clear_error(prepared: dataset.PreparedDataset) -> None:
    with pytest.raises(
        capacity.CapacityError, match=r"^docker run titanic-sm/no-such-image:0 failed: .*rror"
    ):
        capacity.run_probe("titanic-sm/no-such-image:0", prepared.train_path)

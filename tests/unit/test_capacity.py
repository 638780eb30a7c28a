"""The capacity probe's output parser, the requirement it derives, and its stored results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from services.instance import capacity
from services.settings import Settings

MIB = 2**20


def result(
    peak_mib: float | None = 300, completed: bool = True, cpus: float = 1.0, **kw: object
) -> capacity.ProbeResult:
    values: dict[str, object] = {
        "image": "titanic-training:test",
        "cpus": cpus,
        "memory_limit_bytes": 2 * 2**30,
        "completed": completed,
        "exit_code": 0 if completed else 137,
        "wall_seconds": 2.5,
        "docker_seconds": 4.0,
        "peak_memory_bytes": None if peak_mib is None else int(peak_mib * MIB),
        "cgroup": "v1",
        "measured_at": "2026-11-26T06:00:00+00:00",
        "failure": "" if completed else "killed: out of memory",
    }
    values.update(kw)
    return capacity.ProbeResult(**values)  # type: ignore[arg-type]  # each test passes ProbeResult fields with values of their types


def test_parser_reads_the_last_marker_line_among_training_output() -> None:
    stdout = "\n".join(
        [
            "validation:auc=0.8612",
            'CAPACITY_PROBE {"exit_code": 1, "wall_seconds": 0.1, "peak_memory_bytes": 1, "cgroup": "v1"}',
            'CAPACITY_PROBE {"exit_code": 0, "wall_seconds": 2.345, '
            '"peak_memory_bytes": 314572800, "cgroup": "v1"}',
        ]
    )
    reading = capacity.parse_probe_output(stdout)
    assert reading == capacity.ProbeReading(
        exit_code=0, wall_seconds=2.345, peak_memory_bytes=314572800, cgroup="v1"
    )


def test_parser_reads_the_cgroup_limit_when_reported() -> None:
    line = (
        'CAPACITY_PROBE {"exit_code": 0, "wall_seconds": 1.0, "peak_memory_bytes": 5, '
        '"cgroup_limit_bytes": 1073741824, "cgroup": "v1"}'
    )
    assert capacity.parse_probe_output(line).cgroup_limit_bytes == 2**30


def test_parser_accepts_an_unreadable_cgroup_as_unknown_peak() -> None:
    line = 'CAPACITY_PROBE {"exit_code": 0, "wall_seconds": 1.0, "peak_memory_bytes": null, "cgroup": null}'
    assert capacity.parse_probe_output(line).peak_memory_bytes is None


@pytest.mark.parametrize(
    ("stdout", "message"),
    [
        ("training log only\n", "printed no CAPACITY_PROBE line"),
        ("CAPACITY_PROBE {not json", "malformed"),
        ('CAPACITY_PROBE {"wall_seconds": 1.0}', "malformed"),
    ],
)
def test_parser_rejects_missing_or_broken_output(stdout: str, message: str) -> None:
    with pytest.raises(capacity.CapacityError, match=message):
        capacity.parse_probe_output(stdout)


@pytest.mark.parametrize("exit_code", [0, 3])
def test_wrapper_runs_the_trainer_module_and_reports_its_exit_code(tmp_path: Path, exit_code: int) -> None:
    # A stand-in `container.train` in the working directory, as /opt/program holds the real one.
    package = tmp_path / "container"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "train.py").write_text(f"import sys\nprint('training', sys.argv[1:])\nsys.exit({exit_code})\n")
    run = subprocess.run(
        [sys.executable, "-c", capacity.WRAPPER], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == exit_code
    assert "training ['train']" in run.stdout
    reading = capacity.parse_probe_output(run.stdout)
    assert reading.exit_code == exit_code and reading.wall_seconds >= 0
    if Path("/sys/fs/cgroup/memory/memory.max_usage_in_bytes").exists():  # this host: cgroup v1
        assert reading.cgroup == "v1" and reading.peak_memory_bytes and reading.peak_memory_bytes > 0


@pytest.mark.parametrize(
    ("peak_mib", "factor", "expected_gib"),
    [(300, 2.0, 1.0), (100, 2.0, 0.5), (600, 2.0, 1.5), (1024, 2.0, 2.0), (300, 4.0, 1.5)],
)
def test_requirement_is_peak_times_factor_rounded_up_to_half_gib(
    peak_mib: float, factor: float, expected_gib: float
) -> None:
    need = capacity.requirement_from_probe(result(peak_mib), memory_factor=factor)
    assert need.min_memory_gib == expected_gib
    assert need.min_vcpu == 1
    assert f"safety factor {factor:g}" in need.basis and need.measured_at.startswith("2026-11-26")


def test_requirement_vcpu_follows_the_probe_limit() -> None:
    assert capacity.requirement_from_probe(result(cpus=2.0)).min_vcpu == 2
    assert capacity.requirement_from_probe(result(cpus=0.5)).min_vcpu == 1


def test_no_requirement_from_a_failed_or_unmeasured_probe() -> None:
    with pytest.raises(capacity.CapacityError, match="did not complete"):
        capacity.requirement_from_probe(result(completed=False))
    with pytest.raises(capacity.CapacityError, match="peak memory"):
        capacity.requirement_from_probe(result(peak_mib=None))
    with pytest.raises(capacity.CapacityError, match="at least 1"):
        capacity.requirement_from_probe(result(), memory_factor=0.5)


def test_peak_fraction_and_description() -> None:
    proof = result(peak_mib=512, instance_type="ml.m5.large", memory_limit_bytes=8 * 2**30, cpus=2.0)
    assert proof.peak_fraction == pytest.approx(1 / 16)
    text = capacity.describe(proof)
    assert text.startswith("ml.m5.large: completed in 2.5 s")
    assert "--cpus 2 --memory 8 GiB" in text and "6.2% of the limit" in text


def test_the_description_reads_in_korean_with_the_same_figures() -> None:
    proof = result(peak_mib=512, instance_type="ml.m5.large", memory_limit_bytes=8 * 2**30, cpus=2.0)
    assert capacity.describe(proof).text("ko") == (
        "ml.m5.large: 완료, 학습 2.5초(컨테이너 시작 포함 4.0초), 한도 --cpus 2 --memory 8 GiB; "
        "최대 메모리 512 MiB = 한도의 6.2% (cgroup v1, 2026-11-26T06:00:00+00:00)"
    )
    failed = capacity.describe(result(completed=False, peak_mib=None, note="--cpus capped"))
    assert failed.text("ko") == (
        "완료되지 않음(killed: out of memory), 학습 2.5초(컨테이너 시작 포함 4.0초), 한도 --cpus 1 "
        "--memory 2 GiB; 최대 메모리 알 수 없음 (cgroup v1, 2026-11-26T06:00:00+00:00); --cpus capped"
    )
    assert failed.text("en") == str(failed) and str(failed).startswith("did NOT complete (killed: out of")


def test_results_round_trip_through_the_state_dir(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    measured = result()
    capacity.save_result(settings, measured)
    assert capacity.load_latest(settings) == measured
    proof = result(instance_type="ml.m5.large")
    capacity.save_proof(settings, proof)
    assert capacity.load_proof(settings, "ml.m5.large") == proof
    assert capacity.load_proof(settings, "ml.t3.medium") is None
    with pytest.raises(capacity.CapacityError, match="instance type"):
        capacity.save_proof(settings, measured)
    assert json.loads((tmp_path / "capacity" / "probe.json").read_text())["peak_fraction"] == pytest.approx(
        300 / 2048
    )


def test_missing_csv_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(capacity.CapacityError, match="training CSV not found"):
        capacity.run_probe("any-image", tmp_path / "nope.csv")

"""The capacity probe: run the real training image under Docker limits and measure what it needs.

The image is started as ``docker run --cpus C --memory M`` with a temporary ``/opt/ml`` tree
mounted. Its entry point is overridden by a small Python wrapper that runs
``python -m container.train train`` and then prints one ``CAPACITY_PROBE {json}`` line with the
exit code, the wall time and the container's peak memory read from its cgroup (v1:
``memory.max_usage_in_bytes``, v2: ``memory.peak``), because the cgroup is gone once the
container exits. From a completed run the requirement is derived with a stated safety factor;
run again with a chosen instance's vCPU and memory as the limits, the same probe is the proof
that training completes on it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from container.contract import (
    CSV_FILE_CHANNEL,
    DEFAULT_BASE_DIR,
    TRAIN_CHANNEL,
    VALIDATION_CHANNEL,
    Paths,
    resource_config,
)
from services.docker_cli import DockerError, docker
from services.errors import InfrastructureError
from services.messages import Notice
from services.settings import Settings

__all__ = [
    "DEFAULT_MEMORY_FACTOR",
    "MARKER",
    "CapacityError",
    "ProbeReading",
    "ProbeResult",
    "Requirement",
    "assumed_requirement",
    "describe",
    "load_latest",
    "load_proof",
    "parse_probe_output",
    "requirement_from_probe",
    "resolve_image",
    "run_probe",
    "save_proof",
    "save_result",
]

MARKER = "CAPACITY_PROBE "
# Peak memory is doubled: the instance's OS and SageMaker's agents share its memory, and a
# different data set or hyperparameters can use more than the measured run.
DEFAULT_MEMORY_FACTOR = 2.0
MEMORY_STEP_GIB = 0.5
SHIPPED_PROBE = "capacity_probe.json"

# Runs inside the image: train, then read the cgroup's peak before the container (and cgroup) go away.
WRAPPER = """\
import json, subprocess, sys, time
start = time.monotonic()
code = subprocess.call([sys.executable, "-m", "container.train", "train"])
wall = time.monotonic() - start
def read(path):
    try:
        with open(path) as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
v1, v2 = "/sys/fs/cgroup/memory/memory.", "/sys/fs/cgroup/memory."
peak, limit, version = None, None, None
for name, peak_file, limit_file in (("v1", v1 + "max_usage_in_bytes", v1 + "limit_in_bytes"),
                                    ("v2", v2 + "peak", v2 + "max")):
    peak = read(peak_file)
    if peak is not None:
        limit, version = read(limit_file), name
        break
print("CAPACITY_PROBE " + json.dumps({"exit_code": code, "wall_seconds": round(wall, 3),
      "peak_memory_bytes": peak, "cgroup_limit_bytes": limit, "cgroup": version}), flush=True)
sys.exit(code if code >= 0 else 128 - code)
"""


class CapacityError(InfrastructureError, RuntimeError):
    """The probe could not run or its output could not be read; the message names the cause."""


@dataclass(frozen=True)
class ProbeReading:
    """What the in-container wrapper reported."""

    exit_code: int
    wall_seconds: float
    peak_memory_bytes: int | None
    cgroup: str | None
    cgroup_limit_bytes: int | None = None  # read back, to show the cgroup was the container's own


@dataclass(frozen=True)
class ProbeResult:
    image: str
    cpus: float
    memory_limit_bytes: int
    completed: bool
    exit_code: int
    wall_seconds: float  # training only, measured inside the container
    docker_seconds: float  # the whole `docker run`, start-up included
    peak_memory_bytes: int | None
    cgroup: str | None
    measured_at: str
    failure: str = ""  # one line: why it did not complete
    instance_type: str | None = None  # set when the limits were an instance's specs (a proof run)
    note: str = ""

    @property
    def peak_fraction(self) -> float | None:
        """Peak memory as a fraction of the memory limit."""
        if self.peak_memory_bytes is None or self.memory_limit_bytes <= 0:
            return None
        return self.peak_memory_bytes / self.memory_limit_bytes

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "peak_fraction": self.peak_fraction}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProbeResult:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Requirement:
    """The least vCPU and memory a training instance must have, and why."""

    min_vcpu: int
    min_memory_gib: float
    basis: str
    source: str
    measured_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_probe_output(stdout: str) -> ProbeReading:
    """The wrapper's ``CAPACITY_PROBE {json}`` line (the last one wins) from the container's stdout."""
    lines = [line for line in stdout.splitlines() if line.startswith(MARKER)]
    if not lines:
        raise CapacityError(
            "the probe printed no CAPACITY_PROBE line: the container did not reach the end",
            code="capacity.no_probe_line",
        )
    try:
        data = json.loads(lines[-1][len(MARKER) :])
        peak = data.get("peak_memory_bytes")
        limit = data.get("cgroup_limit_bytes")
        return ProbeReading(
            exit_code=int(data["exit_code"]),
            wall_seconds=float(data["wall_seconds"]),
            peak_memory_bytes=int(peak) if peak is not None else None,
            cgroup=data.get("cgroup"),
            cgroup_limit_bytes=int(limit) if limit is not None else None,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise CapacityError(
            f"the CAPACITY_PROBE line is malformed: {exc}",
            code="capacity.bad_probe_line",
            values={"cause": str(exc)},
        ) from None


def _write_tree(
    base: Path, train_csv: Path, validation_csv: Path | None, hyperparameters: Mapping[str, str]
) -> None:
    paths = Paths(base)
    channels = {TRAIN_CHANNEL: train_csv} | ({VALIDATION_CHANNEL: validation_csv} if validation_csv else {})
    for channel, csv in channels.items():
        paths.channel_dir(channel).mkdir(parents=True)
        shutil.copyfile(csv, paths.channel_dir(channel) / Path(csv).name)
    paths.write_input_config(
        hyperparameters, {channel: CSV_FILE_CHANNEL for channel in channels}, resource_config()
    )


def _failure_line(base: Path) -> str:
    failure = Paths(base).failure_file
    if failure.is_file():
        text = failure.read_text(errors="replace").strip()
        return text.splitlines()[0] if text else ""
    return ""


def run_probe(
    image: str,
    train_csv: Path,
    validation_csv: Path | None = None,
    *,
    cpus: float = 1.0,
    memory_bytes: int = 2 * 2**30,
    hyperparameters: Mapping[str, str] | None = None,
    instance_type: str | None = None,
    timeout_seconds: float = 900,
) -> ProbeResult:
    """Train once in ``image`` under ``--cpus``/``--memory`` limits and report peak memory and wall time.

    A run that does not complete (non-zero exit, out of memory) is a result with
    ``completed=False`` and a one-line ``failure``; only a probe that cannot start raises.
    """
    train_csv = Path(train_csv)
    if not train_csv.is_file():
        raise CapacityError(
            f"training CSV not found: {train_csv}",
            code="capacity.no_train_csv",
            values={"path": str(train_csv)},
        )
    if validation_csv is not None and not Path(validation_csv).is_file():
        raise CapacityError(
            f"validation CSV not found: {validation_csv}",
            code="capacity.no_validation_csv",
            values={"path": str(validation_csv)},
        )
    host_cpus = os.cpu_count() or 1
    note = ""
    if cpus > host_cpus:
        note = f"--cpus capped at this host's {host_cpus} cores (the instance has {cpus:g} vCPU)"
        cpus = float(host_cpus)
    name = f"titanic-sm-probe-{uuid.uuid4().hex[:12]}"
    with tempfile.TemporaryDirectory(prefix="titanic-sm-probe-") as tmp:
        base = Path(tmp) / "ml"
        _write_tree(base, train_csv, validation_csv, hyperparameters or {})
        base.chmod(0o777)  # the image may run as a non-root user
        for path in base.rglob("*"):
            path.chmod(0o777 if path.is_dir() else 0o666)
        args = [
            "run",
            "--rm",
            "--name",
            name,
            "--network",
            "none",
            "--cpus",
            f"{cpus:g}",
            "--memory",
            str(memory_bytes),
            "--memory-swap",
            str(memory_bytes),  # no swap: the limit is the memory the job really has
            "-v",
            f"{base}:{DEFAULT_BASE_DIR}",
            "--entrypoint",
            "python",
            image,
            "-c",
            WRAPPER,
        ]
        started = time.monotonic()
        try:
            result = docker(args, what="capacity probe", timeout=timeout_seconds, check=False)
        except DockerError:
            docker(["rm", "-f", name], what="remove the probe container", check=False)
            raise
        docker_seconds = time.monotonic() - started
        failure = _failure_line(base)
    measured_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    common: dict[str, Any] = {
        "image": image,
        "cpus": cpus,
        "memory_limit_bytes": memory_bytes,
        "docker_seconds": round(docker_seconds, 3),
        "measured_at": measured_at,
        "instance_type": instance_type,
        "note": note,
    }
    if result.returncode == 125 and MARKER not in result.stdout:  # docker itself failed: no container ran
        errors = [line for line in result.stderr.splitlines() if "rror" in line] or result.stderr.splitlines()
        cause = (errors or ["no output"])[0].strip()
        raise CapacityError(
            f"docker run {image} failed: {cause}",
            code="capacity.docker_run_failed",
            values={"image": image, "cause": cause},
        )
    try:
        reading = parse_probe_output(result.stdout)
    except CapacityError:
        stderr = [line for line in result.stderr.splitlines() if line.strip()]
        cause = (
            "killed: out of memory" if result.returncode == 137 else (stderr[-1] if stderr else "no output")
        )
        return ProbeResult(
            completed=False,
            exit_code=result.returncode,
            wall_seconds=round(docker_seconds, 3),
            peak_memory_bytes=None,
            cgroup=None,
            failure=f"the container exited {result.returncode} before reporting ({cause})",
            **common,
        )
    completed = reading.exit_code == 0
    if reading.cgroup_limit_bytes is not None and reading.cgroup_limit_bytes != memory_bytes:
        # Not the container's own cgroup: its peak would be someone else's figure.
        mismatch = f"cgroup limit {reading.cgroup_limit_bytes} != --memory {memory_bytes}: peak not trusted"
        common["note"] = f"{note}; {mismatch}" if note else mismatch
        reading = ProbeReading(reading.exit_code, reading.wall_seconds, None, reading.cgroup, None)
    if not completed and not failure:
        failure = (
            "killed: out of memory" if reading.exit_code in (-9, 137) else f"exit code {reading.exit_code}"
        )
    return ProbeResult(
        completed=completed,
        exit_code=reading.exit_code,
        wall_seconds=reading.wall_seconds,
        peak_memory_bytes=reading.peak_memory_bytes,
        cgroup=reading.cgroup,
        failure="" if completed else failure,
        **common,
    )


def requirement_from_probe(result: ProbeResult, memory_factor: float = DEFAULT_MEMORY_FACTOR) -> Requirement:
    """Minimum vCPU and memory: peak x ``memory_factor`` rounded up to 0.5 GiB; the probe's vCPU (>= 1)."""
    if not result.completed:
        raise CapacityError(
            f"the probe did not complete ({result.failure}); it cannot set a requirement",
            code="capacity.incomplete",
            values={"cause": str(result.failure)},
        )
    if result.peak_memory_bytes is None:
        raise CapacityError(
            "the probe could not read the cgroup's peak memory; it cannot set a requirement",
            code="capacity.no_peak_memory",
        )
    if memory_factor < 1:
        raise CapacityError(
            f"the memory safety factor must be at least 1, not {memory_factor:g}",
            code="capacity.bad_memory_factor",
            values={"value": memory_factor},
        )
    peak_gib = result.peak_memory_bytes / 2**30
    needed_gib = peak_gib * memory_factor
    min_memory_gib = max(MEMORY_STEP_GIB, math.ceil(needed_gib / MEMORY_STEP_GIB) * MEMORY_STEP_GIB)
    min_vcpu = max(1, math.ceil(result.cpus))
    basis = Notice(
        f"capacity probe: peak memory {peak_gib * 1024:.0f} MiB x safety factor {memory_factor:g} = "
        f"{needed_gib * 1024:.0f} MiB, rounded up to {min_memory_gib:g} GiB; "
        f"{min_vcpu} vCPU because training completed in {result.wall_seconds:.1f} s "
        f"under --cpus {result.cpus:g}",
        "requirement.measured",
        {
            "peak_mib": peak_gib * 1024,
            "factor": memory_factor,
            "needed_mib": needed_gib * 1024,
            "memory_gib": min_memory_gib,
            "vcpu": min_vcpu,
            "seconds": result.wall_seconds,
            "cpus": result.cpus,
        },
    )
    return Requirement(
        min_vcpu=min_vcpu,
        min_memory_gib=min_memory_gib,
        basis=basis,
        source=f"capacity probe of {result.image}" + (f" ({result.note})" if result.note else ""),
        measured_at=result.measured_at,
    )


def assumed_requirement() -> Requirement:
    """Used only when no probe has ever run: stated as an assumption, never as a measurement."""
    return Requirement(
        min_vcpu=1,
        min_memory_gib=1.0,
        basis=Notice(
            "assumed (no capacity probe yet: run `titanic-sm probe` to measure)", "requirement.assumed"
        ),
        source="assumption",
        measured_at="",
    )


def resolve_image(settings: Settings, image: str | None = None) -> str:
    """``image`` if given, else the project's training image (built and pushed if needed)."""
    if image:
        return image
    from services.image import images  # builds on demand; only needed when no image is named

    ref = images.ensure_image(settings)
    return ref.local_tag or ref.uri_with_digest


def _state_file(settings: Settings) -> Path:
    return settings.state_dir / "capacity" / "probe.json"


def save_result(settings: Settings, result: ProbeResult) -> Path:
    """Keep the latest completed measuring run under the state dir."""
    path = _state_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return path


def _proof_file(settings: Settings, instance_type: str) -> Path:
    return settings.state_dir / "capacity" / f"proof-{instance_type}.json"


def save_proof(settings: Settings, result: ProbeResult) -> Path:
    """Keep a run under an instance type's limits as that type's proof."""
    if result.instance_type is None:
        raise CapacityError(
            "a proof run needs the instance type whose limits it used", code="capacity.proof_without_type"
        )
    path = _proof_file(settings, result.instance_type)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return path


def load_proof(settings: Settings, instance_type: str) -> ProbeResult | None:
    path = _proof_file(settings, instance_type)
    return ProbeResult.from_dict(json.loads(path.read_text())) if path.is_file() else None


def describe(result: ProbeResult) -> Notice:
    """One line: completed or not, wall time, peak memory and its share of the limit (a Notice:
    the CLI and the Instance page word it in their language; the failure and the note are quoted)."""
    outcome = (
        Notice("completed", "probe.completed")
        if result.completed
        else Notice(
            f"did NOT complete ({result.failure})", "probe.not_completed", {"failure": result.failure}
        )
    )
    peak = (
        Notice(
            f"peak memory {result.peak_memory_bytes / 2**20:.0f} MiB = "
            f"{result.peak_fraction:.1%} of the limit",
            "probe.peak",
            {"peak_mib": result.peak_memory_bytes / 2**20, "fraction": result.peak_fraction},
        )
        if result.peak_memory_bytes is not None and result.peak_fraction is not None
        else Notice("peak memory unknown", "probe.peak_unknown")
    )
    head = f"{result.instance_type}: " if result.instance_type else ""
    memory_gib = result.memory_limit_bytes / 2**30
    cgroup = result.cgroup or "?"
    note = f"; {result.note}" if result.note else ""
    return Notice(
        f"{head}{outcome} in {result.wall_seconds:.1f} s of training "
        f"({result.docker_seconds:.1f} s with container start) "
        f"under --cpus {result.cpus:g} --memory {memory_gib:g} GiB; {peak} "
        f"(cgroup {cgroup}, {result.measured_at}){note}",
        "probe.summary",
        {
            "head": head,
            "outcome": outcome,
            "seconds": result.wall_seconds,
            "docker_seconds": result.docker_seconds,
            "cpus": result.cpus,
            "memory_gib": memory_gib,
            "peak": peak,
            "cgroup": cgroup,
            "measured_at": result.measured_at,
            "note": note,
        },
    )


def load_latest(settings: Settings) -> ProbeResult | None:
    """The latest probe under the state dir, else the measured run shipped in services/data, else None."""
    path = _state_file(settings)
    if path.is_file():
        return ProbeResult.from_dict(json.loads(path.read_text()))
    shipped = resources.files("services.instance") / "data" / SHIPPED_PROBE
    if shipped.is_file():
        return ProbeResult.from_dict(json.loads(shipped.read_text()))
    return None

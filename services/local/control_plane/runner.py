"""What a training job does on the local stack: Docker, S3, CloudWatch Logs and metrics.

One thread per job drives it through the state machine in ``models``: lay out the /opt/ml tree
under the stack dir, download the channels and checkpoints from S3 and the image (by digest)
from the registry, run ``IMAGE train`` under the instance type's vCPU and memory, ship its lines
to CloudWatch Logs as they come, apply the metric definitions, publish CPU and memory, stop it
with SIGTERM then SIGKILL, upload ``model.tar.gz``/``output.tar.gz``/checkpoints, and remove the
container and the tree. The Docker Engine API (the ``docker`` package) is used rather than the
CLI: a job makes a dozen calls and streams logs and stats, and a process per call would cost
the fit-overhead budget.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import functools
import logging
import os
import re
import shutil
import tarfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import docker
import docker.errors
import requests
from botocore.exceptions import BotoCoreError, ClientError

from container.contract import CURRENT_HOST, FAILURE_REASON_LIMIT, TRAIN_VERB, Paths, resource_config
from services.local.control_plane.models import CONTAINER_LABEL, TRANSITIONS, JobStore, TrainingJob
from services.local.stack import ecr_authorization

__all__ = ["LOG_GROUP", "METRIC_NAMESPACE", "Runner", "RunnerConfig"]

LOG = logging.getLogger("control_plane.runner")
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
METRIC_NAMESPACE = "/aws/sagemaker/TrainingJobs"
HOST_NAME = CURRENT_HOST
POLL_SECONDS = 0.1
LOG_FLUSH_SECONDS = 0.2
METRIC_FLUSH_SECONDS = 2.0
CHECKPOINT_SYNC_SECONDS = 5.0
_MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
_ECR_HOST = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com$")


@dataclass(frozen=True)
class RunnerConfig:
    state_dir: Path
    moto_url: str
    registry: str  # HOST:PORT of the registry behind "ECR"
    region: str = "us-east-1"
    stop_grace_seconds: float = 120.0

    @property
    def jobs_dir(self) -> Path:
        return self.state_dir / "jobs"


class JobFailure(Exception):
    """The job cannot go on; ``reason`` becomes its FailureReason (SageMaker's wording)."""


def _s3_split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def _docker_seconds(started: str | None, finished: str | None) -> float:
    """Seconds between two of Docker's RFC 3339 timestamps (nanoseconds cut to microseconds)."""

    def parse(stamp: str) -> float:
        head, _, fraction = stamp.rstrip("Z").partition(".")
        return dt.datetime.fromisoformat(f"{head}.{(fraction + '000000')[:6]}+00:00").timestamp()

    try:
        return max(0.0, parse(finished or "") - parse(started or ""))
    except ValueError:
        return 0.0


def _fail_if_active(job: TrainingJob, reason: str) -> None:
    if job.active:
        job.move("Failed", reason)


def _tree_has_files(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_file() for p in folder.rglob("*"))


class _LogShipper:
    """Container lines -> CloudWatch Logs, flushed every ``LOG_FLUSH_SECONDS`` (live, in order)."""

    def __init__(self, logs: Any, stream: str, after_ms: int | None = None) -> None:
        self._logs = logs
        self.stream = stream
        # Following a container again after a restart: lines up to here were shipped already.
        self._after_ms = after_ms
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._sending = threading.Lock()
        self._last_flush = 0.0
        self.first_line_at: float | None = None
        with contextlib.suppress(self._logs.exceptions.ResourceAlreadyExistsException):
            self._logs.create_log_group(logGroupName=LOG_GROUP)
        with contextlib.suppress(self._logs.exceptions.ResourceAlreadyExistsException):
            self._logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)

    def add(self, timestamp_ms: int, line: str) -> None:
        if self.first_line_at is None:
            self.first_line_at = time.time()
        if self._after_ms is not None and timestamp_ms <= self._after_ms:
            return
        with self._lock:
            self._pending.append({"timestamp": timestamp_ms, "message": line or " "})
        if time.monotonic() - self._last_flush >= LOG_FLUSH_SECONDS:
            self.flush()

    def tick(self) -> None:
        """Flush what waits once it has waited ``LOG_FLUSH_SECONDS`` (called by the job's loop)."""
        if self._pending and time.monotonic() - self._last_flush >= LOG_FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        with self._sending:  # one batch at a time, so events arrive in order
            with self._lock:
                events, self._pending = self._pending, []
                self._last_flush = time.monotonic()
            for start in range(0, len(events), 1000):
                try:
                    self._logs.put_log_events(
                        logGroupName=LOG_GROUP,
                        logStreamName=self.stream,
                        logEvents=events[start : start + 1000],
                    )
                except (BotoCoreError, ClientError) as exc:  # logs are best effort; the job goes on
                    LOG.warning("put_log_events to %s failed: %s", self.stream, exc)


class _MetricShipper:
    """Instance and metric-definition values -> CloudWatch, namespace /aws/sagemaker/TrainingJobs."""

    def __init__(self, cloudwatch: Any, job_name: str) -> None:
        self._cloudwatch = cloudwatch
        self._dimensions = [{"Name": "Host", "Value": f"{job_name}/{HOST_NAME}"}]
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._sending = threading.Lock()
        self._last_flush = time.monotonic()
        self.peak_memory_percent = 0.0

    def add(self, name: str, value: float, at: float, unit: str = "None") -> None:
        datum = {
            "MetricName": name,
            "Dimensions": self._dimensions,
            "Timestamp": dt.datetime.fromtimestamp(at, dt.UTC),
            "Value": value,
            "Unit": unit,
        }
        with self._lock:
            self._pending.append(datum)

    def tick(self) -> None:
        if self._pending and time.monotonic() - self._last_flush >= METRIC_FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        with self._sending:
            with self._lock:
                data, self._pending = self._pending, []
                self._last_flush = time.monotonic()
            for start in range(0, len(data), 500):
                try:
                    self._cloudwatch.put_metric_data(
                        Namespace=METRIC_NAMESPACE, MetricData=data[start : start + 500]
                    )
                except (BotoCoreError, ClientError) as exc:
                    LOG.warning("put_metric_data failed: %s", exc)


class _MetricMatcher:
    """MetricDefinitions applied to every output line; the last value of each is the final one."""

    def __init__(self, definitions: list[dict[str, str]]) -> None:
        self._rules = []
        for definition in definitions:
            with contextlib.suppress(re.error):
                self._rules.append((definition["Name"], re.compile(definition["Regex"])))
        self.final: dict[str, dict[str, Any]] = {}

    def scan(self, line: str, at: float) -> list[tuple[str, float]]:
        found = []
        for name, regex in self._rules:
            match = regex.search(line)
            if match is None:
                continue
            try:
                value = float(match.group(1))
            except (IndexError, ValueError):
                continue
            self.final[name] = {"MetricName": name, "Value": value, "Timestamp": at}
            found.append((name, value))
        return found


class Runner:
    """Runs jobs from the store; ``start`` returns at once, ``wake`` tells a job to look again."""

    def __init__(self, config: RunnerConfig, store: JobStore, specs: dict[str, tuple[int, float]]) -> None:
        self.config = config
        self.store = store
        self.specs = specs  # instance type -> (vCPU, memory GiB)
        self._docker = docker.from_env(timeout=600)
        session = boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=config.region
        )
        retries = botocore.config.Config(
            retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=50
        )
        self._s3 = session.client("s3", endpoint_url=config.moto_url, config=retries)
        self._logs = session.client("logs", endpoint_url=config.moto_url, config=retries)
        self._cloudwatch = session.client("cloudwatch", endpoint_url=config.moto_url, config=retries)
        self._ecr = session.client("ecr", endpoint_url=config.moto_url, config=retries)
        self._wakeups: dict[str, threading.Event] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._auth: tuple[str, str] | None = None
        # Set when the server shuts down: running jobs keep their containers for the next start.
        self.closing = threading.Event()

    # -- images ---------------------------------------------------------------------------
    def _registry_auth(self) -> tuple[str, str]:
        """The user and password ECR's GetAuthorizationToken hands out (moto's)."""
        if self._auth is None:
            user, password, _ = ecr_authorization(self._ecr)
            self._auth = (user, password)
        return self._auth

    def registry_reference(self, image: str) -> str | None:
        """``image`` on this stack's registry (an ECR-style host maps onto it), None if elsewhere."""
        host, sep, rest = image.partition("/")
        if not sep:
            return None
        if host == self.config.registry:
            return image
        if _ECR_HOST.match(host):
            return f"{self.config.registry}/{rest}"
        return None

    def resolve_image(self, image: str) -> str | None:
        """Why the registry cannot give this image (None: it has it), as CreateTrainingJob checks."""
        reference = self.registry_reference(image)
        if reference is None:
            return f"its registry is not this stack's registry {self.config.registry} (nor an ECR host)"
        path = reference.split("/", 1)[1]
        if "@" in path:
            repository, ref = path.split("@", 1)
        else:
            repository, _, ref = path.rpartition(":") if ":" in path else (path, "", "latest")
        user, password = self._registry_auth()
        request = urllib.request.Request(
            f"http://{self.config.registry}/v2/{repository}/manifests/{ref}",
            method="HEAD",
            headers={
                "Accept": ", ".join(_MANIFEST_TYPES),
                "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode(),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10):
                return None
        except urllib.error.HTTPError as exc:
            return f"the registry answered HTTP {exc.code} for {repository}@{ref} (not pushed?)"
        except OSError as exc:
            return f"the registry {self.config.registry} is unreachable: {exc}"

    def _pull(self, image: str) -> str:
        reference = self.registry_reference(image) or image
        try:
            self._docker.images.get(reference)
            return reference  # pulled before: a digest names the same bytes forever
        except docker.errors.ImageNotFound:
            pass
        user, password = self._registry_auth()
        try:
            self._docker.api.pull(reference, auth_config={"username": user, "password": password})
        except docker.errors.APIError as exc:
            raise JobFailure(
                f"ClientError: the training image {image} cannot be pulled: {exc.explanation}"
            ) from None
        return reference

    # -- jobs -----------------------------------------------------------------------------
    def start(self, name: str, adopt: bool = False) -> None:
        self._wakeups[name] = threading.Event()
        thread = threading.Thread(target=self._run, args=(name, adopt), name=f"job-{name}", daemon=True)
        self._threads[name] = thread
        thread.start()

    def wake(self, name: str) -> None:
        event = self._wakeups.get(name)
        if event is not None:
            event.set()

    def running(self) -> list[str]:
        return [name for name, thread in self._threads.items() if thread.is_alive()]

    def join(self, name: str, timeout: float | None = None) -> None:
        thread = self._threads.get(name)
        if thread is not None:
            thread.join(timeout)

    def _update(self, name: str, change: Callable[[TrainingJob], Any]) -> Any:
        return self.store.update(name, change)

    def _move(self, name: str, status: str, message: str | None = None) -> None:
        self._update(name, lambda job: job.move(status, message))

    def _note(self, name: str, message: str) -> None:
        """A new StatusMessage for the current secondary status (SageMaker updates it in place)."""

        def change(job: TrainingJob) -> None:
            job.transitions[-1]["StatusMessage"] = message
            job.last_modified = time.time()

        self._update(name, change)

    def _tree(self, name: str) -> Paths:
        return Paths(self.config.jobs_dir / name / "ml")

    def _run(self, name: str, adopt: bool) -> None:
        try:
            self._drive(name, adopt)
        except Exception as exc:  # the job must end, whatever broke
            if self.closing.is_set():
                return  # not finished: the next start adopts the job
            LOG.exception("job %s broke", name)
            reason = (
                f"InternalServerError: the control plane failed running the job: {type(exc).__name__}: {exc}"
            )
            with contextlib.suppress(Exception):
                self._update(name, lambda job: _fail_if_active(job, reason))
        finally:
            if not self.closing.is_set():
                self._clean_up(name)

    def _clean_up(self, name: str) -> None:
        for container in self._containers_of(name):
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
        shutil.rmtree(self.config.jobs_dir / name, ignore_errors=True)
        with contextlib.suppress(Exception):
            self._update(name, lambda job: setattr(job, "tree", None))

    def _containers_of(self, name: str) -> list[Any]:
        try:
            return list(
                self._docker.containers.list(all=True, filters={"label": f"{CONTAINER_LABEL}={name}"})
            )
        except docker.errors.APIError:
            return []

    def _drive(self, name: str, adopt: bool) -> None:
        container = None
        if adopt:
            job = self.store.get(name)
            container = self._container(job.container_id)
            if container is None:
                self._update(
                    name,
                    lambda j: j.move(
                        "Failed",
                        "InternalServerError: the control plane restarted and the job's container is gone",
                    ),
                )
                return
        while True:
            job = self.store.get(name)
            if container is None:
                try:
                    container = self._prepare(name)
                except JobFailure as exc:
                    self._update(name, functools.partial(_fail_if_active, reason=str(exc)))
                    return
                if container is None:  # stopped before the container started
                    self._finish_stopped(name, self._tree(name), started=None)
                    return
            outcome = self._follow(name, container)
            if (
                outcome == "interrupted"
                and self.store.get(name).secondary_status == "Interrupted"
                and self._restart_after_interruption(name, container)
            ):
                container = None
                continue
            self._finish(name, container)
            return

    def _container(self, container_id: str | None) -> Any | None:
        if not container_id:
            return None
        try:
            return self._docker.containers.get(container_id)
        except docker.errors.NotFound:
            return None

    def _prepare(self, name: str) -> Any | None:
        """Starting and Downloading: the tree, channels, checkpoints and image; then start the container."""
        job = self.store.get(name)
        paths = self._tree(name)
        shutil.rmtree(paths.base, ignore_errors=True)
        vcpu, memory_gib = self.specs.get(job.instance_type, (1, 1.0))
        cpus = min(float(vcpu), float(os.cpu_count() or 1))
        capped = "" if cpus == vcpu else f" (capped at this machine's {cpus:g} CPUs)"
        self._note(
            name,
            f"Preparing the instances for training: {job.instance_type}, "
            f"{vcpu} vCPU{capped}, {memory_gib:g} GiB",
        )
        self._lay_out(job, paths)
        self._update(name, lambda j: setattr(j, "tree", str(paths.base)))

        def downloading(j: TrainingJob) -> bool:
            if j.secondary_status == "Stopping":  # StopTrainingJob came while Starting
                return False
            j.move("Downloading")
            j.attempt += 1
            if j.training_start is None:
                j.training_start = time.time()
            j.attempt_started = time.time()
            return True

        if not self._update(name, downloading):
            return None
        # The image is resolved and the container created while the channels download: both
        # wait on I/O, and a created container starts in a fraction of what create+start take.
        created: dict[str, Any] = {}
        creator = threading.Thread(
            target=self._create_container, args=(job, paths, cpus, memory_gib, created), daemon=True
        )
        creator.start()
        try:
            self._download_channels(job, paths)
            self._restore_checkpoints(job, paths)
        finally:
            if creator.is_alive():
                self._note(name, "Downloading the training image")
            creator.join()
        container = created.get("container")
        if "error" in created or self.store.get(name).secondary_status == "Stopping" or container is None:
            if container is not None:
                with contextlib.suppress(docker.errors.APIError):
                    container.remove(force=True)
            if "error" in created:
                raise created["error"]
            return None
        try:
            container.start()
        except docker.errors.APIError as exc:
            raise JobFailure(
                f"InternalServerError: the training container did not start: {exc.explanation}"
            ) from None
        stream = self._stream_name(name)

        def training(j: TrainingJob) -> None:
            j.container_id = container.id
            j.log_streams.append(stream)
            if j.secondary_status == "Downloading":
                j.move("Training")

        self._update(name, training)
        return container

    def _create_container(
        self, job: TrainingJob, paths: Paths, cpus: float, memory_gib: float, created: dict[str, Any]
    ) -> None:
        """Pull the image (by digest) and create the job's container; the result goes in ``created``."""
        try:
            reference = self._pull(str(job.request["AlgorithmSpecification"]["TrainingImage"]))
            environment = {str(k): str(v) for k, v in (job.request.get("Environment") or {}).items()}
            environment.update({"TRAINING_JOB_NAME": job.name, "TRAINING_JOB_ARN": job.arn})
            attempt = self.store.get(job.name).attempt
            memory = f"{int(memory_gib * 1024)}m"
            created["container"] = self._docker.containers.create(
                reference,
                command=[TRAIN_VERB],
                name=f"titanic-sm-{job.name}-{attempt}",
                labels={CONTAINER_LABEL: job.name, "titanic-sm.attempt": str(attempt)},
                environment=environment,
                volumes={str(paths.base.resolve()): {"bind": "/opt/ml", "mode": "rw"}},
                nano_cpus=int(cpus * 1e9),
                mem_limit=memory,
                memswap_limit=memory,  # no swap: the instance's memory is the limit, as on SageMaker
                network_mode="none" if job.request.get("EnableNetworkIsolation") else "bridge",
                hostname=HOST_NAME,
                detach=True,
            )
        except JobFailure as exc:
            created["error"] = exc
        except docker.errors.APIError as exc:
            created["error"] = JobFailure(
                f"InternalServerError: the training container cannot be created: {exc.explanation}"
            )

    def _stream_name(self, name: str) -> str:
        epoch = int(time.time())
        used = set(self.store.get(name).log_streams)
        while f"{name}/{HOST_NAME}-{epoch}" in used:
            epoch += 1
        return f"{name}/{HOST_NAME}-{epoch}"

    def _lay_out(self, job: TrainingJob, paths: Paths) -> None:
        request = job.request
        channels = {
            c["ChannelName"]: {
                "ContentType": c.get("ContentType", ""),
                "TrainingInputMode": request["AlgorithmSpecification"].get("TrainingInputMode", "File"),
                "S3DistributionType": c["DataSource"]["S3DataSource"].get(
                    "S3DataDistributionType", "FullyReplicated"
                ),
                "RecordWrapperType": c.get("RecordWrapperType", "None"),
            }
            for c in request.get("InputDataConfig") or []
        }
        paths.write_input_config(
            request.get("HyperParameters") or {}, channels, resource_config(job.instance_type)
        )

    def _objects(self, uri: str) -> Iterator[tuple[str, str]]:
        bucket, prefix = _s3_split(uri)
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if not key.endswith("/"):
                    relative = key[len(prefix) :].lstrip("/") or key.rsplit("/", 1)[-1]
                    yield key, relative

    def _download(self, bucket: str, key: str, destination: Path) -> None:
        """One object to a file: a plain GetObject (s3transfer's thread pool costs more than it
        saves on channel-sized files)."""
        body = self._s3.get_object(Bucket=bucket, Key=key)["Body"]
        with open(destination, "wb") as handle:
            shutil.copyfileobj(body, handle, 1024 * 1024)

    def _download_channels(self, job: TrainingJob, paths: Paths) -> None:
        for channel in job.request.get("InputDataConfig") or []:
            uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
            bucket, _ = _s3_split(uri)
            target = paths.channel_dir(channel["ChannelName"])
            target.mkdir(parents=True, exist_ok=True)
            count = 0
            try:
                for key, relative in self._objects(uri):
                    destination = target / relative
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    self._download(bucket, key, destination)
                    count += 1
            except ClientError as exc:
                raise JobFailure(
                    f"ClientError: cannot read {uri}: {exc.response['Error'].get('Message', exc)}"
                ) from None
            if count == 0:
                raise JobFailure(
                    f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source. '
                    "Please ensure that the bucket exists in the selected region, that objects exist "
                    "under that "
                    "S3 prefix, and that the role has permission to read them."
                )

    def _checkpoint_config(self, job: TrainingJob) -> tuple[str, str] | None:
        config = job.request.get("CheckpointConfig")
        if not config or not config.get("S3Uri"):
            return None
        return str(config["S3Uri"]), str(config.get("LocalPath") or "/opt/ml/checkpoints")

    def _restore_checkpoints(self, job: TrainingJob, paths: Paths) -> None:
        config = self._checkpoint_config(job)
        if config is None:
            return
        uri, _ = config
        bucket, _ = _s3_split(uri)
        try:
            for key, relative in self._objects(uri):
                destination = paths.checkpoint_dir / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                self._download(bucket, key, destination)
        except ClientError as exc:
            raise JobFailure(f"ClientError: cannot restore checkpoints from {uri}: {exc}") from None

    def _sync_checkpoints(self, job: TrainingJob, paths: Paths, since: float = 0.0) -> float:
        """Upload checkpoint files changed after ``since`` (the container may still be writing)."""
        config = self._checkpoint_config(job)
        started = time.time()
        if config is None or not paths.checkpoint_dir.is_dir():
            return started
        uri, _ = config
        bucket, prefix = _s3_split(uri)
        for path in sorted(paths.checkpoint_dir.rglob("*")):
            if not path.is_file() or path.name.startswith(".") or path.stat().st_mtime < since:
                continue
            key = "/".join(
                p for p in (prefix.rstrip("/"), path.relative_to(paths.checkpoint_dir).as_posix()) if p
            )
            with contextlib.suppress(FileNotFoundError):
                self._s3.upload_file(str(path), bucket, key)
        return started

    # -- following a running container ----------------------------------------------------
    def _follow(self, name: str, container: Any) -> str:
        """Ship logs and metrics until the container exits; enforce stops, limits and interruptions.

        Returns "exited" or "interrupted" (simulated spot interruption).
        """
        job = self.store.get(name)
        paths = self._tree(name)
        stream = job.log_streams[-1] if job.log_streams else self._stream_name(name)
        shipped_until = self._last_event_ms(stream)
        shipper = _LogShipper(self._logs, stream, shipped_until)
        metrics = _MetricShipper(self._cloudwatch, name)
        matcher = _MetricMatcher(list(job.request["AlgorithmSpecification"].get("MetricDefinitions") or []))
        since = shipped_until / 1000 if shipped_until is not None else None
        log_thread = threading.Thread(
            target=self._pump_logs, args=(container, shipper, metrics, matcher, since), daemon=True
        )
        log_thread.start()
        done = threading.Event()
        _, memory_gib = self.specs.get(job.instance_type, (1, 1.0))
        stats_thread = threading.Thread(
            target=self._pump_stats, args=(container, metrics, memory_gib, done), daemon=True
        )
        stats_thread.start()
        wakeup = self._wakeups.setdefault(name, threading.Event())
        term_sent: float | None = None
        interrupted = False
        checkpoint_synced = 0.0
        exited = threading.Event()

        def wait_for_exit() -> None:
            # The daemon answers the moment the container exits: no polling delay at the end.
            while True:
                try:
                    container.wait(timeout=300)
                    break
                except docker.errors.APIError:  # (a RequestException too: caught first)
                    break  # gone (removed): it has ended
                except requests.exceptions.RequestException:
                    continue  # a long job outlives one wait call's read timeout
            exited.set()
            wakeup.set()

        threading.Thread(target=wait_for_exit, name=f"wait-{name}", daemon=True).start()
        while not exited.is_set():
            job = self.store.get(name)
            now = time.time()
            if (
                job.max_runtime is not None
                and job.instance_seconds + self._attempt_seconds(job) >= job.max_runtime
            ):
                self._update(name, lambda j: j.request_stop("MaxRuntimeExceeded"))
            if job.spot and job.max_wait is not None and now - job.created >= job.max_wait:
                self._update(name, lambda j: j.request_stop("MaxWaitTimeExceeded"))
            after = job.simulated_interruption_after
            if (
                term_sent is None
                and after is not None
                and job.interruptions == 0
                and job.secondary_status == "Training"
                # Counted from the container's first line, so a slow start (imports on a busy
                # host) never lands the interruption before training has begun.
                and shipper.first_line_at is not None
                and now - shipper.first_line_at >= after
            ):
                interrupted = True
                self._update(name, lambda j: j.move("Interrupted"))
                self._update(name, lambda j: setattr(j, "interruptions", j.interruptions + 1))
            job = self.store.get(name)
            if term_sent is None and (job.secondary_status in ("Stopping", "Interrupted")):
                with contextlib.suppress(docker.errors.APIError):
                    container.kill(signal="SIGTERM")
                term_sent = time.monotonic()
            if term_sent is not None and time.monotonic() - term_sent >= self.config.stop_grace_seconds:
                with contextlib.suppress(docker.errors.APIError):
                    container.kill(signal="SIGKILL")
            if now - checkpoint_synced >= CHECKPOINT_SYNC_SECONDS:
                checkpoint_synced = self._sync_checkpoints(job, paths, since=checkpoint_synced)
            shipper.tick()
            metrics.tick()
            wakeup.wait(POLL_SECONDS)
            wakeup.clear()
        ended = time.monotonic()
        log_thread.join(timeout=10)
        drained = time.monotonic()
        done.set()  # the stats thread ends with its stream; waiting for it would only add latency
        shipper.flush()
        metrics.flush()
        container.reload()
        LOG.info(
            "%s: container exited; logs drained in %.2fs, logs and metrics flushed in %.2fs",
            name,
            drained - ended,
            time.monotonic() - drained,
        )
        state = container.attrs.get("State", {})
        exit_code = int(state.get("ExitCode", -1))
        ran = _docker_seconds(state.get("StartedAt"), state.get("FinishedAt"))
        exited_at = time.time()

        def record(j: TrainingJob) -> None:
            j.exit_code = exit_code
            j.container_seconds += ran
            j.container_exits.append({"run_seconds": ran, "seen_at": exited_at})
            merged = {m["MetricName"]: m for m in j.final_metrics}
            merged.update(matcher.final)
            j.final_metrics = list(merged.values())
            j.peak_memory_percent = max(j.peak_memory_percent, metrics.peak_memory_percent)

        self._update(name, record)
        return "interrupted" if interrupted else "exited"

    def _last_event_ms(self, stream: str) -> int | None:
        """When following a container again after a restart: where its shipped lines end."""
        try:
            events = self._logs.get_log_events(
                logGroupName=LOG_GROUP, logStreamName=stream, startFromHead=False, limit=1
            )["events"]
        except (BotoCoreError, ClientError):
            return None
        return int(events[-1]["timestamp"]) if events else None

    def _pump_logs(
        self,
        container: Any,
        shipper: _LogShipper,
        metrics: _MetricShipper,
        matcher: _MetricMatcher,
        since: float | None,
    ) -> None:
        kwargs: dict[str, Any] = {"stream": True, "follow": True, "timestamps": True}
        if since is not None:
            kwargs["since"] = since
        buffer = b""
        try:
            for chunk in container.logs(**kwargs):
                buffer += chunk
                while b"\n" in buffer:
                    raw, buffer = buffer.split(b"\n", 1)
                    self._line(raw.decode("utf-8", errors="replace"), shipper, metrics, matcher)
            if buffer:
                self._line(buffer.decode("utf-8", errors="replace"), shipper, metrics, matcher)
        except docker.errors.APIError as exc:
            LOG.warning("log stream of %s ended: %s", shipper.stream, exc)
        finally:
            shipper.flush()

    @staticmethod
    def _line(raw: str, shipper: _LogShipper, metrics: _MetricShipper, matcher: _MetricMatcher) -> None:
        stamp, _, line = raw.partition(" ")
        try:
            at = dt.datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00").timestamp()
        except ValueError:
            at, line = time.time(), raw
        shipper.add(int(at * 1000), line.rstrip("\r"))
        for metric, value in matcher.scan(line, at):
            metrics.add(metric, value, at)

    @staticmethod
    def _pump_stats(
        container: Any, metrics: _MetricShipper, memory_gib: float, done: threading.Event
    ) -> None:
        """CPUUtilization (100 per busy core, as SageMaker) and MemoryUtilization (% of the instance)."""
        limit = memory_gib * 1024**3
        try:
            for sample in container.stats(stream=True, decode=True):
                if done.is_set():
                    return
                cpu = sample.get("cpu_stats", {})
                previous = sample.get("precpu_stats", {})
                cpu_delta = cpu.get("cpu_usage", {}).get("total_usage", 0) - previous.get(
                    "cpu_usage", {}
                ).get("total_usage", 0)
                system_delta = cpu.get("system_cpu_usage", 0) - previous.get("system_cpu_usage", 0)
                online = (
                    cpu.get("online_cpus") or len(cpu.get("cpu_usage", {}).get("percpu_usage") or []) or 1
                )
                memory = sample.get("memory_stats", {})
                usage = memory.get("usage")
                if usage is None:
                    continue  # the container has already exited
                cache = (memory.get("stats") or {}).get("cache", 0)
                now = time.time()
                if system_delta > 0 and previous.get("system_cpu_usage"):
                    metrics.add("CPUUtilization", 100.0 * online * cpu_delta / system_delta, now, "Percent")
                percent = 100.0 * max(0, usage - cache) / limit
                metrics.peak_memory_percent = max(metrics.peak_memory_percent, percent)
                metrics.add("MemoryUtilization", percent, now, "Percent")
        except (docker.errors.APIError, ValueError, OSError):
            return

    # -- ending -----------------------------------------------------------------------------
    def _attempt_seconds(self, job: TrainingJob) -> float:
        return time.time() - (job.attempt_started or job.created)

    def _restart_after_interruption(self, name: str, container: Any) -> bool:
        """Checkpoints saved, the old instance gone, Starting again; False when a stop came first."""
        job = self.store.get(name)
        paths = self._tree(name)
        self._sync_checkpoints(job, paths)
        with contextlib.suppress(docker.errors.APIError):
            container.remove(force=True)
        seconds = self._attempt_seconds(job)

        def restarting(j: TrainingJob) -> bool:
            j.instance_seconds += seconds
            j.attempt_started = None
            j.container_id = None
            if j.secondary_status == "Stopping":  # StopTrainingJob came while interrupted
                return False
            j.move("Restarting")
            j.move("Starting")
            return True

        return bool(self._update(name, restarting))

    def _finish(self, name: str, container: Any) -> None:
        job = self.store.get(name)
        paths = self._tree(name)
        if job.secondary_status == "Stopping":
            self._finish_stopped(name, paths, started=True)
            return
        if job.exit_code == 0:
            self._move(name, "Uploading")
            try:
                artifacts = self._upload_outputs(job, paths, model=True)
            except (BotoCoreError, ClientError, OSError) as exc:
                self._end(name, "Failed", f"InternalServerError: uploading the model failed: {exc}")
                return
            self._end(name, "Completed", None, artifacts)
            return
        reason = self._failure_reason(paths, job.exit_code)
        with contextlib.suppress(BotoCoreError, ClientError, OSError):
            self._upload_outputs(job, paths, model=False)
        self._end(name, "Failed", reason)

    def _finish_stopped(self, name: str, paths: Paths, started: bool | None) -> None:
        job = self.store.get(name)
        artifacts = None
        if started and _tree_has_files(paths.model_dir):
            # A stopped job keeps the model it wrote; one that wrote nothing gets no empty tarball.
            self._move(name, "Uploading", "Uploading the model the stopped job wrote")
            with contextlib.suppress(BotoCoreError, ClientError, OSError):
                artifacts = self._upload_outputs(job, paths, model=True)
        elif started:
            with contextlib.suppress(BotoCoreError, ClientError, OSError):
                self._upload_outputs(job, paths, model=False)
        self._end(name, job.stopped_status(), None, artifacts)

    def _end(self, name: str, status: str, reason: str | None, artifacts: str | None = None) -> None:
        def change(j: TrainingJob) -> None:
            nonlocal status
            if j.secondary_status == "Stopping" and status == "Completed":
                status = j.stopped_status()  # stopped while uploading: the upload finished first
            if j.attempt_started is not None:
                j.instance_seconds += self._attempt_seconds(j)
                j.attempt_started = None
            j.model_artifacts = artifacts
            j.container_id = None
            j.move(status, reason)

        self._update(name, change)

    def _failure_reason(self, paths: Paths, exit_code: int | None) -> str:
        try:
            text = paths.failure_file.read_text(encoding="utf-8", errors="replace")[
                :FAILURE_REASON_LIMIT
            ].strip()
        except OSError:
            text = ""
        if not text:
            text = "the container wrote no failure file"
        if exit_code == 137:
            text += " (killed: out of memory or SIGKILL)"
        return f"AlgorithmError: {text}, exit code: {exit_code}"

    def _upload_outputs(self, job: TrainingJob, paths: Paths, model: bool) -> str | None:
        """model.tar.gz and output.tar.gz under <S3OutputPath>/<job>/output/, and the checkpoints."""
        output = str(job.request["OutputDataConfig"]["S3OutputPath"]).rstrip("/")
        bucket, prefix = _s3_split(f"{output}/{job.name}/output")
        self._sync_checkpoints(job, paths)
        uploaded = None
        archives = [("output.tar.gz", paths.output_data_dir)]
        if model:
            archives.insert(0, ("model.tar.gz", paths.model_dir))
        for filename, folder in archives:
            if filename == "output.tar.gz" and not _tree_has_files(folder):
                continue
            archive = paths.base / filename
            with tarfile.open(archive, "w:gz") as tar:
                for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
                    tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
            self._s3.upload_file(str(archive), bucket, f"{prefix}/{filename}")
            archive.unlink()
            if filename == "model.tar.gz":
                uploaded = f"s3://{bucket}/{prefix}/{filename}"
        return uploaded

    # -- restart ---------------------------------------------------------------------------
    def reconcile(self) -> None:
        """After a restart: follow jobs whose container still runs or has exited; fail the rest."""
        for job in self.store.all():
            if not job.active:
                if (self.config.jobs_dir / job.name).exists():
                    self._clean_up(job.name)  # ended while the server was going down
                continue
            if job.container_id and self._container(job.container_id) is not None:
                self.start(job.name, adopt=True)
                continue
            reason = (
                "InternalServerError: the control plane restarted while the job was "
                f"{job.secondary_status} and its container is gone"
            )

            def fail(j: TrainingJob, why: str = reason) -> None:
                if j.attempt_started is not None:
                    j.instance_seconds += self._attempt_seconds(j)
                    j.attempt_started = None
                if "Failed" in TRANSITIONS[j.secondary_status]:
                    j.move("Failed", why)

            self.store.update(job.name, fail)
            self._clean_up(job.name)

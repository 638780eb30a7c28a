"""The control plane's operations and its HTTP server on 127.0.0.1.

``ControlPlane`` is the backend (what each operation does, in SageMaker's terms: validation,
uniqueness, quotas, tags, stop); ``responses`` turns HTTP into calls on it and back;
``runner`` runs the jobs. Entry point::

    python -m services.local.control_plane --port P --state-dir D --moto-url URL --registry HOST:PORT
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import signal
import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from services.local.control_plane import responses
from services.local.control_plane.models import (
    DEFAULT_STOP_GRACE_SECONDS,
    ApiError,
    JobStore,
    TrainingJob,
    validate_create,
)
from services.local.control_plane.runner import Runner, RunnerConfig

__all__ = ["ControlPlane", "main", "serve"]

LOG = logging.getLogger("control_plane")
HOST = "127.0.0.1"
ACCOUNT = "123456789012"  # moto's account, as every other ARN on the local stack
STORE_FILE = "training-jobs.sqlite3"
DEBUG_PREFIX = "/debug/training-jobs/"


def _as_epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return dt.datetime.fromisoformat(str(value)).timestamp()


class ControlPlane:
    """SageMaker's training-job operations over the job store and the runner."""

    def __init__(self, config: RunnerConfig, quota_table: Any, runner: Runner | None = None) -> None:
        from services.instance import instances

        self.config = config
        self.store = JobStore(config.state_dir / STORE_FILE)
        specs = {name: (spec.vcpu, spec.memory_gib) for name, spec in instances.load_specs().items()}
        self.runner = runner or Runner(config, self.store, specs)
        self.instance_types = frozenset(instances.training_instance_types())
        self.quotas = quota_table

    def create_training_job(self, request: Mapping[str, Any]) -> TrainingJob:
        validate_create(request, self.instance_types, self.runner.resolve_image)
        job = TrainingJob.create(request, self.config.region, ACCOUNT)
        self.store.insert(job, admit=lambda active: self._admit(job, active))
        self.runner.start(job.name)
        return job

    def _admit(self, job: TrainingJob, active: list[TrainingJob]) -> None:
        """As a new AWS account does: no job on a type whose quota is 0, none over the quota."""
        quota = self.quotas.get(job.instance_type, job.spot)
        kind = "spot training job usage" if job.spot else "training job usage"
        label = f"{job.instance_type} for {kind}"
        limit = quota.value if quota is not None else None
        if limit is None:
            raise ApiError(
                "ResourceLimitExceeded",
                f"The account-level service limit '{label}' is not in the local stack's quota table "
                f"({self.quotas.source}), so it counts as 0 Instances. Choose a listed instance type.",
            )
        in_use = sum(
            int(j.request["ResourceConfig"].get("InstanceCount", 1))
            for j in active
            if j.instance_type == job.instance_type and j.spot == job.spot
        )
        wanted = int(job.request["ResourceConfig"].get("InstanceCount", 1))
        if in_use + wanted > limit:
            raise ApiError(
                "ResourceLimitExceeded",
                f"The account-level service limit '{label}' is {limit:g} Instances, with current utilization "
                f"of {in_use} Instances and a request delta of {wanted} Instances. Please use AWS Service "
                f"Quotas to request an increase for this quota ({self.quotas.source}).",
            )

    def describe_training_job(self, name: str) -> TrainingJob:
        return self.store.get(name)

    def list_training_jobs(
        self,
        name_contains: str | None = None,
        status: str | None = None,
        created_after: Any = None,
        created_before: Any = None,
        modified_after: Any = None,
        modified_before: Any = None,
    ) -> list[TrainingJob]:
        bounds = [_as_epoch(v) for v in (created_after, created_before, modified_after, modified_before)]
        jobs = []
        for job in self.store.all():
            if name_contains and name_contains not in job.name:
                continue
            if status and job.status != status:
                continue
            if bounds[0] is not None and not job.created > bounds[0]:
                continue
            if bounds[1] is not None and not job.created < bounds[1]:
                continue
            if bounds[2] is not None and not job.last_modified > bounds[2]:
                continue
            if bounds[3] is not None and not job.last_modified < bounds[3]:
                continue
            jobs.append(job)
        return jobs

    def stop_training_job(self, name: str) -> None:
        job = self.store.get(name)
        if not job.active:
            raise ApiError(
                "ValidationException",
                f"The request was rejected because the training job is in status {job.status}.",
            )
        self.store.update(name, lambda j: j.request_stop("StopTrainingJob"))
        self.runner.wake(name)

    def _job_of(self, arn: str) -> TrainingJob:
        job = self.store.find_by_arn(arn)
        if job is None:
            raise ApiError(
                "ValidationException", f"Resource {arn} not found (this stack holds training jobs only)"
            )
        return job

    def add_tags(self, arn: str, tags: list[Mapping[str, str]]) -> list[dict[str, str]]:
        job = self._job_of(arn)

        def change(j: TrainingJob) -> None:
            merged = {t["Key"]: t for t in j.tags}
            merged.update(
                {str(t["Key"]): {"Key": str(t["Key"]), "Value": str(t.get("Value", ""))} for t in tags}
            )
            j.tags = list(merged.values())

        self.store.update(job.name, change)
        return [dict(t) for t in tags]

    def list_tags(self, arn: str) -> list[dict[str, str]]:
        return [dict(t) for t in self._job_of(arn).tags]

    def delete_tags(self, arn: str, keys: list[str]) -> None:
        job = self._job_of(arn)
        self.store.update(job.name, lambda j: setattr(j, "tags", [t for t in j.tags if t["Key"] not in keys]))


class _Handler(BaseHTTPRequestHandler):
    plane: ControlPlane
    protocol_version = "HTTP/1.1"  # keep-alive: botocore reuses its connections

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload = responses.dispatch(self.plane, self.headers.get("X-Amz-Target"), body)
        self._reply(status, payload)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/ping":  # the stack's health check
            self._reply(200, {"status": "ok", "jobs_running": len(self.plane.runner.running())})
            return
        if self.path.startswith(DEBUG_PREFIX):  # the whole record, for benches and tests
            try:
                job = self.plane.store.get(self.path[len(DEBUG_PREFIX) :])
            except ApiError as exc:
                self._reply(400, responses.error_body(exc.code, exc.message))
                return
            self._reply(200, job.to_record())
            return
        self._reply(400, responses.error_body("UnknownOperationException", "POST / with X-Amz-Target"))

    def _reply(self, status: int, payload: Mapping[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", "local-control-plane")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s " + format, self.address_string(), *args)


def serve(plane: ControlPlane, port: int) -> ThreadingHTTPServer:
    """A started server on 127.0.0.1:``port`` (0: any free port); ``shutdown()`` stops it."""
    handler = type("Handler", (_Handler,), {"plane": plane})
    server = ThreadingHTTPServer((HOST, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="control-plane-http", daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.local.control_plane", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--moto-url", required=True)
    parser.add_argument("--registry", required=True, help="HOST:PORT of the registry behind ECR")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--quotas-file", type=Path, help="the account's quotas (default: the sample quotas)")
    parser.add_argument(
        "--stop-grace-seconds",
        type=float,
        default=DEFAULT_STOP_GRACE_SECONDS,
        help="SIGTERM to SIGKILL on a stop (SageMaker: 120 s)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from services.instance import quotas

    config = RunnerConfig(
        state_dir=args.state_dir.resolve(),
        moto_url=args.moto_url,
        registry=args.registry,
        region=args.region,
        stop_grace_seconds=args.stop_grace_seconds,
    )
    plane = ControlPlane(config, quotas.load_sample(args.region, args.quotas_file))
    plane.runner.reconcile()
    server = serve(plane, args.port)
    LOG.info("training control plane on http://%s:%d (state %s)", HOST, server.server_port, config.state_dir)
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    # Running jobs keep their containers: the next start adopts them (see Runner.reconcile).
    plane.runner.closing.set()
    server.shutdown()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

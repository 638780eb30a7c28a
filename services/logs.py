"""Training logs in CloudWatch Logs, with SageMaker's naming, on both targets.

On aws SageMaker writes the container's output itself; on local the training control plane
does the same into moto, through a ``LogForwarder`` that batches lines into ``PutLogEvents``.
Readers (the worker, the CLI, the dashboard) use the same ``read_events`` call on either target.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from services import aws
from services.settings import Settings

__all__ = [
    "LOG_GROUP",
    "LogEvent",
    "LogForwarder",
    "LogPage",
    "find_streams",
    "read_events",
    "stream_name",
]

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
# PutLogEvents limits: 10,000 events and 1,048,576 bytes (message + 26 bytes each) per batch.
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD_BYTES = 26
MAX_EVENT_BYTES = 256 * 1024 - EVENT_OVERHEAD_BYTES


def stream_name(job_name: str, started_epoch: int, host: str = "algo-1") -> str:
    """SageMaker's stream name: ``<job>/algo-1-<epoch seconds>``."""
    return f"{job_name}/{host}-{started_epoch}"


@dataclass(frozen=True)
class LogEvent:
    timestamp_ms: int
    message: str


@dataclass(frozen=True)
class LogPage:
    """One read: the new events, and the token to pass next time (None until a stream exists)."""

    events: list[LogEvent]
    next_token: str | None
    stream: str | None


class LogForwarder:
    """Buffers lines and sends them to one log stream in batches, from a background thread.

    ``write`` never blocks on the network, so the training output is never slowed down; ``close``
    sends whatever is left.
    """

    def __init__(
        self, settings: Settings, job_name: str, started_epoch: int | None = None, interval: float = 1.0
    ) -> None:
        self.settings = settings
        self.group = LOG_GROUP
        self.stream = stream_name(job_name, int(started_epoch if started_epoch is not None else time.time()))
        self.interval = interval
        self.sent = 0
        self.error: str | None = None
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._client: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> LogForwarder:
        self._client = aws.client(self.settings, "logs")
        try:
            self._client.create_log_group(logGroupName=self.group)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                raise
        try:
            self._client.create_log_stream(logGroupName=self.group, logStreamName=self.stream)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                raise
        self._thread = threading.Thread(target=self._run, name="log-forwarder", daemon=True)
        self._thread.start()
        return self

    def write(self, line: str) -> None:
        message = line.rstrip("\n")
        if not message:
            return
        data = message.encode("utf-8")
        if len(data) > MAX_EVENT_BYTES:  # CloudWatch rejects larger events; keep the head
            message = data[:MAX_EVENT_BYTES].decode("utf-8", "ignore")
        with self._lock:
            self._pending.append({"timestamp": int(time.time() * 1000), "message": message})

    def flush(self) -> None:
        with self._send_lock:
            with self._lock:
                pending, self._pending = self._pending, []
            while pending:
                batch: list[dict[str, Any]] = []
                size = 0
                while pending and len(batch) < MAX_BATCH_EVENTS:
                    cost = len(pending[0]["message"].encode()) + EVENT_OVERHEAD_BYTES
                    if batch and size + cost > MAX_BATCH_BYTES:
                        break
                    batch.append(pending.pop(0))
                    size += cost
                try:
                    self._client.put_log_events(
                        logGroupName=self.group, logStreamName=self.stream, logEvents=batch
                    )
                    self.sent += len(batch)
                except (ClientError, BotoCoreError) as exc:
                    # Logs are evidence, not the job: remember the cause and keep training (an
                    # unreachable endpoint too, which would otherwise end the sending thread and
                    # then fail the job from close()).
                    self.error = f"could not send {len(batch)} log lines to {self.group}/{self.stream}: {exc}"

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()

    def __enter__(self) -> LogForwarder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def find_streams(settings: Settings, job_name: str, client: Any = None) -> list[str]:
    """The job's host streams, oldest first (``<job>/algo-1-<epoch>``: a spot restart adds one)."""
    client = client or aws.client(settings, "logs")
    streams: list[str] = []
    request: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamNamePrefix": f"{job_name}/"}
    try:
        while True:
            response = client.describe_log_streams(**request)
            streams.extend(s["logStreamName"] for s in response.get("logStreams", []))
            if not response.get("nextToken"):
                break
            request["nextToken"] = response["nextToken"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return []
        raise
    return sorted(streams, key=_stream_order)


def _stream_order(stream: str) -> tuple[int, str]:
    epoch = stream.rsplit("-", 1)[-1]
    return (int(epoch) if epoch.isdigit() else 0, stream)


# A page's token names the stream it stopped in, so the next read can move on to newer streams.
_TOKEN_SEPARATOR = "|"


def read_events(settings: Settings, job_name: str, next_token: str | None = None) -> LogPage:
    """The job's log events after ``next_token`` (from the start when None), across its streams.

    Pass the returned ``next_token`` back to get only newer lines: GetLogEvents with
    ``nextForwardToken`` on aws and on local, stream after stream in the order they were created.
    """
    client = aws.client(settings, "logs")  # one per read: the Train page reads every 1.5 s
    streams = find_streams(settings, job_name, client)
    if not streams:
        return LogPage(events=[], next_token=next_token, stream=None)
    current, _, token = (next_token or "").partition(_TOKEN_SEPARATOR)
    start = streams.index(current) if current in streams else 0
    events: list[LogEvent] = []
    stream = streams[start]
    for index, stream in enumerate(streams[start:]):
        stream_token = (token or None) if index == 0 else None
        request: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamName": stream, "startFromHead": True}
        while True:
            if stream_token:
                request["nextToken"] = stream_token
            response = client.get_log_events(**request)
            page = [LogEvent(e["timestamp"], e["message"]) for e in response.get("events", [])]
            events.extend(page)
            new_token = response.get("nextForwardToken")
            # The token stays the same once there is nothing newer.
            if not page or new_token == stream_token:
                stream_token = new_token or stream_token
                break
            stream_token = new_token
        token = stream_token or ""
    return LogPage(events=events, next_token=f"{stream}{_TOKEN_SEPARATOR}{token}", stream=stream)

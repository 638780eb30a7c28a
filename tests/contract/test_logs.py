"""CloudWatch Logs contract (moto): SageMaker's naming, batching, and forward tokens."""

from __future__ import annotations

import time

from services import aws
from services.settings import Settings
from services.training import logs


def test_stream_name_follows_sagemaker() -> None:
    assert logs.stream_name("titanic-20260101", 1767225600) == "titanic-20260101/algo-1-1767225600"


def test_forwarded_lines_are_read_back_with_tokens(settings: Settings) -> None:
    job = "titanic-logs-tokens"
    with logs.LogForwarder(settings, job, started_epoch=1767225600, interval=60) as forwarder:
        for i in range(3):
            forwarder.write(f"line {i}\n")
        forwarder.write("\n")  # blank lines are not events
    assert forwarder.sent == 3 and forwarder.error is None

    streams = aws.client(settings, "logs").describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs")
    assert f"{job}/algo-1-1767225600" in [s["logStreamName"] for s in streams["logStreams"]]

    first = logs.read_events(settings, job)
    assert [e.message for e in first.events] == ["line 0", "line 1", "line 2"]
    assert first.stream == f"{job}/algo-1-1767225600"
    assert first.next_token

    nothing_new = logs.read_events(settings, job, first.next_token)
    assert nothing_new.events == []

    with logs.LogForwarder(settings, job, started_epoch=1767225600, interval=60) as forwarder:
        forwarder.write("line 3")
    newer = logs.read_events(settings, job, nothing_new.next_token)
    assert [e.message for e in newer.events] == ["line 3"]


def test_a_job_without_logs_yet_reads_empty(settings: Settings) -> None:
    page = logs.read_events(settings, "titanic-not-started")
    assert page.events == [] and page.next_token is None and page.stream is None


def test_large_output_is_split_into_batches(settings: Settings) -> None:
    job = "titanic-logs-batches"
    with logs.LogForwarder(settings, job, started_epoch=1, interval=60) as forwarder:
        for i in range(10_050):
            forwarder.write(f"row {i}")
    assert forwarder.sent == 10_050 and forwarder.error is None
    page = logs.read_events(settings, job)
    assert len(page.events) == 10_050
    assert page.events[-1].message == "row 10049"


def test_an_unreachable_logs_endpoint_is_recorded_not_raised(settings: Settings) -> None:
    """Logs are evidence, not the job: losing the endpoint mid-job must not end the sending thread
    or fail the job from close()."""
    import socket

    import botocore.config

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    forwarder = logs.LogForwarder(
        settings, "titanic-logs-unreachable", started_epoch=1, interval=0.05
    ).start()
    forwarder._client = aws.boto_session(settings).client(
        "logs", endpoint_url=closed, config=botocore.config.Config(retries={"max_attempts": 1})
    )
    forwarder.write("lost line")
    time.sleep(0.5)  # the sending thread meets the error first, and must survive it
    assert forwarder._thread is not None and forwarder._thread.is_alive()
    forwarder.write("another lost line")
    forwarder.close()
    assert forwarder.sent == 0
    assert forwarder.error is not None and "Could not connect to the endpoint URL" in forwarder.error


def test_a_restarted_job_is_followed_into_its_new_stream(settings: Settings) -> None:
    """A spot restart writes a second `algo-1-<epoch>` stream; a reader moves on to it."""
    job = "titanic-logs-restart"
    with logs.LogForwarder(settings, job, started_epoch=1_767_225_600, interval=60) as forwarder:
        forwarder.write("first attempt")
    before_restart = logs.read_events(settings, job)
    assert [e.message for e in before_restart.events] == ["first attempt"]

    with logs.LogForwarder(settings, job, started_epoch=1_767_229_200, interval=60) as forwarder:
        forwarder.write("resumed from checkpoint")
    after_restart = logs.read_events(settings, job, before_restart.next_token)
    assert [e.message for e in after_restart.events] == ["resumed from checkpoint"]
    assert after_restart.stream == f"{job}/algo-1-1767229200"
    assert logs.read_events(settings, job, after_restart.next_token).events == []

    from_scratch = logs.read_events(settings, job)
    assert [e.message for e in from_scratch.events] == ["first attempt", "resumed from checkpoint"]

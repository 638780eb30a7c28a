"""One of each: DescribeTrainingJob is parsed in one place for the refresh and the worker, and
the job store's headline scores are read from metrics.json in one place for the worker and the
import."""

from __future__ import annotations

from services.results.artifacts import headline_scores
from services.training.follow import parse_training_job


def test_describe_training_job_is_read_once_into_what_the_store_keeps() -> None:
    described = parse_training_job(
        {
            "TrainingJobName": "titanic-1",
            "TrainingJobStatus": "Completed",
            "SecondaryStatus": "Completed",
            "ModelArtifacts": {"S3ModelArtifacts": "s3://b/titanic/jobs/titanic-1/output/model.tar.gz"},
            "TrainingTimeInSeconds": 200,
            "BillableTimeInSeconds": 60,
            "SecondaryStatusTransitions": [{"Status": "Starting"}, {"Status": "Completed"}],
            "HyperParameters": {"num_leaves": "7"},  # not a field the store keeps
        }
    )
    assert (described.status, described.secondary_status, described.failure_reason) == (
        "Completed",
        "Completed",
        None,
    )
    assert described.artifact_uri == "s3://b/titanic/jobs/titanic-1/output/model.tar.gz"
    assert described.timings() == {"training_seconds": 200.0, "billable_seconds": 60.0, "spot_savings": 0.7}
    assert len(described.transitions) == 2 and "HyperParameters" not in described.record
    on_demand = parse_training_job({"TrainingJobStatus": "InProgress", "TrainingTimeInSeconds": 0})
    assert on_demand.timings() == {} and on_demand.artifact_uri is None


def test_the_stores_headline_scores_come_from_metrics_json_in_one_place() -> None:
    metrics = {"validation": {"accuracy": 0.84, "roc_auc": 0.88}, "cv": {"accuracy": {"mean": 0.81}}}
    assert headline_scores(metrics) == {
        "validation_accuracy": 0.84,
        "validation_auc": 0.88,
        "cv_accuracy": 0.81,
        "cv_auc": None,
    }
    assert set(headline_scores({}).values()) == {None}

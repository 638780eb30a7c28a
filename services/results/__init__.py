"""Stage 6: a job's artifacts (model.tar.gz, metrics.json) and predictions from its model."""

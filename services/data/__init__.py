"""Stage 1, the Data page: load, validate and split a CSV; write the channels and dataset versions to S3."""

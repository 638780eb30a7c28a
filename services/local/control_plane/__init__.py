"""The local training control plane: SageMaker's training-job API over HTTP, running jobs in Docker.

``models`` holds the job state machine and its SQLite store, ``responses`` the wire protocol
(awsJson1_1), ``runner`` what a job does (Docker, S3, CloudWatch Logs and metrics), ``server``
the HTTP server and its entry point (``python -m services.local.control_plane``).
"""

"""Stage 4, the Train page: the launch request, the Estimator, the worker that follows a job, its logs."""

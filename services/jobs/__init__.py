"""Stage 5, the Jobs page: the SQLite job store and what is shown of one job."""

"""`python -m services` is `titanic-sm`."""

from services.cli import main

main()

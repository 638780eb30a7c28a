"""Figures, not tests: each module prints what one `make bench-*` target measures. Outside the
product package on purpose: nothing in services/ imports them."""

# The two commands of the README, for a fresh Debian 12 machine with Python 3.11:
#
#   make book   install what is missing, then build the book into _build/html
#   make test   install what the tests need too, then run the whole test suite
#
# Both are safe to repeat: the set-up step is skipped while nothing changed.

PY := .venv/bin/python

.PHONY: book test setup-book setup-test clean help

book: setup-book
	$(PY) scripts/build_book.py

# --durations=10: the ten slowest tests, printed at the end (where to look when the suite slows down).
test: setup-test
	$(PY) -m pytest -m "slow or not slow" --durations=10

setup-book:
	scripts/setup.sh book

setup-test:
	scripts/setup.sh test

# Removes the built site and the execution cache (the next build re-runs every notebook).
clean:
	rm -rf _build test-results

help:
	@sed -n '2,6p' Makefile

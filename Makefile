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

# Two steps (tests/conftest.py says why): the tests on two workers side by side, a test file at a
# time each, then those that must run alone.  --durations=10: each step's ten slowest tests, at its end.
# Both steps always run; the exit status is a failed step's.
test: setup-test
	status=0; \
	$(PY) -m pytest -m "(slow or not slow) and not alone" -n 2 --dist loadfile --durations=10 || status=$$?; \
	$(PY) -m pytest -m "(slow or not slow) and alone" --durations=10 || status=$$?; \
	exit $$status

setup-book:
	scripts/setup.sh book

setup-test:
	scripts/setup.sh test

# Removes the built site and the execution cache (the next build re-runs every notebook).
clean:
	rm -rf _build test-results

help:
	@sed -n '2,6p' Makefile

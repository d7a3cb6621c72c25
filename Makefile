# Quick start: `make run` (web + worker on http://127.0.0.1:8000) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run run-user test migrate bench

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

migrate: install
	$(PY) manage.py migrate --noinput

run: migrate run-user
	$(PY) manage.py ensure_admin --host $(HOST) --port $(PORT)
	@echo "Starting a worker and the web server on http://$(HOST):$(PORT)/ (Ctrl-C or SIGTERM stops both)"
	@# Each in its own session, so that no signal to our process group reaches them directly: a
	@# SIGTERM killing django-q's sentinel mid-wait leaves the cluster hung in "stopping". Ctrl-C
	@# and SIGTERM (make forwards it to this shell) take one path: SIGINT to the worker (its
	@# graceful stop), SIGTERM to the web server's group (the autoreloader and its child).
	@# Both run in the background so that the shell's trap fires at once, not after runserver.
	@# While it stops them the shell ignores further signals: a SIGTERM to the group reaches it
	@# twice (make forwards its own), and the second must not kill it before it has signalled both.
	@setsid $(PY) manage.py qcluster & WORKER=$$!; \
	  setsid $(PY) manage.py runserver $(HOST):$(PORT) & SERVER=$$!; \
	  stop() { trap '' INT TERM; trap - EXIT; kill -INT $$WORKER 2>/dev/null; kill -TERM -$$SERVER 2>/dev/null; wait; }; \
	  trap 'stop; exit 0' INT TERM; trap stop EXIT; \
	  wait $$SERVER

# As root, terraform runs as this unprivileged user (IAC_RUN_AS_USER): created when missing.
RUN_USER ?= iac-run
run: export IAC_RUN_AS_USER ?= $(shell [ "$$(id -u)" = 0 ] && echo $(RUN_USER))
run-user:
	@if [ "$$(id -u)" = 0 ] && ! id $(RUN_USER) >/dev/null 2>&1; then \
	  useradd --system --no-create-home --shell /usr/sbin/nologin $(RUN_USER) && echo "created user $(RUN_USER)"; fi

test: install
	$(VENV)/bin/lint-imports
	$(PY) -m pytest --cov --cov-report=term:skip-covered --cov-fail-under=80 $(PYTEST_ARGS)

bench: migrate
	$(PY) bench/overhead.py
	$(PY) bench/versions.py
	$(PY) bench/resources.py

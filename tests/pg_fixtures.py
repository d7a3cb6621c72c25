"""Pytest fixtures for tests that need a real PostgreSQL outage (no mocks); see tests/pgcluster.py.

They are registered for the whole suite by ``tests/conftest.py`` (a session-scoped fixture
must be defined once: importing these into several test modules would start one cluster
per module).

Fixtures
--------
``temp_postgres`` (session)
    A ``TempPostgres`` cluster of its own on 127.0.0.1:<free port>, shared by the session.
    The test is skipped only when the PostgreSQL server binaries are not installed.
``temp_pg_database`` (function) -> ``TempDatabase(pg, name, url)``
    A fresh database on it with the project's schema: ``manage.py migrate`` runs once per
    session into a template database, each test gets a copy (~0.5 s). Touches nothing in
    Django. Dropped afterwards; the cluster is started again first if the test left it down.
``django_on_temp_postgres`` (function) -> the same ``TempDatabase``
    As ``temp_pg_database``, and for the test Django's ``default`` connection (in the test's
    thread) points at it, with database access allowed. Code under test using the default
    alias (the ORM, ``transaction.atomic``, ``close_old_connections``) runs on the temp
    cluster, in autocommit as in production: nothing wraps the test in a transaction.

Why not pytest-django's test database: ``db``/``transactional_db`` create and manage the test
database on the configured server, and ``db`` wraps every test in a transaction, in which
Django never reconnects. An outage must not hit that server (it is the machine's shared
PostgreSQL), so these fixtures use a cluster of their own and bypass pytest-django's setup;
``django_on_temp_postgres`` refuses to be combined with ``db``/``transactional_db``/``live_server``
or a ``django_db`` mark (those would act on the other database).

Patterns
--------
(a) A real worker process through an outage: the worker gets the temp database by its URL,
the test reads the same database through ``django_on_temp_postgres``::

    from tests.conftest import WorkerProcess, wait_for
    from tests.pgcluster import outage_tolerant

    @pytest.mark.worker
    def test_apply_survives_db_outage(django_on_temp_postgres, tmp_path, settings):
        pg = django_on_temp_postgres.pg
        settings.IAC_WORK_DIR = tmp_path / "work"   # as start_worker does: the worker's
        settings.IAC_STATE_BACKUP_DIR = tmp_path / "state-backups"   # IAC_DATA_DIR is tmp_path
        ws = Workspace.objects.create(name="outage", auto_apply=True)        # on the temp db
        ...save code, task_queue_run(workspace=ws, kind="plan_and_apply")...
        worker = WorkerProcess(tmp_path, workers=1, env={"DATABASE_URL": django_on_temp_postgres.url})
        try:
            wait_for(lambda: WorkspaceTask.objects.filter(task_type="apply", stage="applying").exists(),
                     timeout=90)
            pg.restart_after(30)                # immediate stop now, start again 30 s later
            # Polls during/after the outage: an OperationalError means "not yet", and the
            # dead connection of this process is replaced (close_old_connections).
            wait_for(outage_tolerant(lambda: WorkspaceTask.objects.filter(
                task_type="apply", status__in=["applied", "failed"]).exists()), timeout=150)
            pg.wait_restarted(timeout=60)       # re-raises if the restart failed
            ...assert on the task, the state versions, the backups, the logs...
        finally:
            print(worker.output()[-4000:])      # before stop(): stop() closes the log
            worker.stop()

(Only ``temp_pg_database`` is needed when the test itself never queries the database, e.g. a
bench script or a test talking to a subprocess only: pass ``temp_pg_database.url`` as
DATABASE_URL.)

(b) A connection cut mid-operation, recovered through ``close_old_connections()``. On the
ordinary test database (``transactional_db``, not ``db``)::

    from tests.pgcluster import close_django_connection_socket

    def test_reconnects(transactional_db):
        close_django_connection_socket()        # the next query fails: OperationalError
        with pytest.raises(OperationalError):
            Workspace.objects.count()
        close_old_connections()                 # what the code under test must do
        assert Workspace.objects.count() == 0

Call it from inside the operation (e.g. from a function the code calls, wrapped with
``monkeypatch``) to cut it mid-way; from another thread, take the fd first
(``fd = connection.connection.pgconn.socket``) and call ``close_connection_socket(fd)``.
For a whole-server outage in-process instead, use ``django_on_temp_postgres`` and
``.pg.stop()`` / ``.pg.start()`` / ``.pg.restart_after(s)``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import pytest

from tests.pgcluster import (
    PostgresNotFound,
    TempPostgres,
    django_connected_to,
    migrate,
)

TEMPLATE_DB = "iac_template"
_counter = itertools.count(1)
_CONFLICTING_FIXTURES = ("db", "transactional_db", "django_db_reset_sequences",
                         "django_db_serialized_rollback", "live_server")


@dataclass(frozen=True)
class TempDatabase:
    pg: TempPostgres
    name: str
    url: str


@pytest.fixture(scope="session")
def temp_postgres():
    """A throwaway PostgreSQL cluster for the session (skipped if PostgreSQL is not installed)."""
    try:
        pg = TempPostgres()
    except PostgresNotFound as exc:
        pytest.skip(f"needs the PostgreSQL server binaries: {exc}")
    with pg:
        yield pg


@pytest.fixture(scope="session")
def temp_pg_template(temp_postgres, tmp_path_factory) -> str:
    """Name of a database on ``temp_postgres`` migrated once for the session (copied per test)."""
    temp_postgres.ensure_running()
    temp_postgres.create_database(TEMPLATE_DB)
    data_dir = tmp_path_factory.mktemp("pg-migrate")
    migrate(temp_postgres.url(TEMPLATE_DB), env={"IAC_DATA_DIR": str(data_dir)})
    temp_postgres.mark_template(TEMPLATE_DB)
    return TEMPLATE_DB


@pytest.fixture
def temp_pg_database(temp_postgres, temp_pg_template, request) -> TempDatabase:
    """A fresh, migrated database on the temp cluster, for this test only."""
    temp_postgres.ensure_running()
    slug = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")
    name = f"t{next(_counter)}_{slug}"[:63]
    url = temp_postgres.create_database(name, template=temp_pg_template)
    yield TempDatabase(temp_postgres, name, url)
    temp_postgres.ensure_running()  # the test may have left it stopped, or a restart pending
    temp_postgres.drop_database(name)


@pytest.fixture
def django_on_temp_postgres(request, django_db_blocker, temp_pg_database) -> TempDatabase:
    """``temp_pg_database``, with Django's default connection pointing at it for the test."""
    conflicts = [name for name in _CONFLICTING_FIXTURES if name in request.fixturenames]
    if conflicts or request.node.get_closest_marker("django_db"):
        pytest.fail(
            "django_on_temp_postgres replaces the default database; it cannot be combined with "
            f"pytest-django's test database ({', '.join(conflicts) or 'django_db mark'}).",
            pytrace=False,
        )
    with django_db_blocker.unblock(), django_connected_to(temp_pg_database.url):
        yield temp_pg_database

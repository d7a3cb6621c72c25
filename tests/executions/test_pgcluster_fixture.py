"""The real-outage helpers work: a throwaway cluster that really stops, and cut sockets."""

import threading
import time

import psycopg
import pytest
from django.db import OperationalError, close_old_connections, connection

from tests.conftest import wait_for
from tests.pgcluster import (
    PostgresNotFound,
    TempPostgres,
    close_connection_socket,
    close_django_connection_socket,
    find_pg_bindir,
    manage_py,
    outage_tolerant,
)
from workspaces.models import Workspace


def _connect_fails(pg, dbname="postgres"):
    with pytest.raises(psycopg.OperationalError):
        pg.connect(dbname, connect_timeout=2)


def test_migrated_database_stops_for_real_and_comes_back_with_its_data(temp_pg_database, tmp_path):
    pg, name = temp_pg_database.pg, temp_pg_database.name
    assert temp_pg_database.url == f"postgres://postgres@127.0.0.1:{pg.port}/{name}"
    # The schema came from `manage.py migrate`; a subprocess on the URL finds nothing left to apply.
    manage_py("migrate", "--check", database_url=temp_pg_database.url, env={"IAC_DATA_DIR": str(tmp_path)})

    conn = pg.connect(name)
    assert conn.execute("SELECT count(*) FROM workspaces_workspace").fetchone() == (0,)
    conn.execute("CREATE TABLE marker (v text)")
    conn.execute("INSERT INTO marker VALUES ('before the outage')")

    assert pg.stop("immediate") is True
    assert not pg.is_running()
    with pytest.raises(psycopg.OperationalError):
        conn.execute("SELECT 1")  # the open connection died with the server
    _connect_fails(pg, name)  # and nothing new gets in
    assert pg.stop() is False  # already down

    pg.start()  # same port: the URL handed out before still works
    with pg.connect(name) as fresh:
        assert fresh.execute("SELECT v FROM marker").fetchall() == [("before the outage",)]


def test_restart_after_is_an_outage_of_that_length(temp_postgres):
    began = time.monotonic()
    thread = temp_postgres.restart_after(1.5, mode="fast")
    assert not temp_postgres.is_running()  # the stop has happened when it returns
    _connect_fails(temp_postgres)
    temp_postgres.wait_restarted(timeout=30)
    assert time.monotonic() - began >= 1.5
    assert thread.error is None and temp_postgres.is_running()
    with temp_postgres.connect() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_pending_restart_is_cancelled_by_ensure_running(temp_postgres):
    thread = temp_postgres.restart_after(600)
    temp_postgres.ensure_running()  # what fixture teardowns do: no 10-minute wait
    assert not thread.is_alive() and temp_postgres.is_running()


def test_terminate_connections_kills_the_clients_of_one_database(temp_postgres):
    temp_postgres.create_database("victim")
    try:
        victim, bystander = temp_postgres.connect("victim"), temp_postgres.connect("postgres")
        assert temp_postgres.terminate_connections("victim") == 1
        with pytest.raises(psycopg.OperationalError):
            victim.execute("SELECT 1")
        assert bystander.execute("SELECT 1").fetchone() == (1,)
        bystander.close()
    finally:
        temp_postgres.drop_database("victim")


def test_django_fails_during_the_outage_and_close_old_connections_recovers(django_on_temp_postgres):
    pg = django_on_temp_postgres.pg
    assert connection.settings_dict["PORT"] == str(pg.port)
    assert connection.settings_dict["NAME"] == django_on_temp_postgres.name
    Workspace.objects.create(name="survivor")  # autocommit: no test transaction around it

    pg.stop("immediate")
    with pytest.raises(OperationalError):
        Workspace.objects.count()
    close_old_connections()  # while it is down: discards the dead connection, raises nothing
    with pytest.raises(OperationalError):
        Workspace.objects.count()  # reconnecting fails: the server is down
    assert outage_tolerant(Workspace.objects.exists)() is False  # for polls: "not yet"

    pg.start()
    close_old_connections()
    assert outage_tolerant(Workspace.objects.exists)() is True
    assert list(Workspace.objects.values_list("name", flat=True)) == ["survivor"]


def test_cut_socket_fails_the_next_query_and_close_old_connections_reconnects(transactional_db):
    # The ordinary pytest-django test database: no server outage, only this connection dropped.
    if connection.vendor != "postgresql":
        pytest.skip("the test database is not PostgreSQL (DATABASE_URL unset)")
    Workspace.objects.create(name="before")
    pid = close_django_connection_socket()
    with pytest.raises(OperationalError):
        Workspace.objects.count()
    close_old_connections()
    assert Workspace.objects.count() == 1
    assert connection.connection.info.backend_pid != pid
    # The server saw that client go away too.
    def backend_gone():
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
            return cursor.fetchone()[0] == 0

    wait_for(backend_gone, timeout=10, message="the cut backend to exit")


def test_cut_socket_from_another_thread_fails_a_query_in_flight(django_on_temp_postgres):
    connection.ensure_connection()
    fd = connection.connection.pgconn.socket
    cutter = threading.Timer(0.5, close_connection_socket, args=[fd])
    began = time.monotonic()
    cutter.start()
    try:
        with pytest.raises(OperationalError):
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_sleep(20)")
    finally:
        cutter.join()
    assert time.monotonic() - began < 10  # cut mid-query, not at its end
    close_old_connections()
    assert Workspace.objects.count() == 0


def test_context_manager_removes_everything_and_missing_binaries_are_reported(tmp_path):
    try:
        find_pg_bindir()
    except PostgresNotFound as exc:
        pytest.skip(f"needs the PostgreSQL server binaries: {exc}")
    with pytest.raises(PostgresNotFound, match="initdb"):
        TempPostgres(bindir=tmp_path)
    with TempPostgres() as pg:
        directory, port = pg.dir, pg.port
        assert pg.url("x") == f"postgres://postgres@127.0.0.1:{port}/x"
        assert pg.execute("SHOW fsync") == [("off",)]
    assert not directory.exists()
    assert not pg.is_running()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=2)

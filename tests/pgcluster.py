"""Real database outages for tests and benchmarks: a throwaway PostgreSQL cluster, cut sockets.

Nothing here is mocked. ``TempPostgres`` runs its own postmaster (``initdb`` + ``pg_ctl``) in a
temporary directory on a free TCP port of 127.0.0.1, so a test can stop it (``immediate``: every
backend dies at once, as in a crash; ``fast``: sessions are terminated, then a clean shutdown)
and start it again while a worker is running. The machine's own PostgreSQL is never touched.

This module has no pytest dependency: bench scripts import it as ``tests.pgcluster`` (the
repository root on ``sys.path``); the pytest fixtures built on it are in ``tests/pg_fixtures.py``.

    from tests.pgcluster import TempPostgres, migrate

    with TempPostgres() as pg:                       # initdb + start (~1-2 s)
        url = pg.create_database("bench")            # postgres://postgres@127.0.0.1:<port>/bench
        migrate(url)                                 # manage.py migrate in a subprocess
        ...                                          # run a worker with DATABASE_URL=url
        pg.restart_after(30)                         # stop now (immediate), start again in 30 s
        ...
    # stopped and removed

Running as root (as in CI containers): ``initdb`` refuses root, so every PostgreSQL binary runs
as the ``postgres`` OS user (``os_user=``) in a temporary directory owned by it.

Dropped connections without a server outage: ``close_connection_socket(conn)`` shuts down the
TCP/unix socket under a live psycopg 3 connection and ``close_django_connection_socket(alias)``
does it to Django's current connection; the next query then fails for real (OperationalError)
until the connection is closed and reopened (``django.db.close_old_connections()``).
"""

from __future__ import annotations

import atexit
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parent.parent
REQUIRED_BINARIES = ("initdb", "pg_ctl", "pg_isready")
STOP_MODES = ("immediate", "fast", "smart")

__all__ = [
    "PostgresNotFound",
    "TempPostgres",
    "TempPostgresError",
    "close_connection_socket",
    "close_django_connection_socket",
    "django_connected_to",
    "find_pg_bindir",
    "manage_py",
    "migrate",
    "outage_tolerant",
]


class PostgresNotFound(RuntimeError):
    """The PostgreSQL server binaries (initdb, pg_ctl, pg_isready) are not installed."""


class TempPostgresError(RuntimeError):
    """A PostgreSQL command of the temporary cluster failed (the message holds its output)."""


# --- finding the binaries ---------------------------------------------------------------


def _version_key(path: str) -> tuple:
    return tuple(int(part) for part in re.findall(r"\d+", path)) or (0,)


def find_pg_bindir() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``pg_isready``.

    Looked for in order: ``$PG_BINDIR``, ``pg_config --bindir``, ``/usr/lib/postgresql/*/bin``
    (newest first, Debian/Ubuntu), ``/usr/pgsql-*/bin`` (RHEL), ``/usr/local/pgsql/bin`` and
    ``$PATH``. Raises ``PostgresNotFound`` listing every place tried.
    """
    candidates: list[str] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(os.environ["PG_BINDIR"])
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                candidates.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates += sorted(glob.glob("/usr/pgsql-*/bin"), key=_version_key, reverse=True)
    candidates.append("/usr/local/pgsql/bin")
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(os.path.dirname(on_path))
    for candidate in dict.fromkeys(candidates):
        if all(os.access(os.path.join(candidate, name), os.X_OK) for name in REQUIRED_BINARIES):
            return Path(candidate)
    raise PostgresNotFound(
        "PostgreSQL server binaries (" + ", ".join(REQUIRED_BINARIES) + ") not found; looked in "
        + (", ".join(dict.fromkeys(candidates)) or "nothing")
        + ". Install the PostgreSQL server package or set PG_BINDIR."
    )


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# --- the cluster ------------------------------------------------------------------------


class TempPostgres:
    """A throwaway PostgreSQL cluster on 127.0.0.1:<free port>, trust auth, user ``postgres``.

    ``start()`` creates it on first use (``initdb -N``, fsync off, small shared_buffers) and
    starts it; ``stop(mode)`` / ``start()`` / ``restart_after(seconds)`` make outages;
    ``destroy()`` stops it and removes its directory (also run at interpreter exit, and by
    ``with TempPostgres() as pg:``). The port never changes once chosen, so URLs handed to
    other processes stay valid across restarts. Safe to call from several threads.
    """

    def __init__(
        self,
        *,
        bindir: str | os.PathLike | None = None,
        port: int | None = None,
        base_dir: str | os.PathLike | None = None,
        os_user: str = "postgres",
        max_connections: int = 50,
        settings: dict[str, object] | None = None,
        timeout: float = 30.0,
    ):
        self.bindir = Path(bindir) if bindir else find_pg_bindir()
        missing = [name for name in REQUIRED_BINARIES if not (self.bindir / name).exists()]
        if missing:
            raise PostgresNotFound(f"{', '.join(missing)} not found in {self.bindir}")
        self.host = "127.0.0.1"
        self.user = "postgres"  # the database superuser (initdb -U)
        self.port: int | None = port
        self._port_fixed = port is not None
        self.base_dir = str(base_dir) if base_dir else None
        self.max_connections = max_connections
        self.extra_settings = dict(settings or {})
        self.timeout = timeout
        self.dir: Path | None = None
        self._run_as = self._resolve_os_user(os_user)
        self._lock = threading.RLock()
        self._restart: tuple[threading.Thread, threading.Event] | None = None
        self._destroyed = False

    # -- paths & process helpers --

    @staticmethod
    def _resolve_os_user(os_user: str) -> tuple[int, int] | None:
        """(uid, gid) to run the binaries as, or None to run them as ourselves (not root)."""
        if os.geteuid() != 0:
            return None
        import pwd

        try:
            entry = pwd.getpwnam(os_user)
        except KeyError:
            raise TempPostgresError(
                f"running as root, and initdb refuses root: an OS user {os_user!r} is needed to "
                f"own the temporary cluster (TempPostgres(os_user=...))."
            ) from None
        return entry.pw_uid, entry.pw_gid

    @property
    def data_dir(self) -> Path:
        return self._require_dir() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._require_dir()

    @property
    def log_path(self) -> Path:
        return self._require_dir() / "postgres.log"

    def _require_dir(self) -> Path:
        if self.dir is None:
            raise TempPostgresError("the cluster has not been created yet: call start() first")
        return self.dir

    def _env(self) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
        if self.dir is not None:
            env["HOME"] = str(self.dir)
        if "TZ" in os.environ:
            env["TZ"] = os.environ["TZ"]
        return env

    def _popen_kwargs(self) -> dict:
        kwargs: dict = {"env": self._env(), "cwd": str(self.dir or "/")}
        if self._run_as is not None:
            uid, gid = self._run_as
            kwargs.update(user=uid, group=gid, extra_groups=[])
        return kwargs

    def _run(self, *args: str, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        try:
            result = subprocess.run(
                cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                timeout=timeout or self.timeout + 30, **self._popen_kwargs(),
            )
        except subprocess.TimeoutExpired as exc:
            raise TempPostgresError(f"{' '.join(cmd)} timed out{self._log_excerpt()}") from exc
        if check and result.returncode != 0:
            raise TempPostgresError(
                f"{' '.join(cmd)} exited with {result.returncode}:\n{result.stdout}{result.stderr}"
                f"{self._log_excerpt()}"
            )
        return result

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server log (empty if there is none yet)."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, TempPostgresError):
            return ""

    def _log_excerpt(self) -> str:
        tail = self.log_tail()
        return f"\n--- {self.log_path} (tail) ---\n{tail}" if tail else ""

    # -- creating the cluster --

    def _create(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="tmp-pg-", dir=self.base_dir))
        os.chmod(self.dir, 0o700)
        if self._run_as is not None:
            os.chown(self.dir, *self._run_as)
        atexit.register(self.destroy)
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", self.user, "--auth=trust", "--no-sync",
            "--encoding=UTF8", "--locale=C", "--no-instructions",
        )
        conf = self.data_dir / "postgresql.conf"
        with open(conf, "a") as handle:
            handle.write("\n# TempPostgres\ninclude 'temp_postgres.conf'\n")
        self._write_settings()

    def _write_settings(self) -> None:
        settings: dict[str, object] = {
            "listen_addresses": self.host,
            "port": self.port,
            "unix_socket_directories": str(self.socket_dir),
            "max_connections": self.max_connections,
            "shared_buffers": "16MB",
            # Fast, and still crash-safe for what a test does: an immediate stop kills the
            # processes, not the OS, so written WAL survives in the page cache. Never
            # synchronous_commit=off: commits still in WAL buffers would vanish with the
            # server, which no production outage does.
            "fsync": "off",
            "full_page_writes": "off",
            "wal_level": "minimal",
            "max_wal_senders": 0,
            "logging_collector": "off",
            "log_min_messages": "warning",
            **self.extra_settings,
        }
        lines = []
        for key, value in settings.items():
            if isinstance(value, str):
                value = "'" + value.replace("'", "''") + "'"
            lines.append(f"{key} = {value}")
        path = self.data_dir / "temp_postgres.conf"
        path.write_text("\n".join(lines) + "\n")
        if self._run_as is not None:
            os.chown(path, *self._run_as)

    # -- start / stop --

    def is_running(self) -> bool:
        if self.dir is None or not self.data_dir.exists():
            return False
        return self._run("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode == 0

    def start(self) -> "TempPostgres":
        """Create the cluster if needed and start it; return once it accepts connections.

        A no-op if it is already running. Starting again after ``stop()`` keeps the port and
        the data (after ``immediate`` the server runs crash recovery first, within a second).
        """
        with self._lock:
            if self._destroyed:
                raise TempPostgresError("this TempPostgres has been destroyed")
            if self.dir is None:
                if self.port is None:
                    self.port = _free_port(self.host)
                self._create()
            elif self.is_running():
                return self
            attempts = 1 if self._port_fixed else 3
            for attempt in range(attempts):
                try:
                    self._pg_ctl_start()
                    break
                except TempPostgresError:
                    in_use = "already in use" in self.log_tail(10) or "could not bind" in self.log_tail(10)
                    if not in_use or attempt == attempts - 1:
                        raise
                    self.port = _free_port(self.host)
                    self._write_settings()
            self._port_fixed = True
            self.wait_ready()
            return self

    def _pg_ctl_start(self) -> None:
        out_path = self._require_dir() / "pg_ctl.out"
        cmd = [
            str(self.bindir / "pg_ctl"), "start", "-D", str(self.data_dir), "-l", str(self.log_path),
            "-w", "-t", str(int(self.timeout)),
        ]
        # Output to a file, not a pipe: the postmaster outlives pg_ctl and must not hold our pipe.
        with open(out_path, "w") as out:
            if self._run_as is not None:
                os.chown(out_path, *self._run_as)
            result = subprocess.run(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, timeout=self.timeout + 30, **self._popen_kwargs(),
            )
        if result.returncode != 0:
            raise TempPostgresError(
                f"pg_ctl start failed (port {self.port}):\n{out_path.read_text(errors='replace')}"
                f"{self._log_excerpt()}"
            )

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until ``pg_isready`` says the server accepts TCP connections."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            result = self._run(
                "pg_isready", "-h", self.host, "-p", str(self.port), "-U", self.user, "-d", "postgres",
                "-t", "2", check=False,
            )
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise TempPostgresError(
                    f"the server on port {self.port} is not ready after {timeout or self.timeout} s:"
                    f" {result.stdout.strip()}{self._log_excerpt()}"
                )
            time.sleep(0.1)

    def stop(self, mode: str = "immediate") -> bool:
        """Stop the server; False if it was not running.

        ``immediate``: every backend is killed at once (clients see the connection drop, as
        in a crash; the next start does crash recovery). ``fast``: sessions are terminated and
        the server shuts down cleanly. ``smart``: waits for clients to disconnect.
        """
        if mode not in STOP_MODES:
            raise ValueError(f"mode must be one of {STOP_MODES}, not {mode!r}")
        with self._lock:
            if not self.is_running():
                return False
            self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", mode, "-w", "-t", str(int(self.timeout)))
            return True

    def restart_after(self, seconds: float, mode: str | None = "immediate") -> threading.Thread:
        """An outage of ``seconds``: stop the server now (unless ``mode`` is None or it is
        already stopped), then start it again in a background thread after ``seconds``.

        The stop has happened when this returns. The returned daemon thread has an ``error``
        attribute (the exception if the start failed, else None); ``wait_restarted()`` joins
        it and re-raises. ``cancel_restart()``, ``ensure_running()`` and ``destroy()`` cancel a
        pending start.
        """
        with self._lock:
            if self._restart is not None and self._restart[0].is_alive():
                raise TempPostgresError("a restart is already pending")
            if mode is not None:
                self.stop(mode)
            cancelled = threading.Event()

            def _start_later():
                if cancelled.wait(seconds):
                    return
                try:
                    with self._lock:
                        if not cancelled.is_set():
                            self.start()
                except BaseException as exc:  # kept for wait_restarted()
                    thread.error = exc

            thread = threading.Thread(target=_start_later, name=f"TempPostgres-restart-{self.port}", daemon=True)
            thread.error = None
            self._restart = (thread, cancelled)
            thread.start()
            return thread

    def wait_restarted(self, timeout: float | None = None) -> None:
        """Block until a pending ``restart_after`` has started the server; re-raise its error."""
        if self._restart is None:
            return
        thread = self._restart[0]
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError(f"the server was not restarted within {timeout} s")
        if thread.error is not None:
            raise thread.error

    def cancel_restart(self) -> None:
        """Cancel a pending ``restart_after`` (waits for it if it is starting the server)."""
        restart = self._restart
        if restart is None:
            return
        thread, cancelled = restart
        cancelled.set()
        if thread is not threading.current_thread():
            thread.join(self.timeout + 30)
        self._restart = None

    def ensure_running(self) -> "TempPostgres":
        """Cancel any pending restart and start the server if it is down (for teardowns)."""
        self.cancel_restart()
        return self.start()

    def destroy(self) -> None:
        """Stop the server (immediate) and remove its directory. Idempotent."""
        if self._destroyed:
            return
        self.cancel_restart()
        with self._lock:
            self._destroyed = True
            try:
                atexit.unregister(self.destroy)
            except Exception:
                pass
            if self.dir is None:
                return
            try:
                if self.is_running():
                    self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate", "-w", check=False)
            finally:
                shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "TempPostgres":
        try:
            return self.start()
        except BaseException:
            self.destroy()
            raise

    def __exit__(self, *exc_info) -> None:
        self.destroy()

    def __repr__(self) -> str:
        state = "destroyed" if self._destroyed else ("created" if self.dir else "new")
        return f"<TempPostgres {self.host}:{self.port} {state} dir={self.dir}>"

    # -- databases --

    def url(self, dbname: str = "postgres") -> str:
        """``postgres://postgres@127.0.0.1:<port>/<dbname>`` (the DATABASE_URL format)."""
        if self.port is None:
            raise TempPostgresError("no port yet: call start() first")
        return f"postgres://{self.user}@{self.host}:{self.port}/{quote(dbname, safe='')}"

    def connect(self, dbname: str = "postgres", *, autocommit: bool = True, connect_timeout: int = 5):
        """A new psycopg 3 connection (autocommit by default); the caller closes it."""
        import psycopg

        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname=dbname,
            autocommit=autocommit, connect_timeout=connect_timeout,
        )

    def execute(self, sql, params=None, *, dbname: str = "postgres") -> list[tuple]:
        """Run one statement on a fresh connection; return its rows (empty if none)."""
        with self.connect(dbname) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create a database (optionally a copy of ``template``, which must have no
        connections) and return its URL."""
        from psycopg import sql

        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        self.execute(statement)
        return self.url(name)

    def drop_database(self, name: str, *, force: bool = True) -> None:
        """Drop a database if it exists; ``force`` first terminates its connections."""
        from psycopg import sql

        statement = sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name))
        if force:
            statement += sql.SQL(" WITH (FORCE)")
        self.execute(statement)

    def mark_template(self, name: str) -> None:
        """Make ``name`` a template that refuses connections (so copies of it never fail
        because something is connected to it)."""
        from psycopg import sql

        self.execute(sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")
                     .format(sql.Identifier(name)))

    def terminate_connections(self, dbname: str | None = None) -> int:
        """Kill the server processes of every client (of ``dbname`` only, if given), as an
        administrator's ``pg_terminate_backend`` would; return how many were killed."""
        query = ("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                 "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'")
        params: tuple = ()
        if dbname is not None:
            query += " AND datname = %s"
            params = (dbname,)
        return self.execute(query, params)[0][0]


# --- dropped connections ----------------------------------------------------------------


def close_connection_socket(conn) -> None:
    """Cut the socket under a live psycopg 3 connection (or a raw socket fd) from under it.

    The socket is shut down in both directions (the server sees the client go away; the
    client's next read gets EOF and its next query fails with OperationalError) but the file
    descriptor stays open, owned by libpq, so it can never be reused by an unrelated file.
    Callable from another thread, with an fd taken beforehand, to cut a query in flight.
    """
    fd = conn if isinstance(conn, int) else conn.pgconn.socket
    sock = socket.socket(fileno=os.dup(fd))
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already disconnected
    finally:
        sock.close()


def close_django_connection_socket(alias: str = "default") -> int:
    """Cut the socket of Django's current connection for ``alias`` (this thread's).

    Connects first if needed, so there is always something to cut. Returns the server PID
    of the connection that was cut. The next query on it fails with
    ``django.db.OperationalError``; ``django.db.close_old_connections()`` (or
    ``connections[alias].close()``) then discards it and the query after that reconnects.
    Outside ``atomic()`` only: Django does not reconnect inside a transaction (so not with
    pytest-django's ``db`` fixture, which wraps each test in one; use ``transactional_db``).
    """
    from django.db import connections

    wrapper = connections[alias]
    if wrapper.vendor != "postgresql":
        raise TypeError(f"database {alias!r} is {wrapper.vendor}, not PostgreSQL")
    wrapper.ensure_connection()
    raw = wrapper.connection
    pid = raw.info.backend_pid
    close_connection_socket(raw)
    return pid


def outage_tolerant(predicate):
    """Wrap a polling predicate that queries through Django so that a database outage reads
    as "not yet" (False) instead of raising: on OperationalError/InterfaceError the dead
    connections are discarded (``close_old_connections()``) and the next poll reconnects.
    For ``wait_for(outage_tolerant(lambda: ...))`` while the server is down or restarting.
    """
    from django.db import InterfaceError, OperationalError, close_old_connections

    def poll():
        try:
            return predicate()
        except (OperationalError, InterfaceError):
            close_old_connections()
            return False

    return poll


@contextmanager
def django_connected_to(url: str, alias: str = "default"):
    """Point Django's ``alias`` connection at ``url`` in the current thread, for the block.

    A new connection wrapper (settings from ``DATABASE_URL``-style ``url``, other keys as in
    ``settings.DATABASES[alias]``) replaces this thread's ``connections[alias]``; the old one
    is put back afterwards. Other threads (a live_server, say) keep the configured database.
    """
    from django.db import connections
    from django.db.utils import load_backend

    from iacplatform.env import database_from_url

    settings_dict = {**connections.settings[alias], **database_from_url("url", url)}
    settings_dict["TEST"] = {**connections.settings[alias].get("TEST", {}), "NAME": None}
    wrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias)
    previous = connections[alias]
    connections[alias] = wrapper
    try:
        yield wrapper
    finally:
        try:
            wrapper.close()
        except Exception:
            pass
        connections[alias] = previous


# --- the project's manage.py ------------------------------------------------------------


def manage_py(*args: str, database_url: str, env: dict[str, str] | None = None, timeout: float = 300,
              check: bool = True) -> subprocess.CompletedProcess:
    """Run ``manage.py <args>`` of this repository in a subprocess with ``DATABASE_URL`` set.

    The rest of the environment is this process's, plus ``env``. Output is captured; a
    failure raises ``TempPostgresError`` with it when ``check``.
    """
    full_env = {**os.environ, "LOG_LEVEL": "WARNING", **(env or {}), "DATABASE_URL": database_url}
    cmd = [sys.executable, str(REPO_ROOT / "manage.py"), *args]
    result = subprocess.run(cmd, env=full_env, cwd=str(REPO_ROOT), capture_output=True, text=True,
                            timeout=timeout, stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise TempPostgresError(
            f"manage.py {' '.join(args)} exited with {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result


def migrate(database_url: str, env: dict[str, str] | None = None, timeout: float = 300) -> None:
    """Create the project's schema in ``database_url`` (``manage.py migrate --noinput``)."""
    manage_py("migrate", "--noinput", database_url=database_url, env=env, timeout=timeout)

"""Surviving a database outage: Django never reconnects a broken connection by itself."""

from django.db import connections


def reconnect_after_failure() -> None:
    """Drop this thread's connections so the next query opens a fresh one.

    Inside a transaction (an atomic block) a connection is left alone: closing it would break
    the transaction, and the caller's retry could not succeed there anyway.
    """
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 — closing a dead connection may fail; it is gone either way
                conn.connection = None

"""django-q2's database broker, woken by PostgreSQL's LISTEN/NOTIFY instead of polling.

The ORM broker polls its queue table every ``poll`` seconds when it is empty: a queued run waits
for the next poll (0.1 s by default, and ten queries a second per idle cluster). On PostgreSQL
this broker sends ``NOTIFY`` with every message it queues (delivered when the queueing
transaction commits, so a worker never looks before the row is visible) and, when the queue is
empty, waits on ``LISTEN`` for at most ``IAC_BROKER_WAIT`` seconds before it looks again — the
fallback poll, which also picks up messages whose lock expired. On any other database it is the
plain ORM broker. A lost listening connection is reopened at the next wait; meanwhile the broker
polls as the ORM broker does.
"""

import logging
import re
import time

import psycopg
from django.conf import settings
from django.db import connections
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf

logger = logging.getLogger("iacplatform.broker")
RELISTEN_SECONDS = 2.0  # after a lost listening connection: poll this long before listening again
PASSED_OPTIONS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout")


def channel_for(list_key: str) -> str:
    return "iac_q_" + re.sub(r"[^a-z0-9_]", "_", (list_key or "default").lower())[:50]


def _is_postgres(alias: str) -> bool:
    return connections[alias].vendor == "postgresql"


class NotifyingORM(ORM):
    """The ORM broker with PostgreSQL LISTEN/NOTIFY wake-ups (see the module's docstring)."""

    def __init__(self, list_key: str = None):
        super().__init__(list_key=list_key)
        self.channel = channel_for(self.list_key)
        self.listener = None
        self.retry_at = 0.0  # after a lost connection: when to try listening again

    # -- the queueing side -------------------------------------------------------------------
    def enqueue(self, task):
        pk = super().enqueue(task)
        if _is_postgres(Conf.ORM):
            with connections[Conf.ORM].cursor() as cursor:
                cursor.execute("SELECT pg_notify(%s, %s)", [self.channel, str(pk)])
        return pk

    # -- the worker side ---------------------------------------------------------------------
    def dequeue(self):
        tasks = self._claim()
        if tasks:
            return tasks
        if not _is_postgres(Conf.ORM) or not self._wait():
            time.sleep(Conf.POLL)  # the ORM broker's own pause: not PostgreSQL, or no listener now
        return None

    def _claim(self):
        """The ORM broker's claim of up to ``bulk`` messages (its dequeue without the sleep)."""
        tasks = self.get_connection().filter(key=self.list_key, lock__lt=timezone.now())[0:Conf.BULK]
        claimed = []
        for task in tasks:
            if self.get_connection().filter(id=task.id, lock=task.lock).update(lock=self.timeout(task)):
                claimed.append((task.pk, task.payload))
        return claimed

    def _connect(self):
        params = connections[Conf.ORM].settings_dict
        conn = psycopg.connect(
            dbname=params["NAME"], user=params.get("USER") or None, password=params.get("PASSWORD") or None,
            host=params.get("HOST") or None, port=params.get("PORT") or None, autocommit=True,
            **{k: v for k, v in (params.get("OPTIONS") or {}).items() if k in PASSED_OPTIONS},
        )
        conn.execute(f'LISTEN "{self.channel}"')
        return conn

    def _wait(self) -> bool:
        """Block until a NOTIFY of this queue or the fallback timeout; False without a listener."""
        if self.listener is None and time.monotonic() < self.retry_at:
            return False
        try:
            if self.listener is None or self.listener.closed:
                self.listener = self._connect()
            for _ in self.listener.notifies(timeout=float(settings.IAC_BROKER_WAIT), stop_after=1):
                break
            return True
        except psycopg.Error as exc:
            logger.warning("broker %s: listening connection lost (%s); polling until it is back", self.channel, exc)
            if self.listener is not None:
                try:
                    self.listener.close()
                except psycopg.Error:
                    pass
            self.listener = None
            self.retry_at = time.monotonic() + min(float(settings.IAC_BROKER_WAIT), RELISTEN_SECONDS)
            return False

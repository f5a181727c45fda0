"""Django's PostgreSQL backend, with every wait for the server bounded (DATABASE_TIMEOUT).

psycopg waits for an answer as long as it takes: a PostgreSQL that accepts connections and never
answers (frozen, its disk stuck, its machine cut off behind a proxy that still holds the
connection) would hold every request that touches the database, and every worker thread with it,
until it came back. Here each wait for one answer (a query, a commit, Django's health check of a
kept connection) gives up after DATABASE_TIMEOUT seconds with an OperationalError, which the site
answers 503 like a PostgreSQL that is down (smolpix.outages); connecting is bounded by libpq's
connect_timeout (settings). 0 waits as long as it takes (migrations: an index on a large table may
take minutes).
"""

import psycopg
from django.conf import settings
from django.db.backends.postgresql import base


class BoundedConnection(psycopg.Connection):
    def wait(self, gen, *args, timeout=None, **kwargs):
        """psycopg's one way of waiting for the server on a connection; past the timeout it raises
        an OperationalError (and Django's health check finds the connection unusable)."""
        if timeout is None and settings.DATABASE_TIMEOUT:
            timeout = settings.DATABASE_TIMEOUT
        return super().wait(gen, *args, timeout=timeout, **kwargs)


class _Psycopg:
    """psycopg as the backend sees it (self.Database), connecting with BoundedConnection."""

    connect = staticmethod(BoundedConnection.connect)

    def __getattr__(self, name: str):
        return getattr(psycopg, name)


class DatabaseWrapper(base.DatabaseWrapper):
    Database = _Psycopg()

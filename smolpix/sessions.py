"""Django's database sessions (SESSION_ENGINE), read at most once a request while PostgreSQL is down.

Django reads a session again at each look while reading it fails, and a signed-in page looks at its
user (so at its session) from the view, django-otp's middleware and ours, for the log line and the
Cache-Control of its answer: with PostgreSQL hung, each look waited DATABASE_TIMEOUT, and a page
took 15 s to answer its 503 where the API took 5."""

from django.contrib.sessions.backends import db

from smolpix.outages import DATABASE_DOWN


class SessionStore(db.SessionStore):
    _unreadable: Exception | None = None  # why this request's session could not be read

    def load(self) -> dict:
        if self._unreadable:
            raise self._unreadable
        try:
            return super().load()
        except DATABASE_DOWN as error:
            self._unreadable = error
            raise

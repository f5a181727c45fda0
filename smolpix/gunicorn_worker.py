"""The web processes' gunicorn worker (gunicorn.conf.py): gunicorn's threaded worker, with three
differences.

- The errors gunicorn answers itself, before Django sees the request (a request line or headers
  too long or malformed, a broken chunked body), are JSON like every other error answer
  (smolpix.refusals) instead of gunicorn's HTML page.
- A client that sends its request slowly cannot hold a thread for as long as it likes (slowloris):
  gthread waits for a request's first byte without a thread, but then reads the rest in one,
  blocking, with no time limit. Here the request's head (its line and headers) must arrive within
  HEAD_SECONDS of its first byte, or it is answered 408; its body at BODY_BYTES_PER_SECOND on
  average after BODY_GRACE_SECONDS, or reading it fails with RequestTooSlow (a 408 from the API, a
  400 page elsewhere). Either way the connection then closes. And a client that stops reading its
  answer has its connection closed once nothing more could be sent to it for WRITE_SECONDS.
- How long each request waited for a thread is noted (smolpix.thread_wait): it counts against an
  optimization's wait for a Celery worker.
"""

import logging
import socket
import struct
from time import monotonic

from django.core.exceptions import BadRequest
from gunicorn import util
from gunicorn.http.unreader import SocketUnreader
from gunicorn.workers import gthread

from smolpix import thread_wait
from smolpix.refusals import refusal

HEAD_SECONDS = 10.0
# 16 KiB/s is slower than any mobile upload but the oldest (2G): a client that cannot keep it up is
# most likely holding the thread on purpose, and one that can holds it for at most the body's size
# at that rate.
BODY_GRACE_SECONDS = 10.0
BODY_BYTES_PER_SECOND = 16 * 1024
# An answer too large for the socket's buffers is written as the client reads it: when nothing more
# can be sent for this long (the kernel's send timeout, per send call), the client is gone, or
# holding the thread on purpose. (The kernel may first grow the buffers: on loopback, by hand, an
# unread 15 MB answer was given up after ~95 s.)
WRITE_SECONDS = 30

# gunicorn's own log (gunicorn.conf.py): such a request never reaches Django's request log.
logger = logging.getLogger("gunicorn.error")


class RequestTooSlow(BadRequest):
    """The request's body did not arrive in time (raised where the application reads it)."""


class GuardedThreadWorker(gthread.ThreadWorker):
    def init_process(self) -> None:
        # In this process only: gunicorn's Worker.handle_error writes its answer through
        # util.write_error, and its accept() makes each connection a gthread.TConn.
        util.write_error = write_json_error
        gthread.TConn = PacedConnection
        super().init_process()

    def enqueue_req(self, conn: "PacedConnection") -> None:
        # A new connection, or a kept-alive one whose next request's first byte arrived: it waits
        # for one of the threads from now.
        conn.queued_at = monotonic()
        super().enqueue_req(conn)

    def handle(self, conn: "PacedConnection"):
        conn.thread_wait = monotonic() - conn.queued_at
        # A kept-alive connection comes back here when its next request's first byte arrives.
        if conn.reads:
            conn.reads.head_started()
        return super().handle(conn)

    def handle_request(self, req, conn: "PacedConnection") -> bool:
        """Whether the connection is kept alive after it (never after a deadline passed)."""
        if conn.reads:
            conn.reads.body_started()
        try:
            with thread_wait.noted(conn.thread_wait):
                keepalive = super().handle_request(req, conn)
        except BlockingIOError:  # the write deadline (PacedConnection)
            logger.info(
                "nothing of an answer could be sent for %d s (the client stopped reading): connection closed",
                WRITE_SECONDS,
            )
            return False
        return keepalive and not (conn.reads and conn.reads.expired)


class PacedConnection(gthread.TConn):
    """A client connection whose HTTP/1 parser reads through PacedReads, and whose writes (blocking)
    give up after WRITE_SECONDS without progress (the kernel's send timeout: BlockingIOError)."""

    reads: "PacedReads | None" = None
    queued_at = 0.0  # monotonic() when the connection was queued for a thread
    thread_wait = 0.0  # seconds its current request waited for one

    def init(self) -> None:
        new = self.parser is None
        super().init()
        unreader = getattr(self.parser, "unreader", None)
        if new and isinstance(unreader, SocketUnreader):
            self.reads = unreader.sock = PacedReads(self.sock)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", WRITE_SECONDS, 0))


class PacedReads:
    """The client's socket as gunicorn's parser reads it (`recv`), within the deadlines above; all
    else (writing the answer too) goes to the socket as it is."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.expired = False  # a deadline passed: reads end, and so does the connection
        self._head_since = monotonic()
        self._body_since: float | None = None
        self._body_bytes = 0

    def head_started(self) -> None:
        self._head_since, self._body_since = monotonic(), None

    def body_started(self) -> None:
        self._body_since, self._body_bytes = monotonic(), 0

    def _deadline(self) -> float:
        if self._body_since is None:
            return self._head_since + HEAD_SECONDS
        return self._body_since + BODY_GRACE_SECONDS + self._body_bytes / BODY_BYTES_PER_SECOND

    def recv(self, size: int) -> bytes:
        if self.expired:
            return b""  # as if the client had gone: the parser stops
        # A caller's own timeout (gunicorn's, draining an unread body) still holds, if it is sooner.
        caller_timeout = self._sock.gettimeout()
        remaining = max(self._deadline() - monotonic(), 0.001)
        self._sock.settimeout(remaining if caller_timeout is None else min(remaining, caller_timeout))
        try:
            data = self._sock.recv(size)
        except TimeoutError:
            if monotonic() < self._deadline():
                raise  # the caller's timeout, not ours
            return self._too_slow()
        finally:
            self._sock.settimeout(caller_timeout)
        if self._body_since is not None:
            self._body_bytes += len(data)
        return data

    def _too_slow(self) -> bytes:
        self.expired = True
        if self._body_since is not None:
            raise RequestTooSlow(
                f"The request body arrived too slowly (under {BODY_BYTES_PER_SECOND:,} bytes a second)."
            )
        logger.info("a request's headers took over %g s: answered 408", HEAD_SECONDS)
        write_json_error(self._sock, 408, "Request Timeout", f"the request's headers took over {HEAD_SECONDS:g} s")
        return b""  # the parser sees the client gone, and closes the connection

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


def write_json_error(sock: socket.socket, status_code: int, reason: str, detail: str) -> None:
    """util.write_error's replacement: the same answer as JSON, and the connection closed."""
    util.write_nonblock(sock, refusal(status_code, reason, detail))

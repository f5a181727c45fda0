"""The web processes' gunicorn worker (gunicorn.conf.py): gunicorn's threaded worker, except that
the errors gunicorn answers itself, before Django sees the request (a request line or headers too
long or malformed, a broken chunked body), are JSON like every other error answer
(api.errors.protocol_error) instead of gunicorn's HTML page."""

import json
import socket

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker


class JsonErrorsThreadWorker(ThreadWorker):
    def init_process(self) -> None:
        # gunicorn's Worker.handle_error writes its answer through util.write_error, in this process only.
        util.write_error = write_json_error
        super().init_process()


def write_json_error(sock: socket.socket, status_code: int, reason: str, detail: str) -> None:
    """util.write_error's replacement: the same answer as JSON, and the connection closed."""
    # Imported here: the arbiter loads this module before Django is set up; a worker answers
    # requests only after loading the app, which sets it up.
    from api.errors import protocol_error

    body = json.dumps(protocol_error(status_code, reason, detail).body).encode()
    head = (
        f"HTTP/1.1 {status_code} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)

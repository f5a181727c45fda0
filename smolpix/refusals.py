"""The answer to a request the web server refuses itself, before Django sees it (a request line or
headers too long or malformed, a broken chunked body): gunicorn's under `make serve`
(smolpix.gunicorn_worker), runserver's under `make run` (smolpix.devserver). Either way it is the
API's JSON error (api.errors.protocol_error), on every path, pages' too, and the connection closes."""

import json


def refusal(status_code: int, reason: str, detail: str) -> bytes:
    """The whole HTTP answer: its status as the server gave it, the JSON error as its body."""
    # Imported here: gunicorn's arbiter loads its worker module before Django is set up; a worker
    # answers requests only after loading the app, which sets it up.
    from api.errors import protocol_error

    body = json.dumps(protocol_error(status_code, reason, detail).body).encode()
    head = (
        f"HTTP/1.1 {status_code} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body

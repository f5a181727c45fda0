"""runserver's HTTP server, with http.server's HTML error page replaced by smolpix.refusals."""

from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer

from smolpix.refusals import refusal


class RefusingInJsonHandler(WSGIRequestHandler):
    """What http.server answers itself before Django sees the request (a request line or a header
    line over 64 KiB, over 100 headers, not HTTP, an HTTP version it lacks) is JSON."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        reason = self.responses.get(code, ("Error",))[0]
        self.log_error("code %d, message %s", code, message or reason)
        self.close_connection = True
        # Always with a status line and headers, even to what http.server took for HTTP/0.9 (a
        # request line that is not HTTP), as gunicorn answers.
        self.wfile.write(refusal(code, reason, explain or message or ""))


class DevelopmentServer(WSGIServer):
    def __init__(self, address, handler_class, *args, **kwargs) -> None:
        super().__init__(address, RefusingInJsonHandler, *args, **kwargs)

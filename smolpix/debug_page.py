"""Django's debug page (DEBUG on: `make run`), for every request the site answers with it."""

from django.core.exceptions import BadRequest
from django.views import debug


class ExceptionReporter(debug.ExceptionReporter):
    """Django's own, but for a request whose body Django refused to read: a form in another charset
    than UTF-8 is a BadRequest (400), and the page, reading that body again to show it, raised once
    more: a bare 500. Such a page shows the error without the request's data."""

    def get_traceback_data(self) -> dict:
        try:
            return super().get_traceback_data()
        except BadRequest:
            self.request = None
            return super().get_traceback_data()

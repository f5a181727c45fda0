"""Values every template may use."""

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


def origin(request: HttpRequest) -> dict:
    """`origin`: the scheme and host the reader is on (`https://smolpix.co`), so that code examples
    call the very site they are read on. Worked out only by the templates that use it."""
    return {"origin": SimpleLazyObject(lambda: f"{request.scheme}://{request.get_host()}")}

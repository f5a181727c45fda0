from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


def verified_email_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For the pages that need a verified address (try-it, API keys): signed-in users whose address
    is not verified yet are sent to "check your e-mail"."""

    @login_required
    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.email_verified:
            return redirect("verify_email_needed")
        return view(request, *args, **kwargs)

    return guarded

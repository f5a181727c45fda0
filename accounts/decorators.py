from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from accounts.next_url import with_next


def verified_email_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For the pages that need a verified address (try-it, API keys, Checkout): signed-in users whose
    address is not verified yet are sent to "check your e-mail", which brings them back here once it is."""

    @login_required
    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.email_verified:
            here = request.get_full_path() if request.method == "GET" else request.path
            return redirect(with_next(reverse("verify_email_needed"), here))
        return view(request, *args, **kwargs)

    return guarded

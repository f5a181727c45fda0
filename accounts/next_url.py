"""Where a visitor goes on to after signing up, verifying its address or logging in: the `next`
parameter, as Django's log-in takes it. Pricing's "Choose Pro" sends a visitor to sign-up with
`next` = that plan's checkout page; sign-up, "check your e-mail", the e-mails' links (verification,
or log-in for an address that has an account) and the verification carry it on. Only a path of
this site is ever followed: anything else is dropped, never redirected to."""

from django.http import HttpRequest, QueryDict
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.models import Plan
from accounts.selectors import plan_list


def next_url(request: HttpRequest) -> str:
    """The request's `next` (form, else query string) if it stays on this site, else ""."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    # Django checks only the first character for control characters: a NUL later on failed the
    # sign-up's insert in PostgreSQL, a 500 for a new address and none for a known one (which told
    # whether an address has an account).
    if not candidate.isprintable():
        return ""
    safe = url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return candidate if safe and candidate.startswith("/") else ""


def with_next(path: str, next_path: str) -> str:
    """`path` with `?next=next_path` (written as the log-in's redirects write it), or alone."""
    if not next_path:
        return path
    query = QueryDict(mutable=True)
    query["next"] = next_path
    return f"{path}?{query.urlencode(safe='/')}"


def plan_checked_out_at(next_path: str) -> Plan | None:
    """The paid plan whose checkout page `next_path` is, if it is one (the pages name it)."""
    paid = (plan for plan in plan_list() if plan.price_cents)
    return next((plan for plan in paid if next_path == reverse("billing:checkout", args=[plan.code])), None)

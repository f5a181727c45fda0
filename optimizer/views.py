"""The web "try it" page: a signed-in customer optimizes one image in the browser.

It goes through the same service as the API (`optimizer.services.optimize_image`), which charges
the image to the account's monthly quota (refunded if it fails), counts against the same per-minute
rate limit as the account's API calls, and answers in the API's shapes:
with `Accept: application/json` (the page's script) the API's JSON body or error body, with the
month's usage in `X-Quota-Used`/`X-Quota-Limit`; otherwise (no JavaScript) the page again, with
the result or the error on it. The one refusal a bigger plan ends, the month's images used up, also
says `"upgrade": true` in its JSON (the API's own answer never does), and the page and its script
then link to the pricing page.
"""

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.defaultfilters import pluralize
from django.utils.formats import date_format
from django.views.decorators.http import require_http_methods
from rest_framework import status

from accounts.models import Account
from accounts.selectors import account_limits
from api.errors import ErrorAnswer, error_answer
from api.metering import quota_headers
from api.optimize import OptimizeOutputSerializer, refuse_oversized_body
from optimizer.fetch import size_limit_in_words
from optimizer.forms import TryItForm
from optimizer.services import OptimizationFailed, optimize_image
from smolpix import thread_wait
from smolpix.errors import SmolpixError, SourceRefused
from usage.ratelimit import RateLimited, rate_limit_hit
from usage.selectors import usage_this_month
from usage.services import QuotaExceeded, QuotaHeldInFlight

# The form's field names as the API names them, for error bodies.
API_FIELD_NAMES = {"max_width": "maxWidth"}


@login_required
@require_http_methods(["GET", "POST"])
def try_it(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request, TryItForm())
    account = request.user.account
    form = None
    try:
        rate_limit_hit(account=account)
        refuse_oversized_body(request)
        form = TryItForm(request.POST, request.FILES)
        if not form.is_valid():
            return _form_error(request, form)
        optimization = optimize_image(
            account=account, source=form.source(), options=form.options(), already_waited=thread_wait.waited()
        )
    except SmolpixError as refused:
        answer = error_answer(refused)  # the API's code, status and facts; the page's own words
        message = _in_words(refused, answer, account=account)
        return _error(request, form or TryItForm(), answer, message, upgrade=_upgrade_helps(refused))
    body = OptimizeOutputSerializer(optimization.image).data
    if _wants_json(request):
        monthly_limit = account_limits(account=account).monthly_limit
        return JsonResponse(body, headers=quota_headers(used=optimization.quota_used, limit=monthly_limit))
    return _page(request, form, result=body, download_stem=_source_stem(form))


def _source_stem(form: TryItForm) -> str:
    """The name the result is downloaded under, before its extension: the source's, as the page's
    script names it (the uploaded file's, or the URL's last segment), else "optimized"."""
    upload = form.cleaned_data.get("file")
    name = upload.name if upload else urlsplit(form.cleaned_data["url"]).path.rsplit("/", 1)[-1]
    return re.sub(r"\.[^.]*$", "", name) or "optimized"


def _usage_headers(request: HttpRequest) -> dict[str, str]:
    usage = usage_this_month(account=request.user.account)
    return quota_headers(used=usage.used, limit=usage.limit)


def _wants_json(request: HttpRequest) -> bool:
    return request.get_preferred_type(["text/html", "application/json"]) == "application/json"


def _form_error(request: HttpRequest, form: TryItForm) -> HttpResponse:
    field, errors = next(iter(form.errors.items()))
    if field == "__all__":
        return _error(request, form, ErrorAnswer.bad_request(errors[0]), errors[0])
    label = form.fields[field].label or field.replace("_", " ").capitalize()
    answer = ErrorAnswer.bad_request(errors[0], field=API_FIELD_NAMES.get(field, field))
    return _error(request, form, answer, f"{label}: {errors[0]}")


def _error(
    request: HttpRequest, form: TryItForm, answer: ErrorAnswer, message: str, *, upgrade: bool = False
) -> HttpResponse:
    """The API's error answer with the page's `message`: as JSON for the page's script, else the page;
    with `upgrade`, a link to the pricing page goes with it."""
    if _wants_json(request):
        body = {**answer.body, "error": message, **({"upgrade": True} if upgrade else {})}
        return JsonResponse(body, status=answer.status, headers={**answer.headers, **_usage_headers(request)})
    return _page(request, form, error=message, upgrade=upgrade, status_code=answer.status)


def _upgrade_helps(error: SmolpixError) -> bool:
    """Whether to offer a bigger plan for `error`: only when the month's images are used up. The
    other LIMIT_REACHED refusals are over in seconds whatever the plan: the month's last images held
    by requests still running (given back if those fail), and the minute's rate limit."""
    return isinstance(error, QuotaExceeded)


def _in_words(error: SmolpixError, answer: ErrorAnswer, *, account: Account) -> str:
    """What the page tells a person about `error`."""
    if isinstance(error, RateLimited):
        rate = error.rate
        return (
            # Requests, not images: refused ones count too.
            f"That is {rate.used} requests this minute, refused ones included; your plan allows "
            f"{rate.limit} a minute. Try again in {rate.retry_after} seconds."
        )
    if isinstance(error, QuotaExceeded):
        if error.limit and error.used == error.limit:
            all_of = "all " if error.limit > 1 else ""  # not "all 1 image"
            used_up = f"You have used {all_of}{_images(error.limit)} of your {account.plan.name} plan this month."
        else:  # a limit lowered below the month's count, or to none
            used_up = f"Your account's limit this month is {_images(error.limit)}, and you have used {error.used:,}."
        resets = date_format(error.resets_at, "F j")
        return f"{used_up} The count starts again on {resets}; upgrade for more images now."
    if isinstance(error, QuotaHeldInFlight):
        return (
            f"This month's last images are still being optimized; any that fail are given back. "
            f"Try again in {error.retry_after} seconds."
        )
    if isinstance(error, SourceRefused):
        return error.message  # the form shows which field it is about
    if isinstance(error, OptimizationFailed):
        return "Something went wrong on our side while optimizing this image. It was not counted; please try again."
    return answer.message


def _images(count: int) -> str:
    return f"{count:,} image{pluralize(count)}"


def _page(
    request: HttpRequest,
    form: TryItForm,
    *,
    result: dict | None = None,
    error: str | None = None,
    upgrade: bool = False,
    download_stem: str = "optimized",
    status_code: int = status.HTTP_200_OK,
) -> HttpResponse:
    account = request.user.account
    context = {
        "form": form,
        "result": result,
        # What the result's `savings` (never below 0) cannot say: how much larger than the original it is.
        "grown_by": result["optimizedSize"] - result["originalSize"] if result else 0,
        "download_stem": download_stem,
        "error": error,
        "upgrade": upgrade,
        "usage": usage_this_month(account=account),
        "max_bytes": settings.OPTIMIZER_MAX_SOURCE_BYTES,
        "max_size": size_limit_in_words(settings.OPTIMIZER_MAX_SOURCE_BYTES),
    }
    return render(request, "optimizer/try_it.html", context, status=status_code)

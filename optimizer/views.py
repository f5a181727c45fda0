"""The web "try it" page: a signed-in customer optimizes one image in the browser.

It goes through the same service as the API (`optimizer.services.optimize_image`), which charges
the image to the account's monthly quota (refunded if it fails), counts against the same per-minute
rate limit as the account's API calls, and answers in the API's shapes:
with `Accept: application/json` (the page's script) the API's JSON body or error body, with the
month's usage in `X-Quota-Used`/`X-Quota-Limit`; otherwise (no JavaScript) the page again, with
the result or the error on it.
"""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.formats import date_format
from django.views.decorators.http import require_http_methods
from rest_framework import status

from accounts.models import Account
from accounts.selectors import account_limits
from api.errors import ApiError, ErrorCode
from api.metering import RATE_LIMIT_MESSAGE, UNLIMITED, rate_limit_exceeded_error
from api.optimize import OptimizeOutputSerializer, refuse_oversized_body
from optimizer.forms import TryItForm
from optimizer.services import optimize_image
from usage.ratelimit import rate_limit_hit
from usage.selectors import usage_this_month

# The form's field names as the API names them, for error bodies.
API_FIELD_NAMES = {"max_width": "maxWidth"}


@login_required
@require_http_methods(["GET", "POST"])
def try_it(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request, TryItForm())
    form = None
    try:
        account = request.user.account
        limit = account_limits(account=account).rate_limit_per_minute
        rate = rate_limit_hit(request=request, account=account, limit=limit)
        if rate is not None and rate.exceeded:
            raise rate_limit_exceeded_error(rate=rate, limit=limit)
        refuse_oversized_body(request)
        form = TryItForm(request.POST, request.FILES)
        if not form.is_valid():
            raise _form_error(form)
        result = optimize_image(account=account, source=form.source(), options=form.options())
    except ApiError as error:
        return _error(request, error, form or TryItForm())
    body = OptimizeOutputSerializer(result).data
    if _wants_json(request):
        return JsonResponse(body, headers=_usage_headers(request))
    return _page(request, form, result=body)


def _usage_headers(request: HttpRequest) -> dict[str, str]:
    usage = usage_this_month(account=request.user.account)
    return {"X-Quota-Used": str(usage.used), "X-Quota-Limit": UNLIMITED if usage.limit is None else str(usage.limit)}


def _wants_json(request: HttpRequest) -> bool:
    return request.get_preferred_type(["text/html", "application/json"]) == "application/json"


def _form_error(form: TryItForm) -> ApiError:
    field, errors = next(iter(form.errors.items()))
    if field == "__all__":
        return ApiError(errors[0])
    label = form.fields[field].label or field.replace("_", " ").capitalize()
    return ApiError(f"{label}: {errors[0]}", field=API_FIELD_NAMES.get(field, field))


def _error(request: HttpRequest, error: ApiError, form: TryItForm) -> HttpResponse:
    message = _message(error, account=request.user.account)
    if _wants_json(request):
        body = {"error": message, "code": str(error.code), **error.extra}
        return JsonResponse(body, status=error.status_code, headers={**error.headers, **_usage_headers(request)})
    return _page(request, form, error=message, error_code=str(error.code), status_code=error.status_code)


def _message(error: ApiError, *, account: Account) -> str:
    """The API's message, for a person: without the "file: " or "url: " prefix."""
    if error.message == RATE_LIMIT_MESSAGE:
        used, limit, wait = error.extra["used"], error.extra["limit"], error.headers["Retry-After"]
        return f"That is {used} images this minute, more than your plan's {limit}. Try again in {wait} seconds."
    if error.code is ErrorCode.LIMIT_REACHED:
        usage = usage_this_month(account=account)
        return (
            f"You have used all {usage.limit:,} images of your {account.plan.name} plan this month. "
            f"The count starts again on {date_format(usage.resets_at, 'F j')}; upgrade for more images now."
        )
    field = error.extra.get("field")
    if field in ("file", "url") and error.message.startswith(f"{field}: "):
        return error.message.removeprefix(f"{field}: ")
    if error.code is ErrorCode.SERVER_ERROR:
        return "Something went wrong on our side while optimizing this image. It was not counted; please try again."
    return error.message


def _page(
    request: HttpRequest,
    form: TryItForm,
    *,
    result: dict | None = None,
    error: str | None = None,
    error_code: str | None = None,
    status_code: int = status.HTTP_200_OK,
) -> HttpResponse:
    account = request.user.account
    context = {
        "form": form,
        "result": result,
        "error": error,
        "error_code": error_code,
        "usage": usage_this_month(account=account),
        "max_bytes": settings.OPTIMIZER_MAX_SOURCE_BYTES,
    }
    return render(request, "optimizer/try_it.html", context, status=status_code)

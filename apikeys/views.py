from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.decorators import verified_email_required
from accounts.selectors import account_limits
from apikeys.forms import ApiKeyCreateForm
from apikeys.models import ApiKey
from apikeys.selectors import api_key_get, api_key_list
from apikeys.services import MAX_ACTIVE_KEYS, api_key_create, api_key_revoke
from smolpix.outages import REDIS_DOWN

# How long a new key waits for the page that shows it (the redirect right after creating it).
NEW_KEY_DISPLAY_WINDOW_SECONDS = 300


@never_cache  # the page that shows a new key must not stay in the browser's cache or history
@verified_email_required
@require_http_methods(["GET", "POST"])
def key_list(request: HttpRequest) -> HttpResponse:
    """The account's keys and the form to create one. After a creation (post/redirect/get), the
    new key is shown once, on the next display of this page: each one created since it was last
    shown (two tabs, or a form sent twice without JavaScript, create two before either is shown)."""
    account = request.user.account
    form = ApiKeyCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            # If the key cannot be held for display, it is not created: nobody could ever see it.
            with transaction.atomic():
                api_key, key = api_key_create(account=account, name=form.cleaned_data["name"])
                _hold_new_key(request, api_key=api_key, key=key)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return redirect("apikeys:list")
    keys = api_key_list(account=account)
    return render(
        request,
        "apikeys/list.html",
        {
            "form": form,
            "keys": keys,
            "new_keys": _take_new_keys(request, keys) if request.method == "GET" else [],
            "max_keys": MAX_ACTIVE_KEYS,
            "can_create": len(keys) < MAX_ACTIVE_KEYS,
            "api_access": account_limits(account=account).api_access,
        },
    )


@verified_email_required
@require_http_methods(["GET", "POST"])
def key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation (no JavaScript needed); POST revokes."""
    try:
        api_key = api_key_get(account=request.user.account, pk=pk)
    except ApiKey.DoesNotExist:
        raise Http404("No such active API key.") from None
    if request.method == "POST":
        api_key_revoke(api_key=api_key)
        messages.success(request, f"Revoked “{api_key.name}” ({api_key.display_prefix}): it no longer works.")
        return redirect("apikeys:list")
    return render(request, "apikeys/revoke.html", {"api_key": api_key})


# A new key waits in the cache, under this browser session and its own id, rather than in the
# session itself: sessions are stored in the database, and the key must never be.
def _new_key_cache_key(request: HttpRequest, pk: int) -> str:
    return f"apikeys:new-key:{request.session.session_key}:{pk}"


def _hold_new_key(request: HttpRequest, *, api_key: ApiKey, key: str) -> None:
    new_key = {"pk": api_key.pk, "name": api_key.name, "key": key}
    cache.set(_new_key_cache_key(request, api_key.pk), new_key, timeout=NEW_KEY_DISPLAY_WINDOW_SECONDS)


def _take_new_keys(request: HttpRequest, keys: list[ApiKey]) -> list[dict]:
    """The keys of `keys` this session created and has not been shown, once: taking them removes
    them. With the cache out of reach there are none to show (none could have been created: see
    key_list), and the page works without them."""
    cache_keys = [_new_key_cache_key(request, api_key.pk) for api_key in keys]
    try:
        new_keys = cache.get_many(cache_keys)
        cache.delete_many(new_keys)
    except REDIS_DOWN:
        return []
    return sorted(new_keys.values(), key=lambda new_key: new_key["pk"])

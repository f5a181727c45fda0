"""How API views know who calls them: `Authorization: Bearer pk_live_…`.

Every API view under /api/v1/ declares

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiAccess]

and then finds the key in `request.auth` (with its account and plan already loaded) and the
account's owner in `request.user`. Every refusal becomes the one 401 body of `api.errors`; a valid
key on a plan without API access is a 403.
"""

from urllib.parse import unquote_plus

from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from accounts.models import User
from accounts.selectors import account_limits
from apikeys.keys import KEY_PREFIX
from apikeys.models import ApiKey
from apikeys.selectors import api_key_verify
from apikeys.services import api_key_record_use

WWW_AUTHENTICATE = 'Bearer realm="api"'  # on every 401 (api.errors)

NO_API_ACCESS_MESSAGE = "API access requires Pro plan or higher"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        # A key in a URL ends up in access logs, proxies and browser history: refuse any request
        # whose query string carries something that looks like a key, even next to a valid header,
        # so the mistake is noticed at once. (The exception message is never shown to the client.)
        if KEY_PREFIX in unquote_plus(request.META.get("QUERY_STRING", "")):
            raise exceptions.AuthenticationFailed("API key in the query string")
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        parts = header.split()
        # The scheme is case-insensitive (RFC 9110); the key is exactly one token after it.
        if len(parts) != 2 or parts[0].lower() != self.keyword.lower():
            raise exceptions.AuthenticationFailed("not a Bearer key")
        api_key = api_key_verify(key=parts[1])
        if api_key is None:
            raise exceptions.AuthenticationFailed("invalid API key")
        api_key_record_use(api_key=api_key)
        return api_key.account.owner, api_key

    def authenticate_header(self, request: Request) -> str:
        # Only its presence matters to DRF (a 401 rather than a 403): api.errors sends the header.
        return WWW_AUTHENTICATE


class HasApiAccess(permissions.BasePermission):
    """A key is required (401 without one) and its account's plan must include the API (403)."""

    message = NO_API_ACCESS_MESSAGE

    def has_permission(self, request: Request, view) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return False  # DRF answers NotAuthenticated (401), since no authenticator succeeded
        return account_limits(account=api_key.account).api_access

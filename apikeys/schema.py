"""How the OpenAPI schema describes API key authentication: `Authorization: Bearer pk_live_…`.

drf-spectacular finds this extension by its target class once the module is imported (apps.py).
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apikeys.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "pk_live_…",
            "description": "An API key from your dashboard, sent as `Authorization: Bearer pk_live_…`. "
            "Never put a key in a URL: such requests are refused.",
        }

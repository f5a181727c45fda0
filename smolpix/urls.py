from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.decorators import verified_email_required
from optimizer import views as optimizer_views
from smolpix import views

urlpatterns = [
    path("", views.landing, name="landing"),
    path("pricing/", views.pricing, name="pricing"),
    path("docs/", views.docs, name="docs"),
    path("status/", views.status, name="status"),
    path("favicon.ico", views.favicon),
    path(f"downloads/{views.CLIENT_SDIST_NAME}", views.client_sdist, name="client-sdist"),
    re_path(r"^downloads/smolpix_client-[0-9][0-9a-z.+-]*\.tar\.gz$", views.client_sdist_earlier),
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
    path("dashboard/keys/", include("apikeys.urls")),
    # Try-it sends customers' images through the pipeline: only from a verified address.
    path("dashboard/try/", verified_email_required(optimizer_views.try_it), name="try-it"),
    path("billing/", include("billing.urls")),
    path("api/v1/", include("api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The viewer's script is a separate file (not inline), and its assets are our own static files.
    path(
        "api/explorer/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", template_name="pages/api_explorer.html", title="API explorer — Smolpix"
        ),
        name="api-explorer",
    ),
    # Any other path under /api/ (another version, the API's base URL without its slash), matched here
    # rather than left to handler404, which Django skips under DEBUG; not the two pages above without
    # their slash, which CommonMiddleware redirects (a POST to add one is an error under DEBUG).
    re_path(r"^api/(?!(?:schema|explorer)$)", views.api_not_found),
]

admin.site.site_header = admin.site.site_title = "Smolpix administration"

# Branded pages (JSON on the API): the client errors Django answers itself; an unexpected error
# the 500 page; an outage of PostgreSQL or Redis a 503.
handler400 = "smolpix.views.bad_request"
handler403 = "smolpix.views.permission_denied"
handler404 = "smolpix.views.page_not_found"
handler500 = "smolpix.views.server_error"

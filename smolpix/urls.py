from django.contrib import admin
from django.urls import include, path

from accounts.api import UsageApi
from optimizer.api import OptimizeApi
from smolpix import views

urlpatterns = [
    path("", views.landing, name="landing"),
    path("pricing/", views.pricing, name="pricing"),
    path("docs/", views.docs, name="docs"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
    path("dashboard/keys/", include("apikeys.urls")),
    path("billing/", include("billing.urls")),
    path("api/v1/usage", UsageApi.as_view(), name="api-usage"),
    path("api/v1/optimize", OptimizeApi.as_view(), name="api-optimize"),
]

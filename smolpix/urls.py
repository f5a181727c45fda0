from django.contrib import admin
from django.urls import include, path

from smolpix import views

urlpatterns = [
    path("", views.landing, name="landing"),
    path("pricing/", views.pricing, name="pricing"),
    path("docs/", views.docs, name="docs"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
    path("billing/", include("billing.urls")),
]

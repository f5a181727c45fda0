from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("", views.overview, name="home"),
    path("checkout/<slug:plan_code>/", views.checkout, name="checkout"),
    path("success/", views.checkout_success, name="success"),
    path("cancel/", views.checkout_cancel, name="cancel"),
    path("portal/", views.portal, name="portal"),
    path("webhook/", views.webhook, name="webhook"),
]

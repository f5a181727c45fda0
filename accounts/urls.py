from django.contrib.auth.views import LoginView
from django.urls import include, path

from accounts import views
from accounts.forms import SignInForm
from accounts.signin import remembering_device

urlpatterns = [
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/signup/done/", views.signup_done, name="signup_done"),
    path("accounts/verify/", views.verify_email_needed, name="verify_email_needed"),
    path("accounts/verify/<str:token>/", views.verify_email, name="verify_email"),
    # Before Django's own views of the same names (its sign-in is throttled by django-axes).
    path("accounts/password_reset/", views.password_reset, name="password_reset"),
    path("accounts/reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path(
        "accounts/login/",
        # A signed-in visitor goes on (to `next`, else the dashboard), as sign-up sends them on.
        remembering_device(LoginView.as_view(authentication_form=SignInForm, redirect_authenticated_user=True)),
        name="login",
    ),
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),
    path("accounts/password_change/", views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/delete/", views.delete_account, name="account_delete"),
    path("accounts/delete/done/", views.account_deleted, name="account_deleted"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("dashboard/", views.dashboard, name="dashboard"),
]

from django import forms
from django.contrib.auth.forms import AuthenticationForm, SetPasswordMixin
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.http import HttpRequest
from django_otp import user_has_device
from django_otp.admin import OTPAdminAuthenticationForm

from accounts.models import User


class SignUpForm(SetPasswordMixin, forms.Form):
    """An address and a password, checked as Django checks new passwords. Deliberately not a
    ModelForm: it never says whether the address has an account (accounts.services.account_sign_up)."""

    email = forms.EmailField(label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password1, password2 = SetPasswordMixin.create_password_fields()

    def clean_email(self) -> str:
        return User.objects.normalize_email(self.cleaned_data["email"])

    def clean(self) -> dict:
        self.validate_passwords()
        # Errors go under the Password field, whose help lists the rules (Django's default is under
        # the confirmation): the second argument is the field's name.
        self.validate_password_for_user(User(email=self.cleaned_data.get("email", "")), "password1")
        return super().clean()


class UsernameWithinItsLength(AuthenticationForm):
    """Django's sign-in form gives its username field a maximum length as an HTML attribute only: a
    longer name reached authenticate(), and django-axes then stored the failure in a column of 255
    characters (a 500 on PostgreSQL). It is refused as too long instead, before any sign-in."""

    def __init__(self, request: HttpRequest | None = None, *args, **kwargs) -> None:
        super().__init__(request, *args, **kwargs)
        username = self.fields["username"]
        username.validators.append(MaxLengthValidator(username.max_length))


class SignInForm(UsernameWithinItsLength):
    """Django's sign-in form, saying what is true of ours: the address is read in any case."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Please enter a correct email and password. The password is case-sensitive.",
    }

    def __init__(self, request: HttpRequest | None = None, *args, **kwargs) -> None:
        super().__init__(request, *args, **kwargs)
        # Django's is a text input: phones then show no e-mail keyboard, as sign-up's field does.
        self.fields["username"].widget.input_type = "email"


NO_SECOND_FACTOR = (
    "{email} has no second factor yet, and the admin asks staff for one. An operator gives you one "
    "with: python manage.py secondfactor {email} (it prints the key for your authenticator app and "
    "your backup codes). Then sign in here with your password and a code."
)


class AdminSignInForm(UsernameWithinItsLength, OTPAdminAuthenticationForm):
    """The admin's sign-in (django-otp's): the address and the password, then one of the staff
    member's devices (authenticator app, backup codes) and its code. It tells staff who have no
    device what is missing, once their password is right only: whether an address is staff is
    not for whoever types it. Staff signed in to the site (by password, without a code) find their
    address filled in and their devices offered at once, and are told why they are asked again."""

    def __init__(self, request: HttpRequest | None = None, *args, **kwargs) -> None:
        super().__init__(request, *args, **kwargs)
        user = getattr(request, "user", None)
        self.signed_in_notice = ""  # what staff signed in to the site without a code are told
        if user is None or not (user.is_active and user.is_staff):
            return
        self.fields["username"].initial = user.get_username()
        self.fields["username"].widget.attrs.pop("autofocus", None)
        self.fields["password"].widget.attrs["autofocus"] = True  # what they type next
        if not user_has_device(user):
            self.signed_in_notice = NO_SECOND_FACTOR.format(email=user.email)
            return
        self.fields["otp_device"].widget.choices = self.device_choices(user)
        self.signed_in_notice = (
            f"You are signed in as {user.email}, but the admin also needs your second factor: type "
            "your password again, choose your authenticator app or your backup codes, and type a code."
        )

    def clean_otp(self, user: User | None) -> None:
        # Called once the password is right and the user is active staff (AdminAuthenticationForm).
        if user is not None and not user_has_device(user):
            raise ValidationError(NO_SECOND_FACTOR.format(email=user.email), code="no_second_factor")
        super().clean_otp(user)

    @property
    def devices_offered(self) -> bool:
        return len(self.fields["otp_device"].widget.choices) > 1  # more than the blank choice


class AccountDeleteForm(forms.Form):
    """The current password (a session alone deletes nothing: it may be a stolen one, or a computer
    left signed in) and a confirmation that the customer knows it cannot be undone."""

    password = forms.CharField(
        label="Your current password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )
    confirm = forms.BooleanField(
        label="I understand that my account, its API keys and its usage records are deleted for good",
        error_messages={"required": "Tick this box to confirm that you want your account deleted."},
    )

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise ValidationError(
                "Your password was entered incorrectly. Please enter it again.", code="password_incorrect"
            )
        return password

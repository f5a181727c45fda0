from django import forms
from django.contrib.auth.forms import AuthenticationForm, SetPasswordMixin

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


class SignInForm(AuthenticationForm):
    """Django's sign-in form, saying what is true of ours: the address is read in any case."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Please enter a correct email and password. The password is case-sensitive.",
    }
